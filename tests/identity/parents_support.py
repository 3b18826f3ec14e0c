"""A school with a pupil and carers, written straight into identity's tables, for the invitation,
reset-code and class-password tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI
from sqlalchemy import select

from identity.people.models import CarerLink, Person
from servicekit.testing import TokenFactory
from tests.identity.signin_support import make_school, person_headers

T = TypeVar("T")


@dataclass
class Family:
    school_id: uuid.UUID
    pupil_id: uuid.UUID
    # A carer with parental responsibility, and one without (e.g. a grandparent on the contact list).
    carer_id: uuid.UUID
    contact_id: uuid.UUID


async def add_person(
    app: FastAPI, school_id: uuid.UUID, kind: str, *, year_group: str | None = None, name: str = "Sam"
) -> uuid.UUID:
    now = app.state.clock.now()
    person = Person(
        id=uuid.uuid4(),
        school_id=school_id,
        kind=kind,
        given_name=name,
        family_name="Khan",
        year_group=year_group,
        is_on_roll=True,
        created_at=now,
        updated_at=now,
    )
    async with app.state.sessionmaker() as session:
        session.add(person)
        await session.commit()
    return person.id


async def add_link(
    app: FastAPI, school_id: uuid.UUID, pupil_id: uuid.UUID, carer_id: uuid.UUID, *, responsibility: bool
) -> None:
    async with app.state.sessionmaker() as session:
        session.add(
            CarerLink(
                id=uuid.uuid4(),
                school_id=school_id,
                pupil_id=pupil_id,
                carer_id=carer_id,
                relationship="mother" if responsibility else "grandparent",
                has_parental_responsibility=responsibility,
                is_active=True,
                created_at=app.state.clock.now(),
            )
        )
        await session.commit()


async def make_family(app: FastAPI, *, year_group: str = "4") -> Family:
    school_id = await make_school(app)
    pupil_id = await add_person(app, school_id, "pupil", year_group=year_group, name="Amy")
    carer_id = await add_person(app, school_id, "parent", name="Sarah")
    contact_id = await add_person(app, school_id, "parent", name="Gran")
    await add_link(app, school_id, pupil_id, carer_id, responsibility=True)
    await add_link(app, school_id, pupil_id, contact_id, responsibility=False)
    return Family(school_id, pupil_id, carer_id, contact_id)


def office(signer: TokenFactory, family: Family) -> dict[str, str]:
    return person_headers(signer, "office", family.school_id)


async def rows(app: FastAPI, model: type[T], **where: object) -> list[T]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(model).filter_by(**where)))
