"""The pages' own assets (/oauth/assets/...), served by identity so no page loads anything from outside."""

from __future__ import annotations

from fastapi import APIRouter, Response

from identity.pages import HERE
from servicekit.errors import NotFound
from servicekit.pages import asset_response

router = APIRouter(prefix="/oauth/assets", tags=["sign-in pages"], include_in_schema=False)

ASSETS = {"identity.css": "text/css; charset=utf-8"}


@router.get("/{name}", response_class=Response)
async def read_asset(name: str) -> Response:
    """The sign-in pages' stylesheet."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such asset.", slug="asset-not-found")
    return asset_response(HERE / "static" / name, media_type)
