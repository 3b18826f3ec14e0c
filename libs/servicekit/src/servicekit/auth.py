"""Token verification for every service and the gateway, and the per-route scope checks.

`TokenVerifier` checks an access token against identity's published keys (JWKS, fetched once and
refreshed when a token names an unknown kid, at most a few times a minute), caches verified tokens
until they expire, and honours a per-account "not before". `AuthMiddleware` verifies the bearer
token of every request once; routes declare what they need with `Scoped("scope", ...)`, which
also documents the scopes in the OpenAPI, and take the caller's school as `CallerSchool`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.clock import Clock, SystemClock
from servicekit.errors import Forbidden, InsufficientScope, Unauthorized
from servicekit.jwt import (
    ACCESS_TOKEN_TYPE,
    TokenRejected,
    VerificationKey,
    check_header,
    unverified_header,
    verify_claims,
)

log = logging.getLogger("servicekit.auth")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person's account or an outside system's OAuth client."""

    subject: str
    scopes: frozenset[str]
    token_id: str
    issued_at: datetime
    expires_at: datetime
    school_id: uuid.UUID | None = None
    la_code: str | None = None
    roles: frozenset[str] = frozenset()
    client_id: str | None = None
    person_id: uuid.UUID | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_client(self) -> bool:
        return self.client_id is not None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def actor(self) -> str:
        """How audit entries name this caller."""
        return f"client:{self.client_id}" if self.client_id else f"user:{self.subject}"

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        def _uuid(name: str) -> uuid.UUID | None:
            value = claims.get(name)
            try:
                return uuid.UUID(str(value)) if value else None
            except ValueError as exc:
                raise TokenRejected(f"bad {name}") from exc

        scope = claims.get("scope", "")
        roles = claims.get("roles", [])
        if not isinstance(scope, str) or not isinstance(roles, list):
            raise TokenRejected("bad scope or roles claim")
        return cls(
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()),
            token_id=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
            school_id=_uuid("school_id"),
            la_code=str(claims["la_code"]) if claims.get("la_code") else None,
            roles=frozenset(str(r) for r in roles),
            client_id=str(claims["client_id"]) if claims.get("client_id") else None,
            person_id=_uuid("person_id"),
            claims=claims,
        )


class KeySource(Protocol):
    """Where verification keys come from: identity's JWKS, or identity's own key store."""

    async def get(self, kid: str) -> VerificationKey | None: ...


class StaticKeySource:
    """Keys handed over directly (identity verifying its own tokens; tests)."""

    def __init__(self, jwks: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._jwks = jwks
        self._parsed: dict[tuple[str, str, str], VerificationKey] = {}

    async def get(self, kid: str) -> VerificationKey | None:
        for data in self._jwks():
            if data.get("kid") == kid:
                cache_key = (kid, str(data.get("x")), str(data.get("y")))  # the EC public point
                if cache_key not in self._parsed:
                    self._parsed[cache_key] = VerificationKey(data)
                return self._parsed[cache_key]
        return None


class JWKSKeySource:
    """Identity's published keys, fetched over HTTP, cached, refreshed on an unknown kid.

    Refreshes are rate-limited by a small token bucket (a burst of 3, then one per 10 s), so a
    flood of tokens with made-up kids cannot turn into a flood of requests to identity.
    """

    BURST = 3.0
    REFILL_SECONDS = 10.0

    def __init__(self, url: str, *, clock: Clock | None = None, timeout: float = 3.0) -> None:
        self.url = url
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._keys: dict[str, VerificationKey] = {}
        self._tokens = self.BURST
        self._last_refill = self._clock.now()
        self._lock = asyncio.Lock()

    def _may_refresh(self) -> bool:
        now = self._clock.now()
        elapsed = (now - self._last_refill).total_seconds()
        self._tokens = min(self.BURST, self._tokens + elapsed / self.REFILL_SECONDS)
        self._last_refill = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def refresh(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.get(self.url)
            response.raise_for_status()
            keys = {}
            for data in response.json().get("keys", []):
                try:
                    key = VerificationKey(data)
                except (TokenRejected, KeyError):
                    continue
                keys[key.kid] = key
            self._keys = keys

    async def get(self, kid: str) -> VerificationKey | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and self._may_refresh():
                try:
                    await self.refresh()
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("JWKS refresh failed: %s", type(exc).__name__)
                key = self._keys.get(kid)
        return key


NotBefore = Callable[[str], datetime | None]


class TokenVerifier:
    """Verifies access tokens; a verified token is cached until it expires."""

    MAX_CACHE = 10_000

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        clock: Clock | None = None,
        not_before: NotBefore | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.clock = clock or SystemClock()
        self.not_before = not_before
        self._cache: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        now = self.clock.now()
        principal = self._cache.get(token)
        if principal is None:
            principal = await self._verify_uncached(token, now)
            if len(self._cache) >= self.MAX_CACHE:
                self._evict(now)
            self._cache[token] = principal
        elif principal.expires_at.timestamp() + 30 < now.timestamp():
            self._cache.pop(token, None)
            raise TokenRejected("expired")
        self._check_not_before(principal)
        return principal

    async def _verify_uncached(self, token: str, now: datetime) -> Principal:
        if token.count(".") != 2 or len(token) > 8192:
            raise TokenRejected("malformed token")
        kid = check_header(unverified_header(token), typ=ACCESS_TOKEN_TYPE)
        key = await self.keys.get(kid)
        if key is None:
            raise TokenRejected("unknown kid")
        claims = verify_claims(token, key, issuer=self.issuer, audience=self.audience, now=now)
        return Principal.from_claims(claims)

    def _check_not_before(self, principal: Principal) -> None:
        if self.not_before is None:
            return
        cutoff = self.not_before(principal.subject)
        if cutoff is not None and principal.issued_at < cutoff:
            raise TokenRejected("issued before the account's not-before")

    def _evict(self, now: datetime) -> None:
        expired = [t for t, p in self._cache.items() if p.expires_at < now]
        for token in expired:
            del self._cache[token]
        while len(self._cache) >= self.MAX_CACHE:
            del self._cache[next(iter(self._cache))]


class AuthMiddleware:
    """Verifies the bearer token of each request once; routes then ask for scopes.

    It never refuses a request itself (public routes need no token): it leaves the principal, or
    the reason the token was refused, in the request state for `Scoped(...)`.
    """

    def __init__(self, app: ASGIApp, verifier: Callable[[], TokenVerifier]) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            token = bearer_token(scope)
            if token is not None:
                try:
                    state["principal"] = await self.verifier().verify(token)
                except TokenRejected as exc:
                    log.info("token refused: %s", exc.reason)
                    state["auth_error"] = exc.reason
        await self.app(scope, receive, send)


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of a request, '' for another scheme or a malformed header, None if absent."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


# Declares the platform's OAuth2 flows in every service's OpenAPI; routes' scopes hang off it.
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes={}),
        password=OAuthFlowPassword(tokenUrl="/oauth/token", scopes={}),
    ),
    scheme_name="oauth2",
    auto_error=False,
)


async def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    _token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized()
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise InsufficientScope(security_scopes.scopes)
    return principal


def Scoped(*scopes: str) -> Any:  # noqa: N802 - reads as a type annotation
    """`principal: Annotated[Principal, Scoped("people:read")]`: a valid token with these scopes."""
    return Security(authorize, scopes=list(scopes))


async def _any_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_any_principal)]


class NoSchoolBound(Forbidden):
    """A valid token bound to no school (a platform administrator, an LA) asking for a school's records."""

    slug = "no-school"

    def __init__(self) -> None:
        super().__init__("This needs a token bound to one school.")


def caller_school(principal: Principal) -> uuid.UUID:
    """The school the caller's token is bound to; a token bound to none is refused (403 `no-school`).

    Routes take `CallerSchool`; call this only where a dependency cannot be (the consent check's hot
    path, where each dependency costs a measurable part of the request).
    """
    if principal.school_id is None:
        raise NoSchoolBound()
    return principal.school_id


async def _caller_school(request: Request) -> uuid.UUID:
    # The principal read from the request state, not through CurrentPrincipal: one dependency less.
    return caller_school(await _any_principal(request))


# `school_id: CallerSchool`, declared after the route's `Scoped(...)` principal, so a token without
# the scope is told that first.
CallerSchool = Annotated[uuid.UUID, Depends(_caller_school)]
