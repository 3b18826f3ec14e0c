"""The audit log: who did what, when, from where, under which request id. Appended, never changed.

`record` adds an entry to the caller's session, so it commits with the change it describes (and
is rolled back with it). It is called in the service function, beside the change it records.

`record(..., survives_refusal=True)` is for an event that must be kept although the request is
refused (a failed sign-in, a refused delete): record it, then raise. The entry is
built at once (its time, request id and address, a copy of `detail`) and kept aside on the
request's session (`servicekit.db.keep_through_rollback`): it commits with the request if the
request commits, or alone, in a transaction of its own, after the rollback. So it never depends on
the route returning its error instead of raising, and it never carries a rolled-back change.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal, Scoped
from servicekit.context import client_ip_var, current_request_id
from servicekit.db import SessionDep, keep_through_rollback
from servicekit.errors import Forbidden, NotFound
from servicekit.models import AuditEntry
from servicekit.pagination import CursorParam, LimitParam, Page, paginate, set_next_link
from servicekit.params import TEXT_PATTERN, Rfc3339

PLATFORM_ADMIN_ROLE = "platform_admin"

# A service's visibility rule for its own log: the condition on `AuditEntry` that the entries a caller
# may read meet (None: no narrowing). The incidents service hides what is about an incident the
# caller may not read, so the log never tells the accused of an allegation.
AuditVisibility = Callable[[AsyncSession, Principal], Awaitable[ColumnElement[bool] | None]]


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
    survives_refusal: bool = False,
) -> None:
    """Add an entry to the session: it commits, or rolls back, with the change it records.

    `survives_refusal=True` audits a refusal (record it, then raise): the entry, taken now, is
    stored once whether the request then raises or commits, never with a rolled-back change.
    """
    values: dict[str, Any] = {
        "at": at or datetime.now(UTC),
        "actor": actor.actor if isinstance(actor, Principal) else actor,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "school_id": school_id,
        "request_id": current_request_id(),
        "source_ip": client_ip_var.get(),
        "detail": detail or {},
    }
    if survives_refusal:
        values["detail"] = copy.deepcopy(values["detail"])
        keep_through_rollback(session, lambda: AuditEntry(**values))
        return
    session.add(AuditEntry(**values))
    await session.flush()


def audit_router(
    prefix: str,
    *,
    platform_role: str = PLATFORM_ADMIN_ROLE,
    school_roles: tuple[str, ...] | None = None,
    visibility: AuditVisibility | None = None,
) -> APIRouter:
    """`GET <prefix>`: the service's audit log, newest first (scope `audit:read`).

    A caller bound to a school reads that school's entries only; a person holding the platform
    role (never an outside system's client) reads every entry, or one school's with `school_id`.
    Where the log itself names sensitive records (searches of phones, never-publish flags,
    restricted incidents), `school_roles` narrows the school's readers to those roles, and
    `visibility` (the service's own rule, applied in the query so pages stay full) keeps out the
    entries about records the caller may not see.
    Mount it in each service, e.g. `audit_router("/v1/devices/audit", school_roles=("head_teacher",))`.
    """
    router = APIRouter(prefix=prefix, tags=["audit"])

    @router.get("", response_model=Page[AuditEntryRead])
    async def list_audit_entries(
        request: Request,
        response: Response,
        session: SessionDep,
        principal: Annotated[Principal, Scoped("audit:read")],
        action: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=100)] = None,
        actor: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=200)] = None,
        target_type: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=50)] = None,
        target_id: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=100)] = None,
        school_id: uuid.UUID | None = None,
        since: Rfc3339 | None = None,
        until: Rfc3339 | None = None,
        cursor: CursorParam = None,
        limit: LimitParam = 50,
    ) -> Page[AuditEntryRead]:
        """Read the audit log (who did what, when, from where), newest first."""
        stmt = select(AuditEntry)
        if principal.school_id is not None:
            if school_roles is not None and (principal.is_client or not principal.has_role(*school_roles)):
                raise Forbidden("This audit log is read by the head teacher only.")
            if school_id is not None and school_id != principal.school_id:
                raise NotFound("No such school.", slug="school-not-found")
            stmt = stmt.where(AuditEntry.school_id == principal.school_id)
        elif not principal.is_client and principal.has_role(platform_role):
            if school_id is not None:
                stmt = stmt.where(AuditEntry.school_id == school_id)
        else:
            raise Forbidden("Only a school's staff or a platform administrator reads the audit log.")
        if visibility is not None:
            visible = await visibility(session, principal)
            if visible is not None:
                stmt = stmt.where(visible)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        if actor is not None:
            stmt = stmt.where(AuditEntry.actor == actor)
        if target_type is not None:
            stmt = stmt.where(AuditEntry.target_type == target_type)
        if target_id is not None:
            stmt = stmt.where(AuditEntry.target_id == target_id)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        rows, next_cursor = await paginate(
            session,
            stmt,
            order_by=(AuditEntry.at, AuditEntry.id),
            cursor=cursor,
            limit=limit,
            descending=True,
        )
        set_next_link(request, response, next_cursor)
        return Page[AuditEntryRead](
            items=[AuditEntryRead.model_validate(e) for e in rows], next_cursor=next_cursor
        )

    return router
