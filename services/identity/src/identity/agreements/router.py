"""Routes of the acceptable-use agreements API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from identity.agreements import service as agreement_service
from identity.agreements.dependencies import VersionForRead, VersionForSign
from identity.agreements.schemas import (
    AgreementCreate,
    AgreementRead,
    Audience,
    CurrentAgreement,
    PersonBrief,
    SignatureCreate,
    SignatureRead,
    UnsignedPage,
)
from identity.people import service as people_service
from identity.schools import service as school_service
from identity.schools.dependencies import SchoolNotFound, is_platform_admin, target_school
from servicekit.app import ClockDep
from servicekit.auth import NoSchoolBound, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link

router = APIRouter(prefix="/v1/identity/agreements", tags=["agreements"])


class NotAPerson(Forbidden):
    slug = "person-only"


def _school_filter(principal: Principal, school_id: uuid.UUID | None) -> uuid.UUID | None:
    if is_platform_admin(principal):
        return school_id
    if principal.school_id is None:
        raise NoSchoolBound()
    if school_id is not None and school_id != principal.school_id:
        raise SchoolNotFound("No such school.")
    return principal.school_id


@router.post("", status_code=201, response_model=AgreementRead)
async def publish_agreement(
    body: AgreementCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("agreements:write")],
) -> Response:
    """Publish a new version of an audience's agreement: everyone of that audience signs again."""
    school_id = target_school(principal, body.school_id)
    if idem.replay is not None:
        return idem.replay
    if await school_service.get(session, school_id) is None:
        raise SchoolNotFound("No such school.")
    version = await agreement_service.publish(
        session, school_id=school_id, body=body, actor=principal, now=clock.now()
    )
    return await idem.respond(AgreementRead.model_validate(version), status_code=201)


@router.get("", response_model=Page[AgreementRead])
async def list_agreements(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("agreements:read")],
    audience: Audience | None = None,
    school_id: uuid.UUID | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[AgreementRead]:
    """List published agreement versions, oldest first."""
    rows, next_cursor = await agreement_service.list_versions(
        session,
        school_id=_school_filter(principal, school_id),
        audience=audience,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[AgreementRead.model_validate(v) for v in rows], next_cursor=next_cursor)


@router.get("/unsigned", response_model=UnsignedPage)
async def list_unsigned(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("agreements:read")],
    audience: Annotated[Audience, Query()],
    school_id: uuid.UUID | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> UnsignedPage:
    """Who, of an audience and on roll, has not signed its current agreement."""
    school = _school_filter(principal, school_id)
    if school is None:
        raise SchoolNotFound("A platform administrator must say which school (school_id).")
    version = await agreement_service.current_version(session, school, audience)
    if version is None:
        raise agreement_service.NoAgreementPublished(f"No agreement for {audience} has been published.")
    rows, next_cursor = await agreement_service.list_unsigned(session, version, cursor=cursor, limit=limit)
    set_next_link(request, response, next_cursor)
    return UnsignedPage(
        items=[PersonBrief.model_validate(p) for p in rows],
        next_cursor=next_cursor,
        version_id=version.id,
        version_number=version.number,
    )


@router.get("/current", response_model=CurrentAgreement)
async def current_agreement(
    session: SessionDep,
    principal: Annotated[Principal, Scoped("agreements:sign")],
    person_id: Annotated[
        uuid.UUID | None, Query(description="A KS1 child the parent signs for; oneself when left out")
    ] = None,
) -> CurrentAgreement:
    """The agreement a person has to sign now, and their signature of it if signed.

    For oneself, or (a parent) for a child in Reception to Year 2 they hold parental responsibility
    for: anyone else is refused as signing for them would be.
    """
    if principal.is_client or principal.person_id is None:
        raise NotAPerson("Only a person signs an agreement, with their own account.")
    signer = await people_service.get_person(session, principal.person_id)
    if signer is None or signer.school_id != principal.school_id:
        raise people_service.PersonNotFound("No such person.")
    person = signer
    if person_id is not None and person_id != signer.id:
        other = await people_service.get_person(session, person_id)
        if other is None or other.school_id != signer.school_id:
            raise people_service.PersonNotFound("No such person.")
        if not await agreement_service.may_sign_for(session, signer, other):
            raise agreement_service.MayNotSignFor(agreement_service.MAY_NOT_SIGN_FOR)
        person = other
    version = await agreement_service.current_version(session, person.school_id, person.kind)
    if version is None:
        raise agreement_service.NoAgreementPublished(f"No agreement for {person.kind} has been published.")
    signature = await agreement_service.signature_of(session, version, person.id)
    return CurrentAgreement(
        person_id=person.id,
        version=AgreementRead.model_validate(version),
        signature=SignatureRead.model_validate(signature) if signature else None,
    )


@router.get("/{version_id}", response_model=AgreementRead)
async def get_agreement(version: VersionForSign) -> AgreementRead:
    """Read one agreement version (its text, to sign it)."""
    return AgreementRead.model_validate(version)


@router.post("/{version_id}/signatures", status_code=201, response_model=SignatureRead)
async def sign_agreement(
    version: VersionForSign,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("agreements:sign")],
    body: SignatureCreate | None = None,
) -> Response:
    """Sign the current agreement, for oneself or (a parent) for a child in Reception to Year 2."""
    if principal.is_client or principal.person_id is None:
        raise NotAPerson("Only a person signs an agreement, with their own account.")
    if idem.replay is not None:
        return idem.replay
    signer = await people_service.get_person(session, principal.person_id)
    if signer is None or signer.school_id != version.school_id:
        raise agreement_service.AgreementNotFound("No such agreement.")
    person = signer
    if body is not None and body.person_id is not None and body.person_id != signer.id:
        other = await people_service.get_person(session, body.person_id)
        if other is None or other.school_id != version.school_id:
            raise people_service.PersonNotFound("No such person.")
        person = other
    signature = await agreement_service.sign(
        session, version, signer=signer, person=person, actor=principal, now=clock.now()
    )
    return await idem.respond(SignatureRead.model_validate(signature), status_code=201)


@router.get("/{version_id}/signatures", response_model=Page[SignatureRead])
async def list_signatures(
    version: VersionForRead,
    request: Request,
    response: Response,
    session: SessionDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[SignatureRead]:
    """Who has signed one agreement version, and when (and who signed for them)."""
    rows, next_cursor = await agreement_service.list_signatures(session, version, cursor=cursor, limit=limit)
    set_next_link(request, response, next_cursor)
    return Page(items=[SignatureRead.model_validate(s) for s in rows], next_cursor=next_cursor)
