"""OAuth clients API: /v1/identity/clients (register outside systems, rotate secrets, deactivate)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from identity.clients import service as client_service
from identity.clients.dependencies import ManageableClient
from identity.clients.schemas import ClientCreate, ClientRead, ClientWithSecret
from identity.schools.dependencies import is_platform_admin
from identity.security.state import SecurityDep
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import NotFound
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link

router = APIRouter(prefix="/v1/identity/clients", tags=["clients"])

Manager = Annotated[Principal, Scoped("clients:write")]


def _with_secret(read: ClientRead, secret: str | None) -> ClientWithSecret:
    return ClientWithSecret(**read.model_dump(), client_secret=secret)


def _secret_response(model: ClientWithSecret, status_code: int = 200) -> Response:
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post("", status_code=201, response_model=ClientWithSecret)
async def create_client(
    body: ClientCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Manager,
    clock: ClockDep,
    sec: SecurityDep,
) -> Response:
    """Register an outside system for one school, or for an LA (platform administrators)."""
    if idem.replay is not None:
        return idem.replay
    client, secret = await client_service.create(
        session, body=body, actor=principal, now=clock.now(), check_backchannel=sec.check_backchannel
    )
    read = ClientRead.model_validate(client)
    # The replay kept for the Idempotency-Key never holds the secret (secrets are not stored in clear).
    await idem.respond(_with_secret(read, None), status_code=201)
    return _secret_response(_with_secret(read, secret), status_code=201)


@router.get("", response_model=Page[ClientRead])
async def list_clients(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Manager,
    school_id: uuid.UUID | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[ClientRead]:
    """The OAuth clients of the caller's school (every client, for platform administrators)."""
    if is_platform_admin(principal):
        scope_school = school_id
    elif principal.school_id is None or (school_id is not None and school_id != principal.school_id):
        raise NotFound("No such school.", slug="school-not-found")
    else:
        scope_school = principal.school_id
    rows, next_cursor = await client_service.list_clients(
        session, school_id=scope_school, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page[ClientRead](items=[ClientRead.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.get("/{id}", response_model=ClientRead)
async def read_client(client: ManageableClient) -> ClientRead:
    """One OAuth client (never its secret)."""
    return ClientRead.model_validate(client)


@router.post("/{id}/secret", response_model=ClientWithSecret)
async def rotate_client_secret(
    client: ManageableClient, session: SessionDep, principal: Manager, clock: ClockDep
) -> Response:
    """Replace the client's secret; the new one is shown this once, the old one stops working."""
    secret = await client_service.rotate_secret(session, client, actor=principal, now=clock.now())
    return _secret_response(_with_secret(ClientRead.model_validate(client), secret))


@router.post("/{id}/deactivate", response_model=ClientRead)
async def deactivate_client(
    client: ManageableClient, session: SessionDep, principal: Manager, clock: ClockDep
) -> ClientRead:
    """Deactivate a client: it gets no new tokens (those it holds expire within 10 minutes)."""
    await client_service.deactivate(session, client, actor=principal, now=clock.now())
    return ClientRead.model_validate(client)
