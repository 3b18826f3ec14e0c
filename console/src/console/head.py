"""Journey 4, the head teacher: authorise a phone search, read the audit logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from console.api import form_idempotency_key
from console.pages import search_people
from console.web import Ctx, errors_of, form_of, problem_page, redirect, render, signed_in

Person = Annotated[Ctx, Depends(signed_in)]

OUTCOMES = [
    ("nothing_found", "Nothing found"),
    ("content_deleted", "Content deleted"),
    ("retained_as_evidence", "Retained as evidence"),
    ("referred_to_police", "Referred to the police"),
]
SEARCH_FIELDS = {"authorised_by", "reason", "outcome", "findings"}
# Each service's audit log (the head teacher reads the school's entries).
AUDIT_SERVICES = [
    ("devices", "Devices and phones"),
    ("incidents", "Incidents"),
    ("media-consent", "Media consent"),
    ("identity", "Accounts and people"),
]


def install(app: FastAPI) -> None:
    async def search_page(
        ctx: Ctx,
        custody_id: str,
        form: dict[str, Any],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        record = await ctx.api.get(f"/v1/devices/phone-custody/{custody_id}")
        if not record.ok:
            return problem_page(ctx.request, record)
        return render(
            ctx.request,
            "phone_search.html",
            status_code=status_code,
            record=record.body,
            form=form,
            errors=errors,
            outcomes=OUTCOMES,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/phones/searches")
    async def phones_to_search(ctx: Person) -> Response:
        held = await ctx.api.get("/v1/devices/phone-custody", status="held")
        if not held.ok:
            return problem_page(ctx.request, held)
        return render(ctx.request, "phone_searches.html", held=held.body.get("items", []))

    @app.get("/phones/{custody_id}/search")
    async def phone_search(ctx: Person, custody_id: str) -> Response:
        return await search_page(ctx, custody_id, {})

    @app.post("/phones/{custody_id}/search")
    async def phone_search_submit(ctx: Person, custody_id: str) -> Response:
        form = await form_of(ctx.request)
        body = {
            # The head teacher signed in authorises the search themself.
            "authorised_by": ctx.person.get("person_id"),
            "reason": str(form.get("reason", "")).strip() or None,
            "outcome": form.get("outcome") or None,
            "findings": str(form.get("findings", "")).strip() or None,
        }
        result = await ctx.api.post(
            f"/v1/devices/phone-custody/{custody_id}/searches",
            body,
            idempotency_key=str(form.get("idempotency_key")),
        )
        if result.status == 422:
            return await search_page(ctx, custody_id, form, errors_of(result, SEARCH_FIELDS), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": "Search recorded"}
        return redirect("/phones/searches")

    @app.get("/audit")
    async def audit(ctx: Person, service: str = "devices", action: str = "") -> Response:
        names = dict(AUDIT_SERVICES)
        if service not in names:
            service = "devices"
        result = await ctx.api.get(f"/v1/{service}/audit", action=action or None, limit=50)
        if not result.ok:
            return problem_page(ctx.request, result)
        return render(
            ctx.request,
            "audit.html",
            services=AUDIT_SERVICES,
            service=service,
            service_name=names[service],
            action=action,
            entries=result.body.get("items", []),
        )

    async def never_publish_page(ctx: Ctx, q: str, errors: dict[str, str] | None = None) -> Response:
        flagged = await ctx.api.get("/v1/media-consent/never-publish")
        if not flagged.ok:
            return problem_page(ctx.request, flagged)
        items = flagged.body if isinstance(flagged.body, list) else []
        ids = {str(p["pupil_id"]) for p in items}
        people = [p for p in await search_people(ctx, q, kind="pupil") if p["id"] not in ids] if q else []
        return render(
            ctx.request,
            "never_publish.html",
            status_code=422 if errors else 200,
            flagged=items,
            people=people,
            q=q,
            errors=errors,
        )

    @app.get("/never-publish")
    async def never_publish(ctx: Person, q: str = "") -> Response:
        return await never_publish_page(ctx, q)

    @app.post("/never-publish")
    async def never_publish_submit(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        pupil_id = str(form.get("pupil_id", ""))
        clear = form.get("action") == "clear"
        result = await ctx.api.request(
            "DELETE" if clear else "PUT",
            f"/v1/media-consent/pupils/{pupil_id}/never-publish",
            json=None if clear else {},
        )
        if result.status == 422:
            return await never_publish_page(ctx, str(form.get("q", "")), errors_of(result, {"pupil_id"}))
        if not result.ok:
            return problem_page(ctx.request, result)
        name = str(form.get("name", "The pupil"))
        ctx.session.flash = {
            "message": f"{name} may be published again as consent allows"
            if clear
            else f"{name} is marked: never publish"
        }
        return redirect("/never-publish")

    @app.get("/allegations")
    async def allegations(ctx: Person) -> Response:
        # The incidents service shows an allegation against staff to the head teacher alone.
        result = await ctx.api.get("/v1/incidents", category="allegation_against_staff", limit=200)
        if not result.ok:
            return problem_page(ctx.request, result)
        items = sorted(result.body["items"], key=lambda i: i["recorded_at"], reverse=True)
        return render(ctx.request, "allegations.html", items=items)
