"""The audit log: who did what, when, from where, under which request id. Appended, never changed.

`record` adds an entry to the caller's session, so it commits with the change it describes. An
event that must be kept although the request is refused (a failed sign-in) is recorded and the
route then *returns* its error response instead of raising, so the session still commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.context import client_ip_var, current_request_id
from servicekit.models import AuditEntry


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    school_id: uuid.UUID | None
    request_id: str | None
    source_ip: str | None
    detail: dict[str, Any]


def _entry(
    *,
    actor: Principal | str,
    action: str,
    target_type: str | None,
    target_id: object | None,
    school_id: uuid.UUID | None,
    detail: dict[str, Any] | None,
    at: datetime | None,
) -> AuditEntry:
    return AuditEntry(
        at=at or datetime.now(UTC),
        actor=actor.actor if isinstance(actor, Principal) else actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        school_id=school_id,
        request_id=current_request_id(),
        source_ip=client_ip_var.get(),
        detail=detail or {},
    )


async def record(
    session: AsyncSession,
    *,
    actor: Principal | str,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    school_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    entry = _entry(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        school_id=school_id,
        detail=detail,
        at=at,
    )
    session.add(entry)
    await session.flush()
    return entry
