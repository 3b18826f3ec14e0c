"""Absolute URLs in responses: on the gateway's public base URL, never on the service's own address.

Clients reach the platform through the gateway only (CONTRACT.md), and the gateway forwards paths
unchanged, so a URL for a client is the public base URL (`PLATFORM_PUBLIC_BASE_URL`) followed by
the path the service serves. The request's own URL names the service (`http://incidents:8002`
in compose): that address is internal, and a client following it would go round the gateway.
"""

from __future__ import annotations

from fastapi import Request


def public_url(request: Request, path: str, query: str = "") -> str:
    """`path` (and `query`, already encoded) as a client reaches it, through the gateway."""
    base: str = request.app.state.settings.public_base_url
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def public_link(base_url: str, path: str) -> str:
    """`path` on the public base URL (`settings.public_base_url`), where there is no request: a link
    in an e-mail (servicekit.alerts), which must lead to the gateway like any other."""
    return f"{base_url.rstrip('/')}{path}"
