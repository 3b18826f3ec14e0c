"""The signed-in person's staff alerts, merged from the three services that raise them.

Each service lists only the caller's own alerts (`GET /v1/<service>/alerts/mine`) and says
`"status": "withdrawn"` (no `target_id`) of one whose record they may no longer see: the console
shows what the services answer and decides nothing. The unread count in the header is kept on the
session for a short while (the injected clock) so that a page costs no extra calls each time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from console.api import Api, ApiResponse
from console.sessions import Session

SERVICES: Final = ("incidents", "devices", "media-consent")
COUNT_FOR: Final = timedelta(seconds=30)


async def own_alerts(api: Api) -> tuple[list[dict[str, Any]], bool]:
    """(the person's alerts, newest first; whether any service keeps alerts for them)."""
    items: list[dict[str, Any]] = []
    any_ok = False
    for service in SERVICES:
        result = await api.get(f"/v1/{service}/alerts/mine", limit=200)
        if result.ok and isinstance(result.body, dict):
            any_ok = True
            items.extend(dict(item, service=service) for item in result.body.get("items") or [])
    items.sort(key=lambda a: str(a.get("created_at", "")), reverse=True)
    return items, any_ok


async def mark_read(api: Api, alert_id: str) -> ApiResponse | None:
    """Mark the alert read in whichever service holds it; None when none of them has it for this person."""
    for service in SERVICES:
        result = await api.post(f"/v1/{service}/alerts/{alert_id}/read", None)
        if result.ok and isinstance(result.body, dict):
            return result
    return None


async def unread_incidents(api: Api) -> set[str]:
    """The incidents the person has an unread alert of (the concerns inbox marks them Unread)."""
    result = await api.get("/v1/incidents/alerts/mine", unread="true", target_type="incident", limit=200)
    if not (result.ok and isinstance(result.body, dict)):
        return set()
    return {str(a["target_id"]) for a in result.body.get("items") or [] if a.get("target_id")}


async def read_incident(api: Api, session: Session, incident_id: str) -> None:
    """The person opened the incident: their unread alerts of it are marked read (in incidents)."""
    result = await api.get(
        "/v1/incidents/alerts/mine", unread="true", target_type="incident", target_id=incident_id, limit=200
    )
    if not (result.ok and isinstance(result.body, dict)):
        return
    for alert in result.body.get("items") or []:
        await api.post(f"/v1/incidents/alerts/{alert['id']}/read", None)
        session.alerts_counted_at = None  # the header counts again


def remember_count(session: Session, items: list[dict[str, Any]] | None, now: datetime) -> None:
    session.alerts_unread = None if items is None else sum(1 for a in items if not a.get("read_at"))
    session.alerts_counted_at = now


async def refresh_count(api: Api, session: Session, now: datetime) -> None:
    """The header's unread count, asked again when older than COUNT_FOR."""
    counted = session.alerts_counted_at
    if counted is not None and now - counted < COUNT_FOR:
        return
    items, any_ok = await own_alerts(api)
    remember_count(session, items if any_ok else None, now)
