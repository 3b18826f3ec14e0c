"""Alert preferences of the signed-in person, and the services' internal lookup."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from identity.alert_contacts import service
from identity.alert_contacts.dependencies import OwnPerson
from identity.alert_contacts.schemas import AlertPreferences, ContactLookup, ContactPage, ContactRead
from servicekit.alerts import CONTACTS_PATH, CONTACTS_SCOPE
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/identity/users", tags=["accounts"])
internal = APIRouter(tags=["operations"])


@router.get("/me/alert-preferences", response_model=AlertPreferences)
async def read_alert_preferences(person: OwnPerson, session: SessionDep) -> AlertPreferences:
    """Where the caller's alerts go (address, quiet hours, digest)."""
    contact = await service.get(session, person.person_id)
    return AlertPreferences.model_validate(contact) if contact is not None else AlertPreferences()


@router.put("/me/alert-preferences", response_model=AlertPreferences)
async def set_alert_preferences(
    body: AlertPreferences, person: OwnPerson, session: SessionDep, clock: ClockDep
) -> AlertPreferences:
    """Set where the caller's alerts go. Audited (not the address)."""
    contact = await service.put(
        session, actor=person.principal, person_id=person.person_id, body=body, now=clock.now()
    )
    return AlertPreferences.model_validate(contact)


@internal.post(CONTACTS_PATH, include_in_schema=False, response_model=ContactPage)
async def look_up_alert_contacts(
    body: ContactLookup,
    principal: Annotated[Principal, Scoped(CONTACTS_SCOPE)],
    session: SessionDep,
    clock: ClockDep,
) -> ContactPage:
    """Addresses and preferences for a service's alert sender (not routed by the gateway)."""
    rows = await service.lookup(session, actor=principal, person_ids=body.person_ids, now=clock.now())
    return ContactPage(items=[ContactRead.model_validate(r) for r in rows])
