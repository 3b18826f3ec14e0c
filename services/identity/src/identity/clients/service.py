"""OAuth clients: register, rotate the secret, deactivate, authenticate; the services' own clients.

Secrets are 256-bit random strings kept as SHA-256 digests (a random secret needs no slow hash).
Each change is audited here, beside it, with the `actor` the caller passes.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.clients.models import OAuthClient
from identity.clients.schemas import ClientCreate
from identity.config import ServiceClientConfig
from identity.roles import SCOPES
from identity.schools.models import School
from identity.security.hashing import digest, matches, new_token
from servicekit import audit, outbound
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, Unprocessable
from servicekit.pagination import paginate

# Scopes only the platform's own services or administrators hold.
PLATFORM_SCOPES = frozenset(
    {"identity:feed", "replica:sync", "alerts:contacts", "schools:write", "clients:write", "users:write"}
)
# What an LA-wide client may do: reporting, never a school's day-to-day records.
LA_SCOPES = frozenset({"incidents:export", "incidents:stats"})
# A client's export and counts take in every incident of its school, with no person to hide an
# allegation from (incidents' access rule): only the platform administrator gives a client these,
# so a head cannot mint one to read an allegation against themselves.
REPORTING_SCOPES = LA_SCOPES
# Scopes only outside systems hold (no role has them): whoever registers a school's clients may
# grant them (the head gives the school's MLE its webhooks).
CLIENT_ONLY_SCOPES = frozenset({"consent:webhooks"})


class ScopesRefused(Unprocessable):
    slug = "scopes-refused"


class BackchannelTargetRefused(Unprocessable):
    slug = "backchannel-logout-uri-refused"


def check_scopes(scopes: Sequence[str], *, grantable: frozenset[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ScopesRefused(f"Unknown scopes: {' '.join(unknown)}.")
    refused = sorted(set(scopes) - grantable)
    if refused:
        raise ScopesRefused(f"You may not grant these scopes to a client: {' '.join(refused)}.")
    return sorted(set(scopes))


def _new_client_id() -> str:
    return f"cl_{secrets.token_urlsafe(12)}"


def _by_admin(actor: Principal | str) -> bool:
    """The platform itself ("system:<what>") or a person holding the platform administrator role."""
    return not isinstance(actor, Principal) or (not actor.is_client and actor.has_role("platform_admin"))


def grantable_scopes(actor: Principal | str, *, binding: str) -> frozenset[str]:
    """What `actor` may give a new client bound to "la", "school" or "platform" (a sign-in client).

    An LA client only reporting; a head no reporting scope; nobody a platform scope but the platform.
    """
    if binding == "la":
        return LA_SCOPES
    if not isinstance(actor, Principal):
        return frozenset(SCOPES)
    if binding == "platform":
        return frozenset(SCOPES) - PLATFORM_SCOPES
    allowed = (
        frozenset(SCOPES) if _by_admin(actor) else (actor.scopes | CLIENT_ONLY_SCOPES) - REPORTING_SCOPES
    )
    return allowed - PLATFORM_SCOPES


async def create(
    session: AsyncSession,
    *,
    body: ClientCreate,
    actor: Principal | str,
    now: datetime,
    check_backchannel: Callable[[str], Awaitable[outbound.Target]],
) -> tuple[OAuthClient, str | None]:
    """A new client and its secret (shown this once; a public client has none).

    `actor`: the administrator asking (a platform administrator for any school, an LA or a client
    people sign in to; a school's manager for their own school only), or "system:<what>" for the
    platform itself. New clients never get the password grant (RFC 9700). A back-channel logout
    URI must be a target the platform may call (`check_backchannel`: SecurityState's, the
    servicekit.outbound guard): a private, loopback or metadata address is refused here (422).
    """
    admin = _by_admin(actor)
    if body.redirect_based and not admin:
        # A client people sign in to: only the platform administrator registers one (SECURITY.md).
        raise Forbidden(
            "Only the platform administrator registers clients that people sign in to.",
            slug="redirect-client-admin-only",
        )
    platform_wide = body.redirect_based and body.school_id is None and body.la_code is None
    if not platform_wide and (body.school_id is None) == (body.la_code is None):
        raise Unprocessable("Give exactly one of school_id and la_code.", slug="client-binding")
    if body.school_id is None and not platform_wide and not admin:
        raise NotFound("No such local authority.", slug="la-not-found")
    if body.school_id is not None:
        if isinstance(actor, Principal) and not admin and body.school_id != actor.school_id:
            raise Unprocessable("school_id must be your own school.", slug="school-not-yours")
        if await session.get(School, body.school_id) is None:
            raise Unprocessable("No such school.", slug="unknown-school")
    binding = "platform" if platform_wide else ("la" if body.school_id is None else "school")
    scopes = check_scopes(body.scopes, grantable=grantable_scopes(actor, binding=binding))
    if body.backchannel_logout_uri is not None:
        try:
            await check_backchannel(body.backchannel_logout_uri)
        except outbound.TargetRefused as exc:
            field = {"field": "body.backchannel_logout_uri", "message": str(exc)}
            raise BackchannelTargetRefused(
                f"backchannel_logout_uri: {exc}", extra={"errors": [field]}
            ) from exc
    confidential = body.client_type == "confidential"
    grant_types, redirect_uris = body.grant_types, body.redirect_uris
    post_logout_redirect_uris, backchannel_logout_uri = (
        body.post_logout_redirect_uris,
        body.backchannel_logout_uri,
    )
    secret = new_token("cs_")
    client = OAuthClient(
        grant_types=sorted(set(grant_types) - {"password"}),
        redirect_uris=list(dict.fromkeys(redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(post_logout_redirect_uris)),
        is_confidential=confidential,
        backchannel_logout_uri=backchannel_logout_uri,
        id=uuid.uuid4(),
        client_id=_new_client_id(),
        name=body.name,
        secret_digest=digest(secret),
        scopes=scopes,
        school_id=body.school_id,
        la_code=body.la_code,
        is_service=False,
        is_active=True,
        created_by=actor.actor if isinstance(actor, Principal) else actor,
        created_at=now,
        updated_at=now,
        secret_rotated_at=now,
    )
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="client.created",
        target_type="oauth_client",
        target_id=client.id,
        school_id=client.school_id,
        detail={
            "client_id": client.client_id,
            "scopes": client.scopes,
            "la_code": client.la_code,
            "grant_types": client.grant_types,
            "redirect_uris": client.redirect_uris,
        },
        at=now,
    )
    return client, secret if confidential else None


async def rotate_secret(
    session: AsyncSession, client: OAuthClient, *, actor: Principal | str, now: datetime
) -> str:
    secret = new_token("cs_")
    client.secret_digest = digest(secret)
    client.secret_rotated_at = now
    client.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="client.secret_rotated",
        target_type="oauth_client",
        target_id=client.id,
        school_id=client.school_id,
        at=now,
    )
    return secret


async def deactivate(
    session: AsyncSession, client: OAuthClient, *, actor: Principal | str, now: datetime
) -> None:
    """The client gets no new tokens (those it holds expire on their own)."""
    client.is_active = False
    client.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="client.deactivated",
        target_type="oauth_client",
        target_id=client.id,
        school_id=client.school_id,
        at=now,
    )


async def get(session: AsyncSession, id_: uuid.UUID) -> OAuthClient | None:
    return await session.get(OAuthClient, id_)


async def by_client_id(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


async def authenticate(session: AsyncSession, client_id: str, secret: str) -> OAuthClient | None:
    """The active client with this id and secret, else None (same work for an unknown id)."""
    client = await by_client_id(session, client_id)
    stored = client.secret_digest if client is not None else digest("no such client")
    ok = matches(secret, stored)
    if client is None or not ok or not client.is_active or not client.is_confidential:
        return None
    return client


def list_query(*, school_id: uuid.UUID | None, la_code: str | None = None) -> Select[Any]:
    stmt = select(OAuthClient)
    if school_id is not None:
        stmt = stmt.where(OAuthClient.school_id == school_id)
    if la_code is not None:
        stmt = stmt.where(OAuthClient.la_code == la_code)
    return stmt


async def list_clients(
    session: AsyncSession, *, school_id: uuid.UUID | None, cursor: uuid.UUID | None, limit: int
) -> tuple[list[OAuthClient], str | None]:
    """One page of the clients (of one school, or every client), oldest first."""
    return await paginate(
        session,
        list_query(school_id=school_id),
        order_by=(OAuthClient.created_at, OAuthClient.id),
        cursor=cursor,
        limit=limit,
    )


async def sync_service_clients(
    session: AsyncSession, configs: Sequence[ServiceClientConfig], *, now: datetime
) -> list[str]:
    """Create or update the platform services' clients from IDENTITY_SERVICE_CLIENTS."""
    done = []
    for config in configs:
        scopes = sorted(set(config.scopes))
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"service client {config.client_id}: unknown scopes {sorted(unknown)}")
        secret_digest = digest(config.client_secret.get_secret_value())
        client = await by_client_id(session, config.client_id)
        if client is None:
            session.add(
                OAuthClient(
                    id=uuid.uuid4(),
                    client_id=config.client_id,
                    name=f"service {config.client_id}",
                    secret_digest=secret_digest,
                    scopes=scopes,
                    school_id=None,
                    la_code=None,
                    is_service=True,
                    is_active=True,
                    grant_types=["client_credentials"],
                    redirect_uris=[],
                    post_logout_redirect_uris=[],
                    is_confidential=True,
                    created_by="configuration",
                    created_at=now,
                    updated_at=now,
                    secret_rotated_at=now,
                )
            )
        else:
            if client.secret_digest != secret_digest:
                client.secret_digest = secret_digest
                client.secret_rotated_at = now
            client.scopes = scopes
            client.is_service = True
            client.is_active = True
            client.updated_at = now
        done.append(config.client_id)
    await session.flush()
    return done
