"""The LA command-line puller: incremental CSV, remembered cursor, progress, resume without gaps."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from incidents.la_cli import Progress, Puller, PullError
from tests.incidents.conftest import report


class Network(httpx.AsyncBaseTransport):
    """The gateway as the puller sees it: a token endpoint, the export, and a cable that can be cut."""

    def __init__(self, app, token: str, *, cut_at: int | None = None) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.token = token
        self.cut_at = cut_at
        self.exports = 0
        self.token_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_requests += 1
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(
                200, json={"access_token": self.token, "token_type": "Bearer", "expires_in": 600}
            )
        self.exports += 1
        if self.cut_at is not None and self.exports == self.cut_at:
            raise httpx.ConnectError("the network went away")
        return await self.inner.handle_async_request(request)


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


async def test_pull_resumes_after_an_interruption_without_gaps_or_repeats(
    app, client, school, incident_body, tmp_path: Path
) -> None:
    ids = [(await report(client, school, incident_body()))["id"] for _ in range(11)]
    token = school.headers("la")["Authorization"].removeprefix("Bearer ")
    out = tmp_path / "la.csv"

    cut = Network(app, token, cut_at=3)
    puller = Puller(
        base_url="http://gw",
        out=out,
        client_id="la",
        client_secret="s",
        page_size=4,
        transport=cut,
        retries=0,
    )
    with pytest.raises(httpx.ConnectError):
        await puller.run()
    assert [r["id"] for r in rows_of(out)] == ids[:8]
    assert cut.token_requests == 1
    # A crash in the middle of writing a page leaves half a row behind.
    with out.open("ab") as handle:
        handle.write(b"deadbeef,ESI-2026-00")

    lead = school.headers("safeguarding_lead")
    changed = await client.patch(
        f"/v1/incidents/{ids[0]}", json={"status": "closed"}, headers={**lead, "If-Match": f'"{ids[0]}.1"'}
    )
    assert changed.status_code == 200
    shown = io.StringIO()
    resumed = Puller(
        base_url="http://gw",
        out=out,
        client_id="la",
        client_secret="s",
        page_size=4,
        transport=Network(app, token),
        progress=Progress(shown),
    )
    assert await resumed.run() == 4
    rows = rows_of(out)
    assert [r["id"] for r in rows] == [*ids, ids[0]]
    assert rows[-1]["status"] == "closed"
    assert "deadbeef" not in out.read_text()
    assert "4/4 rows" in shown.getvalue()

    # Nothing new: the next run adds nothing and keeps the file as it is.
    before = out.read_bytes()
    again = Puller(
        base_url="http://gw", out=out, client_id="la", client_secret="s", transport=Network(app, token)
    )
    assert await again.run() == 0
    assert out.read_bytes() == before


async def test_a_state_file_that_does_not_match_the_csv_is_refused(app, school, tmp_path: Path) -> None:
    out = tmp_path / "la.csv"
    (tmp_path / "la.csv.state.json").write_text('{"cursor": "eyJzZXEiOjV9", "offset": 500, "rows": 5}')
    out.write_text("id\r\n")
    token = school.headers("la")["Authorization"].removeprefix("Bearer ")
    puller = Puller(base_url="http://gw", out=out, token=token, transport=Network(app, token))
    with pytest.raises(PullError, match="shorter"):
        await puller.run()


async def test_refused_credentials_stop_the_pull(app, school, tmp_path: Path) -> None:
    out = tmp_path / "la.csv"
    teacher = school.headers("teacher")["Authorization"].removeprefix("Bearer ")
    puller = Puller(base_url="http://gw", out=out, token=teacher, transport=Network(app, teacher))
    with pytest.raises(PullError, match="403"):
        await puller.run()
    with pytest.raises(PullError):
        Puller(base_url="http://gw", out=out)
