"""The gateway's access log: by default only problems (refusals, errors, slow requests) are logged,
since every service logs its own requests; `GATEWAY_ACCESS_LOG=all` logs every request, `off` none."""

from __future__ import annotations

import logging

import pytest

from servicekit.testing import TokenFactory

pytestmark = pytest.mark.processes


def access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [
        (r.fields["path"], r.fields["status"])  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "gateway.access"
    ]


async def test_by_default_only_problems_are_logged(
    in_process, tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with in_process() as (_app, c):
        assert (await c.get("/v1/incidents/ok", headers=tokens.headers())).status_code == 200
        assert (await c.get("/v1/incidents/no-token")).status_code == 401
        assert (await c.get("/v1/nowhere", headers=tokens.headers())).status_code == 404
    assert access_lines(caplog) == [("/v1/incidents/no-token", 401), ("/v1/nowhere", 404)]


async def test_every_request_is_logged_when_asked(
    in_process, tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with in_process(access_log="all") as (_app, c):
        assert (await c.get("/v1/incidents/ok", headers=tokens.headers())).status_code == 200
        assert (await c.get("/v1/incidents/no-token")).status_code == 401
    assert access_lines(caplog) == [("/v1/incidents/ok", 200), ("/v1/incidents/no-token", 401)]


async def test_slow_requests_are_problems_and_off_logs_nothing(
    in_process, tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with in_process(access_log_slow_ms=0) as (_app, c):  # every request counts as slow
        assert (await c.get("/v1/incidents/ok", headers=tokens.headers())).status_code == 200
    assert access_lines(caplog) == [("/v1/incidents/ok", 200)]
    caplog.clear()
    async with in_process(access_log="off") as (_app, c):
        assert (await c.get("/v1/incidents/no-token")).status_code == 401
    assert access_lines(caplog) == []
