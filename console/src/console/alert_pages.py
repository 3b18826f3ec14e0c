"""Staff alerts in the console (issue 15): the person's own alerts, and the e-mail's link.

`/alerts` lists the signed-in person's alerts from incidents, devices and media consent, newest
first, unread marked. `/alerts/{alert_id}` is where an alert e-mail sends its reader: it marks the
alert read and goes on to the record's page while the service says they may still see it, else
says there is nothing to open. The services decide; the console shows only what they return.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from console.alert_feed import mark_read, own_alerts, remember_count
from console.web import Ctx, redirect, render, signed_in

Person = Annotated[Ctx, Depends(signed_in)]


def page_of(alert: dict[str, Any]) -> str | None:
    """The console page of the record an alert points at (None: withdrawn, or no page for it)."""
    if alert.get("status") == "withdrawn":
        return None
    target = alert.get("target_id")
    if alert.get("target_type") == "incident" and target:
        return f"/concerns/{uuid.UUID(str(target))}"
    if alert.get("kind") == "phones.still_held":
        return "/phones/end-of-day"
    return None


def install(app: FastAPI) -> None:
    @app.get("/alerts")
    async def alerts(ctx: Person) -> Response:
        items, any_ok = await own_alerts(ctx.api)
        remember_count(ctx.session, items if any_ok else None, ctx.request.app.state.clock.now())
        return render(ctx.request, "alerts.html", alerts=items, keeps_alerts=any_ok)

    @app.get("/alerts/{alert_id}")
    async def open_alert(ctx: Person, alert_id: str) -> Response:
        try:
            wanted = str(uuid.UUID(alert_id))
        except ValueError:
            return render(ctx.request, "alert_nothing.html", status_code=404, alert=None)
        result = await mark_read(ctx.api, wanted)
        ctx.session.alerts_counted_at = None  # the header counts again
        if result is None:
            return render(ctx.request, "alert_nothing.html", status_code=404, alert=None)
        alert = dict(result.body)
        target = page_of(alert)
        if target is None:
            return render(ctx.request, "alert_nothing.html", alert=alert)
        return redirect(target)
