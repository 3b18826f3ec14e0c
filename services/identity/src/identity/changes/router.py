"""The people change feed route, for the platform's services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from identity.changes import service as change_service
from identity.changes.schemas import ChangeItem
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden
from servicekit.feeds import FeedCursorParam, FeedPage
from servicekit.pagination import LimitParam

router = APIRouter(prefix="/v1/identity/changes", tags=["people feed"])


class FeedForServicesOnly(Forbidden):
    slug = "feed-for-services-only"


@router.get("", response_model=FeedPage[ChangeItem])
async def read_changes(
    session: SessionDep,
    principal: Annotated[Principal, Scoped("identity:feed")],
    cursor: FeedCursorParam = None,
    limit: LimitParam = 50,
) -> FeedPage[ChangeItem]:
    """Schools, people, carer links and accounts changed after the cursor (services only)."""
    # The feed covers every school: only the platform's own services (clients bound to no school)
    # may follow it, never a person's token, whatever scopes it carries.
    if not principal.is_client or principal.school_id is not None or principal.la_code is not None:
        raise FeedForServicesOnly("The people feed is for the platform's services only.")
    items, next_cursor, has_more = await change_service.read_changes(session, cursor=cursor, limit=limit)
    return FeedPage(items=items, next_cursor=next_cursor, has_more=has_more)
