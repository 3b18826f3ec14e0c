"""Alert contacts: set by the person, read by the services' alert senders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.alert_contacts.models import AlertContact
from identity.alert_contacts.schemas import AlertPreferences
from servicekit import audit
from servicekit.auth import Principal


async def get(session: AsyncSession, person_id: uuid.UUID) -> AlertContact | None:
    return await session.get(AlertContact, person_id)


async def put(
    session: AsyncSession, *, actor: Principal, person_id: uuid.UUID, body: AlertPreferences, now: datetime
) -> AlertContact:
    contact = await session.get(AlertContact, person_id, with_for_update=True)
    if contact is None:
        contact = AlertContact(person_id=person_id)
        session.add(contact)
    contact.email = body.email
    contact.quiet_hours_start = body.quiet_hours_start
    contact.quiet_hours_end = body.quiet_hours_end
    contact.digest = body.digest
    contact.updated_at = now
    await session.flush()
    # Who changed where their alerts go, not the address itself.
    await audit.record(
        session,
        actor=actor,
        action="alert_preferences.changed",
        target_type="person",
        target_id=person_id,
        school_id=actor.school_id,
        detail={
            "has_email": body.email is not None,
            "digest": body.digest,
            "has_quiet_hours": body.quiet_hours_start is not None,
        },
        at=now,
    )
    return contact


async def lookup(
    session: AsyncSession, *, actor: Principal, person_ids: Sequence[uuid.UUID], now: datetime
) -> list[AlertContact]:
    if not person_ids:
        return []
    rows = list(
        await session.scalars(
            select(AlertContact)
            .where(AlertContact.person_id.in_(set(person_ids)))
            .order_by(AlertContact.person_id)
        )
    )
    await audit.record(
        session,
        actor=actor,
        action="alert_contacts.looked_up",
        target_type="person",
        detail={"count": len(set(person_ids)), "found": len(rows)},
        at=now,
    )
    return rows
