"""Who may manage which OAuth client: platform administrators any; a school's manager only the
clients of their own school (another school's, an LA's or a service's client is "not found").
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.clients import service as client_service
from identity.clients.models import OAuthClient
from identity.schools.dependencies import is_platform_admin
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import NotFound


class ClientNotFound(NotFound):
    slug = "client-not-found"


def can_reach(principal: Principal, client: OAuthClient) -> bool:
    if is_platform_admin(principal):
        return True
    return client.school_id is not None and client.school_id == principal.school_id


async def manageable_client(
    client_ref: Annotated[uuid.UUID, Path(alias="id")],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("clients:write")],
) -> OAuthClient:
    client = await client_service.get(session, client_ref)
    if client is None or not can_reach(principal, client):
        raise ClientNotFound("No such client.")
    return client


ManageableClient = Annotated[OAuthClient, Depends(manageable_client)]
