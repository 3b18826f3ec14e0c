"""Identity's own pages (sign-in, two-factor step, sign-out): Jinja2 templates and a stylesheet.

Rendered with `servicekit.pages` (autoescape, strict CSP, no asset from outside): the stylesheet
is served by identity at /oauth/assets/, through the gateway like every other path of /oauth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse

from servicekit.pages import Pages

HERE = Path(__file__).resolve().parent
ASSET_BASE = "/oauth/assets"
PAGES = Pages(HERE / "templates", globals_={"asset_base": ASSET_BASE})


def message(
    title: str,
    *paragraphs: str,
    status_code: int = 200,
    school_name: str | None = None,
    link: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page that only tells the reader something (an error that must not redirect, a sign-out)."""
    context: dict[str, Any] = {
        "title": title,
        "paragraphs": list(paragraphs),
        "school_name": school_name,
        "link": link,
    }
    return PAGES.render("message.html", status_code=status_code, **context)
