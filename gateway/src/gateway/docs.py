"""The gateway's API docs: Swagger UI on the merged OpenAPI document, served from the gateway itself.

SECURITY.md: no asset from a CDN, no request outside the platform, no inline script. So the page
is our own few lines of HTML (FastAPI's `get_swagger_ui_html` writes its initialiser inline and
points at cdn.jsdelivr.net), Swagger UI's files come from npm (`swagger-ui-dist`, pinned in
gateway/package-lock.json, copied into static/swagger-ui by `python3 manage.py`), the initialiser
is static/docs.js, and the page's Content-Security-Policy allows the gateway's own origin only
(servicekit.pages, `scripts=True`).

The images do not carry Swagger UI (docs are off in production): a gateway asked to serve docs
without the files refuses to start and says so, rather than answering a blank page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from servicekit.pages import asset_response, page_headers

STATIC = Path(__file__).parent / "static"
SWAGGER_UI = STATIC / "swagger-ui"
ASSETS_PATH = "/docs/assets"
TITLE = "E-safety platform API"
# Every file the docs pages load: its address under /docs/assets/, the file and its media type.
ASSETS = {
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "favicon-32x32.png": (SWAGGER_UI / "favicon-32x32.png", "image/png"),
    "oauth2-redirect.js": (SWAGGER_UI / "oauth2-redirect.js", "text/javascript; charset=utf-8"),
    "docs.js": (STATIC / "docs.js", "text/javascript; charset=utf-8"),
}

DOCS_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui"></main>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/docs.js"></script>
</body>
</html>
"""

# Where an OAuth2 sign-in started from /docs comes back to (Swagger UI's own redirect script).
REDIRECT_HTML = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{TITLE}: signing in</title></head>
<body><script src="{ASSETS_PATH}/oauth2-redirect.js"></script></body>
</html>
"""


def missing_assets() -> list[str]:
    """The files of ASSETS that are not there (Swagger UI not installed)."""
    return sorted(name for name, (path, _media) in ASSETS.items() if not path.is_file())


def docs_routes() -> list[Route]:
    """/docs, its OAuth2 redirect and its assets: one exact route per file (the proxy answers its
    own routes by exact path, so no other file of the folder is ever reachable)."""
    headers = page_headers(scripts=True)

    async def docs(_request: Request) -> HTMLResponse:
        """Swagger UI for the merged document."""
        return HTMLResponse(DOCS_HTML, headers=headers)

    async def oauth2_redirect(_request: Request) -> HTMLResponse:
        return HTMLResponse(REDIRECT_HTML, headers=headers)

    def asset(path: Path, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(_request: Request) -> Response:
            return asset_response(path, media_type)

        return serve

    return [
        Route("/docs", docs),
        Route("/docs/oauth2-redirect", oauth2_redirect),
        *(Route(f"{ASSETS_PATH}/{name}", asset(path, media)) for name, (path, media) in ASSETS.items()),
    ]
