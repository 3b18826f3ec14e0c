"""The public keys (JWKS) and the authorization server's metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from identity.roles import SCOPES
from identity.security.state import SecurityDep

router = APIRouter(prefix="/.well-known", tags=["tokens"])

GRANT_TYPES = ["client_credentials", "password", "refresh_token"]


@router.get("/jwks.json")
async def read_jwks(sec: SecurityDep, response: Response) -> dict[str, Any]:
    """The public keys that verify identity's tokens (retired keys stay until their tokens expire)."""
    # Short caching: verifiers refresh on an unknown kid anyway.
    response.headers["Cache-Control"] = "public, max-age=60"
    return {"keys": sec.keys.jwks()}


@router.get("/oauth-authorization-server")
async def read_server_metadata(sec: SecurityDep) -> dict[str, Any]:
    """Where to get and revoke tokens, and what this server supports (RFC 8414)."""
    base = sec.settings.public_base_url  # where clients reach these endpoints: the gateway
    return {
        # Exactly the tokens' `iss`, so a verifier can compare the two.
        "issuer": sec.settings.issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": [],
        "scopes_supported": sorted(SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }
