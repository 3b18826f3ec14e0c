"""Publishing agreement versions, signing them, and finding who has not signed the current one.

Versions and signatures are appended, never changed. A new version is the current one for its
audience, so everyone of that audience must sign again. A parent with parental responsibility
may sign for a pupil in key stage 1 (Reception to Year 2), as the policy expects.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.agreements.models import AgreementSignature, AgreementVersion
from identity.agreements.schemas import AgreementCreate
from identity.people.models import CarerLink, Person
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.pagination import paginate

KS1_YEAR_GROUPS = frozenset({"R", "1", "2"})


class AgreementNotFound(NotFound):
    slug = "agreement-not-found"


class NoAgreementPublished(NotFound):
    slug = "no-agreement-published"


class VersionSuperseded(Conflict):
    slug = "agreement-superseded"


class AlreadySigned(Conflict):
    slug = "already-signed"


class WrongAudience(Conflict):
    slug = "wrong-audience"


class MayNotSignFor(Forbidden):
    slug = "may-not-sign-for"


async def publish(
    session: AsyncSession, *, school_id: uuid.UUID, body: AgreementCreate, actor: Principal, now: datetime
) -> AgreementVersion:
    """The audience's next version (body.school_id was resolved by the caller into school_id)."""
    audience = body.audience
    latest = await session.scalar(
        select(func.max(AgreementVersion.number)).where(
            AgreementVersion.school_id == school_id, AgreementVersion.audience == audience
        )
    )
    version = AgreementVersion(
        school_id=school_id,
        audience=audience,
        number=(latest or 0) + 1,
        title=body.title,
        text=body.text,
        published_at=now,
        published_by=actor.actor,
    )
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="agreement.published",
        target_type="agreement_version",
        target_id=version.id,
        school_id=school_id,
        detail={"audience": audience, "number": version.number, "title": body.title},
        at=now,
    )
    return version


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> AgreementVersion | None:
    return await session.get(AgreementVersion, version_id)


async def current_version(
    session: AsyncSession, school_id: uuid.UUID, audience: str
) -> AgreementVersion | None:
    return await session.scalar(
        select(AgreementVersion)
        .where(AgreementVersion.school_id == school_id, AgreementVersion.audience == audience)
        .order_by(AgreementVersion.number.desc())
        .limit(1)
    )


async def list_versions(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    audience: str | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[AgreementVersion], str | None]:
    stmt = select(AgreementVersion)
    if school_id is not None:
        stmt = stmt.where(AgreementVersion.school_id == school_id)
    if audience is not None:
        stmt = stmt.where(AgreementVersion.audience == audience)
    return await paginate(
        session,
        stmt,
        order_by=(AgreementVersion.published_at, AgreementVersion.id),
        cursor=cursor,
        limit=limit,
    )


MAY_NOT_SIGN_FOR = (
    "A parent may sign only for their own child in Reception to Year 2, "
    "and only with parental responsibility."
)


async def may_sign_for(session: AsyncSession, parent: Person, pupil: Person) -> bool:
    """A parent may sign for a KS1 pupil they hold parental responsibility for."""
    if parent.kind != "parent" or pupil.kind != "pupil" or pupil.year_group not in KS1_YEAR_GROUPS:
        return False
    link = await session.scalar(
        select(CarerLink.id).where(
            CarerLink.pupil_id == pupil.id,
            CarerLink.carer_id == parent.id,
            CarerLink.is_active.is_(True),
            CarerLink.has_parental_responsibility.is_(True),
        )
    )
    return link is not None


async def sign(
    session: AsyncSession,
    version: AgreementVersion,
    *,
    signer: Person,
    person: Person,
    actor: Principal,
    now: datetime,
) -> AgreementSignature:
    """`signer` signs `version` for `person` (themselves, or a KS1 pupil in their care)."""
    if person.id != signer.id and not await may_sign_for(session, signer, person):
        raise MayNotSignFor(MAY_NOT_SIGN_FOR)
    if person.kind != version.audience:
        raise WrongAudience(f"This agreement is for {version.audience}, not for a {person.kind}.")
    current = await current_version(session, version.school_id, version.audience)
    if current is None or current.id != version.id:
        raise VersionSuperseded("A newer version of this agreement has been published; sign that one.")
    if await signature_of(session, version, person.id) is not None:
        raise AlreadySigned("This version has already been signed for this person.")
    signature = AgreementSignature(
        version_id=version.id,
        school_id=version.school_id,
        person_id=person.id,
        signed_by_person_id=signer.id,
        signed_at=now,
    )
    session.add(signature)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="agreement.signed",
        target_type="agreement_signature",
        target_id=signature.id,
        school_id=version.school_id,
        detail={
            "version_id": str(version.id),
            "person_id": str(person.id),
            "on_behalf": person.id != signer.id,
        },
        at=now,
    )
    return signature


async def signature_of(
    session: AsyncSession, version: AgreementVersion, person_id: uuid.UUID
) -> AgreementSignature | None:
    """The person's signature of this version, if it has been signed for them."""
    return await session.scalar(
        select(AgreementSignature).where(
            AgreementSignature.version_id == version.id, AgreementSignature.person_id == person_id
        )
    )


async def list_unsigned(
    session: AsyncSession, version: AgreementVersion, *, cursor: uuid.UUID | None, limit: int
) -> tuple[list[Person], str | None]:
    signed = exists().where(
        AgreementSignature.version_id == version.id, AgreementSignature.person_id == Person.id
    )
    stmt = select(Person).where(
        Person.school_id == version.school_id,
        Person.kind == version.audience,
        Person.is_on_roll.is_(True),
        ~signed,
    )
    return await paginate(session, stmt, order_by=(Person.created_at, Person.id), cursor=cursor, limit=limit)


async def list_signatures(
    session: AsyncSession, version: AgreementVersion, *, cursor: uuid.UUID | None, limit: int
) -> tuple[list[AgreementSignature], str | None]:
    stmt = select(AgreementSignature).where(AgreementSignature.version_id == version.id)
    return await paginate(
        session,
        stmt,
        order_by=(AgreementSignature.signed_at, AgreementSignature.id),
        cursor=cursor,
        limit=limit,
    )
