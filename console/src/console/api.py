"""Every call the console makes: through the gateway, with the signed-in person's own token.

The console enforces no rule of its own: what the API answers (a 403, a 404, a 422 with its
fields) is what the person sees. Each call's time is kept on the request, so the page can report
its server time against the API time it spent waiting (the `Server-Timing` header; bench/console_pages.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from console.auth import SignIn
    from console.sessions import Session, SessionStore


class SignedOut(Exception):
    """The person's tokens no longer work: the session is over and they sign in again."""


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or "")
        return ""

    def field_errors(self) -> dict[str, str]:
        """A 422's errors by form field: `body.summary` → `summary`; `people.0.person_id` → `people`."""
        errors: dict[str, str] = {}
        if not isinstance(self.body, dict):
            return errors
        for item in self.body.get("errors") or []:
            parts = [p for p in str(item.get("field", "")).split(".") if p not in ("body", "query", "path")]
            name = parts[0] if parts else "form"
            errors.setdefault(name, _plain(str(item.get("message", "")), name))
        return errors


def _plain(message: str, name: str) -> str:
    """Pydantic's message, without its 'Value error, ' prefix, as a sentence."""
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] if message else f"Check {name.replace('_', ' ')}"


def new_idempotency_key() -> str:
    """Made when a form is rendered and sent back with it: a double submit creates one record."""
    return str(uuid.uuid4())


def form_idempotency_key(form: Mapping[str, Any]) -> str:
    """The key a re-rendered form keeps (after a refusal or a search), else a new one."""
    return str(form.get("idempotency_key") or new_idempotency_key())


class Api:
    def __init__(
        self,
        http: httpx.AsyncClient,
        session: Session,
        sign_in: SignIn,
        timings: list[float],
        store: SessionStore,
    ) -> None:
        self.http = http
        self.session = session
        self.sign_in = sign_in
        self.timings = timings
        self.store = store

    async def fresh_tokens(self, *, rejected: str | None = None) -> None:
        """Refresh the person's tokens when due (or when the API refused `rejected`), one request at a
        time per session, whichever console it reached. A refresh token is single-use (identity
        revokes the whole sign-in when one is used twice), so a request that waited for another's
        refresh takes the tokens it stored instead of refreshing again."""
        if rejected is None and not self.sign_in.stale(self.session):
            return
        async with self.store.refreshing(self.session):
            if rejected is not None and self.session.access_token != rejected:
                return  # refreshed by another request meanwhile
            if rejected is None and not self.sign_in.stale(self.session):
                return
            await self.sign_in.refresh(self.http, self.session)  # kept by the store as the lock ends

    async def get(self, path: str, **params: Any) -> ApiResponse:
        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        return await self.request("GET", path, params=clean)

    async def post(
        self, path: str, body: Any, *, idempotency_key: str | None = None, if_match: str | None = None
    ) -> ApiResponse:
        return await self.request("POST", path, json=body, idempotency_key=idempotency_key, if_match=if_match)

    async def patch(self, path: str, body: Any, *, if_match: str | None) -> ApiResponse:
        return await self.request("PATCH", path, json=body, if_match=if_match)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> ApiResponse:
        await self.fresh_tokens()
        for attempt in (1, 2):
            token = self.session.access_token
            headers = {"Authorization": f"Bearer {token}"}
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            if if_match:
                headers["If-Match"] = if_match
            if content_type:
                headers["Content-Type"] = content_type
            started = time.perf_counter()
            response = await self.http.request(
                method, path, params=params, json=json, content=content, headers=headers
            )
            self.timings.append(time.perf_counter() - started)
            if response.status_code == 401 and attempt == 1:
                await self.fresh_tokens(rejected=token or "")
                continue
            if response.status_code == 401:
                raise SignedOut
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = response.text
            return ApiResponse(response.status_code, body, response.headers)
        raise SignedOut  # pragma: no cover - the loop returns or raises
