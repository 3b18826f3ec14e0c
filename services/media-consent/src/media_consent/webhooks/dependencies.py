"""Record-level access to webhooks: a holder of `consent:webhooks` reaches its own school's only
(another school's webhook, or an ended one, is 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from media_consent.webhooks import service
from media_consent.webhooks.models import Webhook
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep

SCOPE = "consent:webhooks"
WebhooksPrincipal = Annotated[Principal, Scoped(SCOPE)]


@dataclass(frozen=True)
class WebhookAccess:
    webhook: Webhook
    principal: Principal


async def _valid_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksPrincipal, school_id: CallerSchool
) -> WebhookAccess:
    return WebhookAccess(await service.find(session, school_id, webhook_id), principal)


ValidWebhook = Annotated[WebhookAccess, Depends(_valid_webhook)]
