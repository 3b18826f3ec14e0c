"""The pages' own assets (/oauth/assets/...), served by identity so no page loads anything from outside."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from identity.pages import HERE, message
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


signin_router = APIRouter(prefix="/oauth", tags=["sign-in pages"], include_in_schema=False)


@signin_router.get("/signin", response_class=HTMLResponse)
async def signin_without_request() -> HTMLResponse:
    """Someone opened the sign-in page directly: sign-in starts from the service they want to use."""
    return message(
        "Sign in from the service you want to use",
        "This page is where your school's services send you to sign in.",
        "Open the service you want to use (for example your school's console or learning platform) "
        "and choose Sign in there.",
        status_code=400,
    )
