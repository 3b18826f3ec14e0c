"""Reset codes handed over by the office, and class-managed pupils' passwords (/v1/identity/users)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response

from identity.paths import RESET_CODE_PAGE
from identity.recovery import service as recovery_service
from identity.recovery.dependencies import ClassAccount, RecoverableAccount
from identity.recovery.schemas import ClassPassword, ResetCodeIssued
from identity.security.state import SecurityDep
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.urls import public_url

router = APIRouter(prefix="/v1/identity/users", tags=["accounts"])


@router.post("/{account_id}/reset-code", status_code=201, response_model=ResetCodeIssued)
async def issue_reset_code(
    request: Request,
    account: RecoverableAccount,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("users:recover")],
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """A single-use password-reset code to hand over in person (shown once, audited); an older
    code of the account stops working. The office: parents' and pupils' accounts only."""
    row, code = await recovery_service.issue_handover(
        session,
        account,
        actor=principal,
        now=clock.now(),
        valid_for=timedelta(hours=sec.settings.reset_handover_hours),
    )
    issued = ResetCodeIssued(code=code, expires_at=row.expires_at, url=public_url(request, RESET_CODE_PAGE))
    return Response(
        issued.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/{account_id}/class-password", status_code=204)
async def set_class_password(
    body: ClassPassword,
    account: ClassAccount,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("pupils:passwords")],
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Set a class-managed pupil's password (below Year 3; the teacher or office); sessions end."""
    await recovery_service.set_class_password(
        session, account, body.password, actor=principal, now=clock.now()
    )
    sec.publish_not_before(account)
    return Response(status_code=204)
