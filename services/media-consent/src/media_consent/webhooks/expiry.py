"""`consent.expired`: no transaction changes anything when a consent passes its `valid_until`, so a
sweep finds the versions that have expired since it last looked and publishes the event for each,
once (`ConsentExpiryNotice`), in the same transaction as the notice. It runs beside the outbox worker
in the service process, every `MEDIA_CONSENT_WEBHOOK_EXPIRY_SWEEP_SECONDS`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.consent.models import ConsentChange, ConsentCurrent
from media_consent.webhooks import service
from media_consent.webhooks.models import ConsentExpiryNotice

log = logging.getLogger("media_consent.webhooks.expiry")
BATCH = 200


async def announce_expired(session: AsyncSession, *, now: datetime) -> int:
    """Publish `consent.expired` for each current consent past its last day not yet announced."""
    rows = (
        await session.execute(
            select(ConsentCurrent, ConsentExpiryNotice)
            .outerjoin(ConsentExpiryNotice, ConsentExpiryNotice.pupil_id == ConsentCurrent.pupil_id)
            .where(
                ConsentCurrent.valid_until.is_not(None),
                ConsentCurrent.valid_until < now.date(),
                or_(
                    ConsentExpiryNotice.pupil_id.is_(None),
                    ConsentExpiryNotice.version != ConsentCurrent.version,
                ),
            )
            .order_by(ConsentCurrent.valid_until, ConsentCurrent.pupil_id)
            .limit(BATCH)
        )
    ).all()
    for current, notice in rows:
        seq = await session.scalar(
            select(func.max(ConsentChange.change_seq)).where(ConsentChange.pupil_id == current.pupil_id)
        )
        await service.publish(
            session,
            school_id=current.school_id,
            event_type="consent.expired",
            data={
                "school_id": str(current.school_id),
                "pupil_id": str(current.pupil_id),
                "seq": seq or 0,
                "version": current.version,
            },
            now=now,
        )
        if notice is None:
            session.add(
                ConsentExpiryNotice(pupil_id=current.pupil_id, version=current.version, announced_at=now)
            )
        else:
            notice.version, notice.announced_at = current.version, now
    await session.flush()
    return len(rows)


async def run_forever(app: FastAPI) -> None:
    while True:
        try:
            async with app.state.sessionmaker() as session:
                await announce_expired(session, now=app.state.clock.now())
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database may be away; try at the next sweep
            log.warning("consent expiry sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(app.state.settings.webhook_expiry_sweep_seconds)


async def start(app: FastAPI) -> None:
    if app.state.settings.outbox_worker:
        app.state.expiry_sweep = asyncio.create_task(run_forever(app))


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "expiry_sweep", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
