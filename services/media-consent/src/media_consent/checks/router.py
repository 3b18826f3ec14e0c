"""The MLE's consent check, the record of checks, and the public keys that verify receipts."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from media_consent.checks import pg
from media_consent.checks import service as check_service
from media_consent.checks.models import ConsentCheck
from media_consent.checks.schemas import (
    ConsentCheckCreate,
    ConsentCheckRead,
    ConsentCheckRecordRead,
)
from media_consent.consent.dependencies import school_of
from media_consent.consent.rules import PupilFacts
from servicekit.auth import Principal, Scoped
from servicekit.clock import Clock
from servicekit.context import current_request_id
from servicekit.db import SessionDep
from servicekit.pagination import CursorParam, LimitParam, Page, paginate, set_next_link
from servicekit.params import Rfc3339

router = APIRouter(prefix="/v1/media-consent", tags=["media consent"])


@router.post("/checks", response_model=ConsentCheckRead)
async def check_consent(
    body: ConsentCheckCreate,
    request: Request,
    principal: Annotated[Principal, Scoped("consent:check")],
) -> Response:
    """May every one of these pupils be shown? `allow` only if all may."""
    school_id = school_of(principal)
    # The app's clock read directly: ClockDep is a sync dependency, run in a thread on every call.
    clock: Clock = request.app.state.clock
    now = clock.now()
    # The same pupil named twice is answered once.
    pupil_ids = list(dict.fromkeys(body.pupil_ids))
    check_id = uuid.uuid4()

    def decide(facts: dict[uuid.UUID, PupilFacts]) -> tuple[str, list[dict[str, Any]]]:
        return check_service.decide(
            facts,
            pupil_ids,
            school_id=school_id,
            purpose=body.purpose,
            media_type=body.media_type,
            framing=body.framing,
            now=now,
            filename=body.filename,
            caption=body.caption,
        )

    # Read, decide, record; the record is committed before anything is signed or answered.
    # Read-your-writes for the one answer a stale replica gets wrong, an allow for a pupil who has
    # just left: before allowing, wait (briefly) for the replica to catch up with identity, and
    # decide again if that brought anything. A deny never waits; unknown pupils cost no pull.
    follower = request.app.state.follower
    wait: float = request.app.state.settings.check_catch_up_seconds
    seen = follower.changes

    def would_allow(results: list[dict[str, Any]]) -> bool:
        return wait > 0 and any(r["decision"] == "allow" for r in results)

    async def caught_up_with_news(results: list[dict[str, Any]]) -> bool:
        return would_allow(results) and await follower.catch_up(within=wait) and follower.changes != seen

    recorder: pg.Recorder | None = request.app.state.check_recorder
    if recorder is not None:
        try:
            async with recorder.pool.acquire() as conn:
                facts = await pg.load_facts(conn, pupil_ids, purpose=body.purpose, media_type=body.media_type)
            decision, results = decide(facts)
            if await caught_up_with_news(results):
                async with recorder.pool.acquire() as conn:
                    facts = await pg.load_facts(
                        conn, pupil_ids, purpose=body.purpose, media_type=body.media_type
                    )
                decision, results = decide(facts)
            await recorder.store(
                check_id=check_id,
                school_id=school_id,
                actor=principal.actor,
                source="check",
                purpose=body.purpose,
                media_type=body.media_type,
                framing=body.framing,
                decision=decision,
                results=results,
                now=now,
                request_id=current_request_id(),
            )
        except pg.UNREACHABLE as exc:
            raise pg.unavailable() from exc
        except pg.STATEMENT_ERRORS as exc:
            raise pg.statement_failed(exc) from None
    else:
        async with request.app.state.sessionmaker() as session:
            decision, results = decide(await check_service.load_facts(session, pupil_ids))
            if would_allow(results):
                await session.commit()  # SQLite has one connection: the catch-up needs it
                if await caught_up_with_news(results):
                    decision, results = decide(await check_service.load_facts(session, pupil_ids))
            await check_service.store(
                session,
                check_id=check_id,
                school_id=school_id,
                actor=principal.actor,
                source="check",
                purpose=body.purpose,
                media_type=body.media_type,
                framing=body.framing,
                pupil_ids=pupil_ids,
                decision=decision,
                results=results,
                now=now,
            )
            await session.commit()
    keys = request.app.state.receipt_keys
    receipt = check_service.receipt(
        keys.signing_key(),
        issuer=request.app.state.receipt_issuer,
        check_id=check_id,
        school_id=school_id,
        actor=principal.actor,
        purpose=body.purpose,
        media_type=body.media_type,
        framing=body.framing,
        decision=decision,
        results=results,
        now=now,
    )
    # The answer is written here rather than validated into ConsentCheckRead and serialized again
    # (this is the service's hot path): `results` are already plain JSON values. The tests hold it
    # to ConsentCheckRead, the answer's schema in the OpenAPI document.
    answer = {
        "check_id": str(check_id),
        "decision": decision,
        "results": results,
        "checked_at": now.isoformat().replace("+00:00", "Z"),
        "receipt": receipt,
    }
    return Response(json.dumps(answer, separators=(",", ":")).encode(), media_type="application/json")


@router.get("/checks", response_model=Page[ConsentCheckRecordRead])
async def list_consent_checks(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:read")],
    checked_from: Annotated[Rfc3339 | None, Query(alias="from")] = None,
    checked_to: Annotated[Rfc3339 | None, Query(alias="to")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[ConsentCheckRecordRead]:
    """The checks made for your school, newest first: who asked, about whom, and the answer."""
    stmt = select(ConsentCheck).where(ConsentCheck.school_id == school_of(principal))
    if checked_from is not None:
        stmt = stmt.where(ConsentCheck.checked_at >= checked_from)
    if checked_to is not None:
        stmt = stmt.where(ConsentCheck.checked_at < checked_to)
    rows, next_cursor = await paginate(
        session,
        stmt,
        order_by=(ConsentCheck.checked_at, ConsentCheck.id),
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    set_next_link(request, response, next_cursor)
    return Page[ConsentCheckRecordRead](
        items=[ConsentCheckRecordRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/.well-known/jwks.json", tags=["public"])
async def receipt_keys(request: Request) -> dict[str, Any]:
    """The public keys that verify consent receipts (no token needed)."""
    return {"keys": request.app.state.receipt_keys.jwks()}
