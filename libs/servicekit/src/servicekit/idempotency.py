"""Idempotency keys for POSTs that create records.

The same key with the same body replays the first response and creates nothing; the same key
with another body is 422. A record is kept `idempotency_ttl_hours` (24 by default, per service:
`<PREFIX>IDEMPOTENCY_TTL_HOURS`); after that the key is free again, and `manage.py retention
--expire-idempotency` deletes the expired records (servicekit.retention). The record of the
response is written in the same transaction as the records the request created, so a retry after
a crash either replays or runs again, never both.

    @router.post("", status_code=201, response_model=SchoolRead)
    async def create_school(body: SchoolCreate, session: SessionDep, idem: IdempotencyDep, ...):
        if idem.replay is not None:
            return idem.replay
        school = await school_service.create(session, ...)
        return await idem.respond(SchoolRead.model_validate(school), status_code=201)
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import SessionDep
from servicekit.errors import Conflict, Unprocessable
from servicekit.models import IdempotencyRecord

REPLAYED_HEADERS = ("etag", "location")


class Idempotency:
    def __init__(
        self,
        session: AsyncSession,
        *,
        owner: str,
        key: str | None,
        method: str,
        path: str,
        body: bytes,
        now: datetime | None = None,
        keep_for: timedelta | None = None,
    ) -> None:
        self.session = session
        self.now = now or datetime.now(UTC)
        self.keep_for = keep_for
        self.owner = owner
        self.key = key
        self.method = method
        self.path = path
        self.body_hash = hashlib.sha256(body).hexdigest()
        self.replay: Response | None = None

    async def load(self) -> None:
        if self.key is None:
            return
        record = await self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.owner == self.owner, IdempotencyRecord.key == self.key
            )
        )
        if record is None:
            return
        if self.keep_for is not None and record.created_at < self.now - self.keep_for:
            # Expired: the key is free again; the old record goes with this request's transaction.
            await self.session.delete(record)
            await self.session.flush()
            return
        if record.body_hash != self.body_hash or record.path != self.path or record.method != self.method:
            raise Unprocessable(
                "This Idempotency-Key was already used with a different request.",
                slug="idempotency-key-reused",
            )
        headers = dict(record.response_headers)
        headers["Idempotent-Replayed"] = "true"
        self.replay = Response(
            content=record.response_body,
            status_code=record.status_code,
            headers=headers,
            media_type="application/json",
        )

    async def respond(
        self,
        model: BaseModel | dict[str, Any],
        *,
        status_code: int = 201,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The response to send; remembered under the key (in this transaction) when one was given."""
        content = (
            model.model_dump_json()
            if isinstance(model, BaseModel)
            else json.dumps(model, separators=(",", ":"), default=str)
        )
        headers = dict(headers or {})
        if self.key is not None:
            self.session.add(
                IdempotencyRecord(
                    owner=self.owner,
                    key=self.key,
                    method=self.method,
                    path=self.path,
                    body_hash=self.body_hash,
                    status_code=status_code,
                    response_body=content,
                    response_headers={k: v for k, v in headers.items() if k.lower() in REPLAYED_HEADERS},
                    created_at=self.now,
                )
            )
            try:
                await self.session.flush()
            except IntegrityError as exc:
                raise Conflict(
                    "Another request with this Idempotency-Key was processed at the same time; "
                    "retry to receive its response.",
                    slug="idempotency-key-in-use",
                ) from exc
        return Response(
            content=content, status_code=status_code, headers=headers, media_type="application/json"
        )


def _owner(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.actor if principal is not None else "anonymous"


async def get_idempotency(
    request: Request,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            # Printable ASCII without surrounding spaces: what an HTTP header value can carry as sent.
            pattern=r"^[!-~]([ -~]*[!-~])?$",
            description="Retrying with the same key and body replays the first response.",
        ),
    ] = None,
) -> Idempotency:
    if idempotency_key is not None and not idempotency_key.strip():
        raise Unprocessable("Idempotency-Key must not be empty.", slug="validation-error")
    idem = Idempotency(
        session,
        owner=_owner(request),
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
        now=request.app.state.clock.now(),
        keep_for=timedelta(hours=getattr(request.app.state.settings, "idempotency_ttl_hours", 24)),
    )
    await idem.load()
    return idem


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
