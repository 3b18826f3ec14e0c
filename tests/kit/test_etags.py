"""servicekit's ETags: the format, the If-Match parser, the 428/412 problems, required or optional."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI, Response

from servicekit.errors import install_error_handlers
from servicekit.etags import IfMatch, IfMatchOptional, IfMatchRequired, StaleETag, etag, set_etag

RECORD = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_the_format_is_the_version_or_the_record_and_version() -> None:
    assert etag(3) == '"3"'
    assert etag(3, record_id=RECORD) == f'"{RECORD}.3"'


@pytest.mark.parametrize("header", ['"2"', 'W/"2"', ' "1", "2" ', '"1",W/"2"', "*"])
def test_a_tag_in_the_list_weak_or_star_matches(header: str) -> None:
    IfMatch(header, required=True).check(2)


@pytest.mark.parametrize("header", ['"1"', "2", '"x"', "", f'"{RECORD}.2"'])
def test_another_tag_is_412_with_the_current_etag(header: str) -> None:
    with pytest.raises(StaleETag) as caught:
        IfMatch(header, required=False).check(2)
    assert caught.value.status == 412 and caught.value.slug == "stale-etag"
    assert caught.value.headers == {"ETag": '"2"'}


def test_a_record_tag_matches_only_its_record() -> None:
    IfMatch(f'"{RECORD}.2"', required=True).check(2, record_id=RECORD)
    with pytest.raises(StaleETag):
        IfMatch('"2"', required=True).check(2, record_id=RECORD)


def test_no_record_yet_matches_no_tag_not_even_star() -> None:
    IfMatch(None, required=False).check(None)
    for header in ("*", '"1"'):
        with pytest.raises(StaleETag):
            IfMatch(header, required=False).check(None)


async def test_required_or_optional_is_the_routes_choice() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.patch("/required")
    async def change_required(response: Response, if_match: IfMatchRequired) -> dict[str, bool]:
        if_match.check(1)
        set_etag(response, 2)
        return {"sent": if_match.sent}

    @app.patch("/optional")
    async def change_optional(if_match: IfMatchOptional) -> dict[str, bool]:
        if_match.check(1)
        return {"sent": if_match.sent}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        missing = await client.patch("/required")
        assert missing.status_code == 428 and missing.json()["type"].endswith(":if-match-required")
        ok = await client.patch("/required", headers={"If-Match": '"1"'})
        assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
        stale = await client.patch("/optional", headers={"If-Match": '"0"'})
        assert stale.status_code == 412 and stale.json()["type"].endswith(":stale-etag")
        assert stale.headers["ETag"] == '"1"'
        assert (await client.patch("/optional")).json() == {"sent": False}
        assert (await client.patch("/optional", headers={"If-Match": "x" * 201})).status_code == 422
    # Both publish the header as optional: a missing one is 428 from the route, never a 422.
    for path in ("/required", "/optional"):
        [parameter] = app.openapi()["paths"][path]["patch"]["parameters"]
        assert parameter["name"] == "If-Match" and parameter["in"] == "header" and not parameter["required"]
