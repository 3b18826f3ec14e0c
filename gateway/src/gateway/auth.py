"""Which paths are public, and the token check every other request passes before it is forwarded.

Tokens are verified by servicekit's `TokenVerifier` against identity's JWKS (`JWKSKeySource`:
fetched once, refreshed when a token names an unknown kid, so a key rotation needs no restart).
Verified tokens are cached until they expire, so the signature is checked once per token.
The gateway keeps no account table, so it has no per-account "not before": the services check
that from their replica.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import Scope

from servicekit.auth import Principal, TokenVerifier, bearer_token
from servicekit.jwt import TokenRejected

log = logging.getLogger("gateway.auth")


class PublicPaths:
    """Exact paths, and prefixes written with a trailing '*'."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.exact: frozenset[str] = frozenset(p for p in patterns if not p.endswith("*"))
        self.prefixes: tuple[str, ...] = tuple(p[:-1] for p in patterns if p.endswith("*"))

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self.exact or (bool(self.prefixes) and path.startswith(self.prefixes))


class Authenticator:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def principal(self, scope: Scope) -> Principal | None:
        """The caller of a request with a valid bearer token; None for any other request."""
        token = bearer_token(scope)
        if not token:
            return None
        try:
            return await self.verifier.verify(token)
        except TokenRejected as exc:
            log.info("token refused: %s", exc.reason)
            return None
