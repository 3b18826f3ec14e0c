"""The safeguarding lead's pages beyond the inbox: a child's chronology across incidents, and adding
an action or a referral decision (with its rationale) to an incident.

The incidents service has no route listing one person's incidents, so the chronology is composed
from the incident list the lead's token may read (`GET /v1/incidents`: the service's visibility rule
decides what is in it, never this page), kept to the incidents naming the child, with each one's
actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from console.api import form_idempotency_key
from console.web import Ctx, errors_of, form_of, problem_page, redirect, render, signed_in

Person = Annotated[Ctx, Depends(signed_in)]

ACTION_KINDS = [
    ("note", "A note"),
    ("referral_decision", "A referral decision"),
    ("parents_informed", "Parents or carers informed"),
    ("la_informed", "Local authority informed"),
    ("police_referral", "Referred to the police"),
]
REFERRAL_BODIES = [
    ("dsl_review", "Designated safeguarding lead's review"),
    ("childrens_social_care", "Children's social care"),
    ("lado", "LADO"),
    ("la_designated_officer", "The local authority's designated officer"),
    ("police", "Police"),
    ("ceop", "CEOP"),
    ("prevent", "Prevent"),
    ("early_help", "Early help"),
    ("other", "Other"),
]
DECISIONS = [("refer", "Refer"), ("not_refer", "Do not refer")]
# What each kind of action sends (the service says which are required and refuses the rest).
FIELDS = {
    "note": ("note",),
    "referral_decision": ("referred_to", "decision", "rationale"),
    "parents_informed": ("note",),
    "la_informed": ("note",),
    "police_referral": ("police_reference", "note"),
}
# The evidence register's kinds (the incidents service's); the file kinds need the file's SHA-256.
EVIDENCE_KINDS = [
    ("screenshot", "A screenshot"),
    ("image", "An image"),
    ("video", "A video"),
    ("file", "Another file"),
    ("log", "A log (filtering, chat, sign-in)"),
    ("device", "A device"),
    ("document", "A document on paper"),
    ("other", "Something else"),
]
# Nudes and semi-nudes (UKCIS guidance, the policy): imagery is never viewed, copied or stored, so
# the only evidence the page offers is the device, secured unlooked-at. The service refuses the rest.
SEXTING_KINDS = [("device", "The device, secured without looking at its content")]
EVIDENCE_FIELDS = {
    "kind",
    "description",
    "stored_at",
    "held_by",
    "sha256",
    "device_secured",
    "handed_to_police_at",
    "police_reference",
}
PAGES = 20  # at most 20 pages of 200 incidents are read for one chronology


def label(options: list[tuple[str, str]], key: str | None) -> str:
    return dict(options).get(key or "", key or "")


async def visible_incidents(ctx: Ctx) -> tuple[list[dict[str, Any]], Any]:
    """Every incident the person's token may list (None and the refusal when it may not)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(PAGES):
        result = await ctx.api.get("/v1/incidents", limit=200, cursor=cursor)
        if not result.ok:
            return [], result
        items.extend(result.body["items"])
        cursor = result.body.get("next_cursor")
        if not cursor:
            break
    return items, None


def install(app: FastAPI) -> None:
    @app.get("/people/{person_id}/chronology")
    async def chronology(ctx: Person, person_id: str) -> Response:
        person = await ctx.api.get(f"/v1/identity/people/{person_id}")
        if not person.ok:
            return problem_page(ctx.request, person)
        incidents, refused = await visible_incidents(ctx)
        if refused is not None:
            return problem_page(ctx.request, refused)
        theirs = [i for i in incidents if any(p["person_id"] == person_id for p in i["people"])]
        entries: list[dict[str, Any]] = []
        for incident in theirs:
            role = next(p["role"] for p in incident["people"] if p["person_id"] == person_id)
            entries.append(
                {"at": incident["occurred_at"], "incident": incident, "what": "reported", "role": role}
            )
            actions = await ctx.api.get(f"/v1/incidents/{incident['id']}/actions")
            for action in actions.body if actions.ok else []:
                entries.append({"at": action["occurred_at"], "incident": incident, "action": action})
        entries.sort(key=lambda e: e["at"])
        return render(
            ctx.request,
            "chronology.html",
            child=person.body,
            entries=entries,
            incidents=theirs,
            kinds=ACTION_KINDS,
            bodies=REFERRAL_BODIES,
            decisions=DECISIONS,
            label=label,
        )

    async def action_form(
        ctx: Ctx,
        incident_id: str,
        form: dict[str, Any],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        result = await ctx.api.get(f"/v1/incidents/{incident_id}")
        if not result.ok:
            return problem_page(ctx.request, result)
        return render(
            ctx.request,
            "action_new.html",
            status_code=status_code,
            incident=result.body,
            form=form,
            errors=errors,
            kinds=ACTION_KINDS,
            bodies=REFERRAL_BODIES,
            decisions=DECISIONS,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/concerns/{incident_id}/actions/new")
    async def action_new(ctx: Person, incident_id: str, kind: str = "") -> Response:
        now = datetime.now(UTC)
        return await action_form(
            ctx,
            incident_id,
            {"kind": kind, "occurred_on": now.date().isoformat(), "occurred_time": now.strftime("%H:%M")},
        )

    @app.post("/concerns/{incident_id}/actions/new")
    async def action_submit(ctx: Person, incident_id: str) -> Response:
        form = await form_of(ctx.request)
        errors: dict[str, str] = {}
        occurred_at = None
        try:
            when = datetime.fromisoformat(
                f"{form.get('occurred_on', '')}T{form.get('occurred_time') or '00:00'}"
            )
            occurred_at = when.replace(tzinfo=UTC).isoformat()
        except ValueError:
            errors["occurred_on"] = "Enter the date it happened, for example 2026-09-14"
        kind = str(form.get("kind") or "")
        body: dict[str, Any] = {"kind": kind or None, "occurred_at": occurred_at}
        for name in FIELDS.get(kind, ()):
            value = str(form.get(name, "")).strip()
            if value:
                body[name] = value
        if errors:
            return await action_form(ctx, incident_id, form, errors, 422)
        result = await ctx.api.post(
            f"/v1/incidents/{incident_id}/actions", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            fields = {
                "kind",
                "note",
                "referred_to",
                "decision",
                "rationale",
                "police_reference",
                "occurred_at",
            }
            found = errors_of(result, fields)
            if "occurred_at" in found:
                found["occurred_on"] = found.pop("occurred_at")
            return await action_form(ctx, incident_id, form, found, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"{label(ACTION_KINDS, kind)} added to the chronology"}
        return redirect(f"/concerns/{incident_id}")

    async def evidence_form(
        ctx: Ctx,
        incident_id: str,
        form: dict[str, Any],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        result = await ctx.api.get(f"/v1/incidents/{incident_id}")
        if not result.ok:
            return problem_page(ctx.request, result)
        sexting = result.body["category"] == "sexting"
        return render(
            ctx.request,
            "evidence_new.html",
            status_code=status_code,
            incident=result.body,
            sexting=sexting,
            form=form,
            errors=errors,
            kinds=SEXTING_KINDS if sexting else EVIDENCE_KINDS,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/concerns/{incident_id}/evidence/new")
    async def evidence_new(ctx: Person, incident_id: str) -> Response:
        return await evidence_form(ctx, incident_id, {})

    @app.post("/concerns/{incident_id}/evidence/new")
    async def evidence_submit(ctx: Person, incident_id: str) -> Response:
        form = await form_of(ctx.request)

        def text(name: str) -> str | None:
            return str(form.get(name, "")).strip() or None

        errors: dict[str, str] = {}
        handed_at = None
        if text("handed_on"):
            try:
                when = datetime.fromisoformat(f"{text('handed_on')}T{text('handed_time') or '00:00'}")
                handed_at = when.replace(tzinfo=UTC).isoformat()
            except ValueError:
                errors["handed_on"] = "Enter the date it was handed to the police, for example 2026-09-14"
        if errors:
            return await evidence_form(ctx, incident_id, form, errors, 422)
        kind = text("kind")
        body: dict[str, Any] = {
            "kind": kind,
            "description": text("description"),
            "stored_at": text("stored_at"),
            "held_by": text("held_by"),
            "device_secured": form.get("device_secured") == "yes",
        }
        optional = {"sha256": text("sha256"), "handed_to_police_at": handed_at}
        optional["police_reference"] = text("police_reference")
        body |= {name: value for name, value in optional.items() if value is not None}
        result = await ctx.api.post(
            f"/v1/incidents/{incident_id}/evidence", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            found = errors_of(result, EVIDENCE_FIELDS)
            if "handed_to_police_at" in found:
                found["handed_on"] = found.pop("handed_to_police_at")
            return await evidence_form(ctx, incident_id, form, found, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Evidence added: {label(EVIDENCE_KINDS, kind).lower()}"}
        return redirect(f"/concerns/{incident_id}")
