"""The console's pages. Each one calls the API as the signed-in person and shows what it answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from console import aup
from console.alert_feed import read_incident, unread_incidents
from console.api import form_idempotency_key, new_idempotency_key
from console.auth import OidcSignIn, PasswordSignIn, SignInFailed
from console.web import (
    Ctx,
    as_list,
    browser_session,
    errors_of,
    form_of,
    http_of,
    problem_page,
    redirect,
    render,
    session_cookie,
    settings_of,
    sign_in_of,
    signed_in,
    store_of,
)

Person = Annotated[Ctx, Depends(signed_in)]

CATEGORIES = [
    ("inappropriate_content", "Inappropriate content"),
    ("extremist_content", "Extremist content"),
    ("self_harm_content", "Self-harm content"),
    ("cyberbullying", "Cyberbullying"),
    ("grooming", "Grooming"),
    ("radicalisation", "Radicalisation"),
    ("stranger_contact", "Contact from a stranger"),
    ("sexting", "Sharing nudes or semi-nudes"),
    ("privacy_disclosure", "Disclosure of private information"),
    ("identity_misuse", "Misuse of someone's identity"),
    ("copyright", "Copyright"),
    ("misuse_of_ict", "Misuse of school ICT"),
    ("filtering_failure", "Filtering failure"),
    ("data_breach", "Data breach"),
    ("malware", "Malware"),
    ("allegation_against_staff", "Allegation against a member of staff"),
]
SEVERITIES = [("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")]
LOCATIONS = [("on_site", "In school"), ("off_site", "Outside school")]
PERSON_ROLES = [("affected", "Affected"), ("subject", "Involved (subject)"), ("witness", "Witness")]
PURPOSES = [
    ("mle", "School learning platform"),
    ("display", "Displays in school"),
    ("newsletter", "Newsletter"),
    ("website", "School website"),
    ("prospectus", "Prospectus"),
    ("social_media", "Social media"),
    ("press", "Press"),
]
MEDIA_TYPES = [("photo", "Photos"), ("video", "Videos")]
LEVELS = [("none", "No"), ("group", "Group shots only"), ("individual", "Yes, also alone or named")]
YEAR_GROUPS = [("N", "Nursery"), ("R", "Reception"), *[(str(n), f"Year {n}") for n in range(1, 7)]]
STATUSES = [
    ("open", "Open"),
    ("under_review", "Under review"),
    ("action_taken", "Action taken"),
    ("referred", "Referred"),
    ("closed", "Closed"),
]
# Seen only by the safeguarding lead and the head teacher (the incidents service's rule, shown here).
RESTRICTED_CATEGORIES = frozenset({"grooming", "sexting", "radicalisation", "self_harm_content"})
PHONE_KINDS = [("daily_handin", "Handed in for the day"), ("confiscation", "Confiscated")]


def label(options: list[tuple[str, str]], key: str | None) -> str:
    return dict(options).get(key or "", key or "")


async def search_people(ctx: Ctx, q: str, kind: str | None = None) -> list[dict[str, Any]]:
    if not q.strip():
        return []
    found = await ctx.api.get("/v1/identity/people", q=q.strip(), kind=kind, on_roll="true", limit=20)
    return list(found.body.get("items", [])) if found.ok else []


def install(app: FastAPI) -> None:
    # --- signing in and out ----------------------------------------------------------------------

    @app.get("/sign-in")
    async def sign_in_page(request: Request, next: str = "/") -> Response:
        session = await browser_session(request)
        next_path = next if next.startswith("/") and not next.startswith("//") else "/"
        sign_in = sign_in_of(request)
        if isinstance(sign_in, OidcSignIn):
            try:
                return redirect(await sign_in.start(http_of(request), session, next_path))
            except SignInFailed as exc:
                problem = {"title": "Sign-in is not available", "detail": str(exc)}
                return render(request, "problem.html", status_code=503, problem=problem)
        return render(request, "sign_in.html", next=next_path)

    @app.post("/sign-in")
    async def sign_in_submit(request: Request) -> Response:
        form = await form_of(request)
        sign_in = sign_in_of(request)
        if not isinstance(sign_in, PasswordSignIn):
            return redirect("/sign-in")
        session = await browser_session(request)
        try:
            await sign_in.with_password(
                http_of(request),
                session,
                str(form.get("username", "")),
                str(form.get("password", "")),
                str(form.get("otp", "")),
            )
        except SignInFailed as exc:
            return render(
                request,
                "sign_in.html",
                status_code=400,
                errors={"username": str(exc)},
                username=form.get("username"),
                next=form.get("next", "/"),
            )
        request.state.session = await store_of(request).rotate(session)
        next_path = str(form.get("next") or "/")
        return redirect(next_path if next_path.startswith("/") and not next_path.startswith("//") else "/")

    @app.get("/auth/callback")
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        session = await browser_session(request)
        sign_in = sign_in_of(request)
        if not isinstance(sign_in, OidcSignIn):
            return redirect("/sign-in")
        try:
            next_path = await sign_in.finish(http_of(request), session, code, state)
        except SignInFailed as exc:
            return render(
                request,
                "problem.html",
                status_code=400,
                problem={"title": "Sign-in failed", "detail": str(exc)},
            )
        request.state.session = await store_of(request).rotate(session)
        return redirect(next_path)

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await form_of(request)
        session = await browser_session(request)
        if session.signed_in:
            await sign_in_of(request).sign_out(http_of(request), session)
        await store_of(request).end(session)
        request.state.session = None
        response = redirect("/sign-in")
        session_cookie(settings_of(request)).clear(response)
        return response

    @app.get("/")
    async def home(ctx: Person) -> Response:
        return render(ctx.request, "home.html")

    # --- journey 1, teacher: report an e-safety concern ------------------------------------------

    async def concern_form(
        ctx: Ctx, form: dict[str, Any], errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        chosen = as_list(form.get("person_ids"))
        people = await search_people(ctx, str(form.get("q", ""))) if form.get("q") else []
        known = {p["id"]: p for p in people}
        for pid in chosen:  # keep the people already chosen on the page, with their names
            if pid not in known and form.get(f"name_{pid}"):
                known[pid] = {"id": pid, "given_name": form[f"name_{pid}"], "family_name": "", "kind": ""}
        return render(
            ctx.request,
            "concern_new.html",
            status_code=status_code,
            form=form,
            errors=errors,
            people=list(known.values()),
            chosen=chosen,
            categories=CATEGORIES,
            severities=SEVERITIES,
            locations=LOCATIONS,
            person_roles=PERSON_ROLES,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/concerns/new")
    async def concern_new(ctx: Person) -> Response:
        now = datetime.now(UTC)
        return await concern_form(
            ctx, {"occurred_on": now.date().isoformat(), "occurred_time": now.strftime("%H:%M")}
        )

    @app.post("/concerns/new")
    async def concern_submit(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        if form.get("action") == "search":
            return await concern_form(ctx, form)
        errors: dict[str, str] = {}
        occurred_at = None
        try:
            when = datetime.fromisoformat(
                f"{form.get('occurred_on', '')}T{form.get('occurred_time') or '00:00'}"
            )
            occurred_at = when.replace(tzinfo=UTC).isoformat()
        except ValueError:
            errors["occurred_on"] = "Enter the date it happened, for example 2026-09-14"
        people = [
            {"person_id": pid, "role": str(form.get(f"role_{pid}") or "affected")}
            for pid in as_list(form.get("person_ids"))
        ]
        body = {
            "category": form.get("category") or None,
            "severity": form.get("severity") or None,
            "occurred_at": occurred_at,
            "summary": str(form.get("summary", "")).strip() or None,
            "location": form.get("location") or None,
            "people": people,
        }
        fields = {"category", "severity", "occurred_at", "summary", "location", "people"}
        if errors:
            return await concern_form(ctx, form, errors, 422)
        result = await ctx.api.post("/v1/incidents", body, idempotency_key=str(form.get("idempotency_key")))
        if result.status == 422:
            found = errors_of(result, fields)
            if "occurred_at" in found:
                found["occurred_on"] = found.pop("occurred_at")
            return await concern_form(ctx, form, found, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Concern reported. Reference {result.body['reference']}"}
        return redirect(f"/concerns/reported?reference={result.body['reference']}")

    @app.get("/concerns/reported")
    async def concern_reported(ctx: Person, reference: str = "") -> Response:
        return render(ctx.request, "concern_reported.html", reference=reference)

    # --- journey 1, teacher: who may appear in a group photo --------------------------------------

    @app.get("/photos/group")
    async def group_photo(
        ctx: Person, year_group: str = "", purpose: str = "", media_type: str = "photo"
    ) -> Response:
        view = None
        errors = None
        if year_group or purpose:
            result = await ctx.api.get(
                f"/v1/media-consent/year-groups/{year_group or '-'}/group-photo",
                purpose=purpose,
                media_type=media_type,
            )
            if result.ok:
                view = result.body
            elif result.status == 422:
                errors = errors_of(result, {"year_group", "purpose", "media_type"})
            else:
                return problem_page(ctx.request, result)
        return render(
            ctx.request,
            "group_photo.html",
            errors=errors,
            view=view,
            form={"year_group": year_group, "purpose": purpose, "media_type": media_type},
            year_groups=YEAR_GROUPS,
            purposes=PURPOSES,
            media_types=MEDIA_TYPES,
            label=label,
        )

    # --- journey 2, safeguarding lead: the inbox and an incident's page ---------------------------

    @app.get("/concerns")
    async def inbox(ctx: Person) -> Response:
        result = await ctx.api.get("/v1/incidents", limit=200)
        if not result.ok:
            return problem_page(ctx.request, result)
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
        items = sorted(result.body["items"], key=lambda i: i["recorded_at"], reverse=True)
        items.sort(key=lambda i: rank.get(i["severity"], 9))
        unread = await unread_incidents(ctx.api)
        return render(
            ctx.request,
            "inbox.html",
            items=items,
            unread=unread,
            categories=CATEGORIES,
            statuses=STATUSES,
            label=label,
        )

    async def incident_page(
        ctx: Ctx, incident_id: str, errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        result = await ctx.api.get(f"/v1/incidents/{incident_id}")
        if not result.ok:
            return problem_page(ctx.request, result)
        incident = result.body
        await read_incident(ctx.api, ctx.session, str(incident["id"]))
        actions = await ctx.api.get(f"/v1/incidents/{incident_id}/actions")
        evidence = await ctx.api.get(f"/v1/incidents/{incident_id}/evidence")
        history = await ctx.api.get(f"/v1/incidents/{incident_id}/history")
        names = await names_of(ctx, [p["person_id"] for p in incident["people"]])
        chronology = sorted(actions.body if actions.ok else [], key=lambda a: a["occurred_at"])
        return render(
            ctx.request,
            "incident.html",
            status_code=status_code,
            incident=incident,
            etag=result.etag,
            names=names,
            chronology=chronology,
            referrals=[a for a in chronology if a.get("decision") or a.get("referred_to")],
            evidence=evidence.body if evidence.ok else [],
            history=history.body if history.ok else [],
            errors=errors,
            statuses=STATUSES,
            categories=CATEGORIES,
            restricted=RESTRICTED_CATEGORIES,
            label=label,
            # What the person's token may do here (the service decides; this only hides the forms).
            can_write=ctx.can("incidents:write"),
            can_release=incident["legal_hold"] and "head_teacher" in ctx.person.get("roles", []),
        )

    @app.get("/concerns/{incident_id}")
    async def incident(ctx: Person, incident_id: str) -> Response:
        return await incident_page(ctx, incident_id)

    @app.post("/concerns/{incident_id}")
    async def incident_update(ctx: Person, incident_id: str) -> Response:
        form = await form_of(ctx.request)
        body: dict[str, Any] = {}
        for name in ("status", "category"):
            if form.get(name):
                body[name] = form[name]
        if form.get("legal_hold") == "yes":
            body["legal_hold"] = True
            body["legal_hold_reason"] = str(form.get("legal_hold_reason", "")).strip() or None
        elif form.get("legal_hold") == "release":
            body["legal_hold"] = False
        result = await ctx.api.patch(
            f"/v1/incidents/{incident_id}", body, if_match=str(form.get("etag") or "") or None
        )
        if result.status == 412:
            return render(ctx.request, "changed.html", status_code=412, back=f"/concerns/{incident_id}")
        if result.status == 422:
            return await incident_page(
                ctx, incident_id, errors_of(result, {"status", "category", "legal_hold_reason"}), 422
            )
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Incident {result.body['reference']} updated"}
        return redirect(f"/concerns/{incident_id}")

    # --- journey 5, governor: the monitoring report, counts only ---------------------------------

    @app.get("/monitoring")
    async def monitoring(ctx: Person) -> Response:
        result = await ctx.api.request(
            "GET", "/v1/incidents/stats", params=[("group_by", "category"), ("group_by", "month")]
        )
        if not result.ok:
            return problem_page(ctx.request, result)
        rows = result.body["items"]
        months = sorted({r["month"] for r in rows if r.get("month")})
        by_category: dict[str, int] = {}
        cells: dict[tuple[str, str], int] = {}
        for r in rows:
            by_category[r["category"]] = by_category.get(r["category"], 0) + r["count"]
            cells[(r["category"], r["month"])] = r["count"]
        bars = sorted(by_category.items(), key=lambda kv: -kv[1])
        top = max((n for _, n in bars), default=0)
        return render(
            ctx.request,
            "monitoring.html",
            stats=result.body,
            months=months,
            bars=[(label(CATEGORIES, c), n, round(300 * n / top) if top else 0) for c, n in bars],
            cells=cells,
            categories=[c for c, _ in bars],
            label=label,
            all_categories=CATEGORIES,
        )

    # --- journeys 1 and 3: phones (hand in, confiscate, the desk, return) -------------------------

    async def phone_form(
        ctx: Ctx, form: dict[str, Any], errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        people = await search_people(ctx, str(form.get("q", "")), kind="pupil") if form.get("q") else []
        held = await ctx.api.get("/v1/devices/phone-custody", status="held", limit=100)
        return render(
            ctx.request,
            "phones.html",
            status_code=status_code,
            form=form,
            errors=errors,
            people=people,
            kinds=PHONE_KINDS,
            held=held.body.get("items", []) if held.ok else [],
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/phones")
    async def phones(ctx: Person) -> Response:
        return await phone_form(ctx, {"kind": "daily_handin", "storage_location": "School office"})

    @app.post("/phones")
    async def phone_submit(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        if form.get("action") == "search":
            return await phone_form(ctx, form)
        body = {
            "pupil_id": form.get("pupil_id") or None,
            "kind": form.get("kind") or None,
            "description": str(form.get("description", "")).strip() or None,
            "storage_location": str(form.get("storage_location", "")).strip() or None,
            "reason": str(form.get("reason", "")).strip() or None,
        }
        fields = {"pupil_id", "kind", "description", "storage_location", "reason"}
        result = await ctx.api.post(
            "/v1/devices/phone-custody", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            found = errors_of(result, fields)
            if "form" in found and "reason" in found["form"]:
                found["reason"] = found.pop("form")
            return await phone_form(ctx, form, found, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        name = form.get(f"name_{form.get('pupil_id')}") or "the pupil"
        ctx.session.flash = {
            "message": f"Phone of {name} registered as held "
            f"({label(PHONE_KINDS, result.body['kind']).lower()})"
        }
        return redirect("/phones")

    # --- journey 3, office: end of day, returns, paper consent forms ------------------------------

    @app.get("/phones/end-of-day")
    async def end_of_day(ctx: Person) -> Response:
        result = await ctx.api.get("/v1/devices/phone-custody/end-of-day")
        if not result.ok:
            return problem_page(ctx.request, result)
        names = await names_of(
            ctx,
            [r["pupil_id"] for r in result.body["daily_handins_held"]]
            + [r["pupil_id"] for r in result.body.get("confiscations_held_over", [])],
        )
        return render(ctx.request, "end_of_day.html", day=result.body, names=names)

    async def carers_of(ctx: Ctx, pupil_id: str) -> list[dict[str, Any]]:
        links = await ctx.api.get(f"/v1/identity/people/{pupil_id}/carers", active="true")
        if not links.ok:
            return []
        out = []
        for link in links.body["items"]:
            person = await ctx.api.get(f"/v1/identity/people/{link['carer_id']}")
            name = f"{person.body['given_name']} {person.body['family_name']}" if person.ok else "A carer"
            out.append({**link, "name": name})
        return out

    async def return_page(
        ctx: Ctx, custody_id: str, errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        record = await ctx.api.get(f"/v1/devices/phone-custody/{custody_id}")
        if not record.ok:
            return problem_page(ctx.request, record)
        pupil_id = record.body["pupil_id"]
        pupil = (await names_of(ctx, [pupil_id])).get(pupil_id, "the pupil")
        carers = await carers_of(ctx, pupil_id)
        if record.body["kind"] == "confiscation":
            # Only a carer with parental responsibility may collect a confiscated phone.
            options = [
                (c["carer_id"], f"{c['name']} ({c['relationship']})")
                for c in carers
                if c["parental_responsibility"]
            ]
        else:
            options = [(pupil_id, f"{pupil} (the pupil)")] + [
                (c["carer_id"], f"{c['name']} ({c['relationship']})") for c in carers
            ]
        return render(
            ctx.request,
            "phone_return.html",
            status_code=status_code,
            record=record.body,
            pupil=pupil,
            options=options,
            errors=errors,
        )

    @app.get("/phones/{custody_id}/return")
    async def phone_return(ctx: Person, custody_id: str) -> Response:
        return await return_page(ctx, custody_id)

    @app.post("/phones/{custody_id}/return")
    async def phone_return_submit(ctx: Person, custody_id: str) -> Response:
        form = await form_of(ctx.request)
        result = await ctx.api.post(
            f"/v1/devices/phone-custody/{custody_id}/return",
            {"to_person_id": form.get("to_person_id") or None},
        )
        if result.status == 422:
            return await return_page(ctx, custody_id, errors_of(result, {"to_person_id"}), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Phone returned: {result.body['description']}"}
        return redirect("/phones/end-of-day")

    async def consent_form(
        ctx: Ctx, form: dict[str, Any], errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        people = await search_people(ctx, str(form.get("q", "")), kind="pupil") if form.get("q") else []
        pupil_id = str(form.get("pupil_id") or (people[0]["id"] if len(people) == 1 else ""))
        carers = (
            [c for c in await carers_of(ctx, pupil_id) if c["parental_responsibility"]] if pupil_id else []
        )
        return render(
            ctx.request,
            "consent_form.html",
            status_code=status_code,
            form={**form, "pupil_id": pupil_id},
            errors=errors,
            people=people,
            carers=carers,
            purposes=PURPOSES,
            media_types=MEDIA_TYPES,
            levels=LEVELS,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/consent-forms/new")
    async def consent_form_new(ctx: Person) -> Response:
        return await consent_form(ctx, {})

    @app.post("/consent-forms/new")
    async def consent_form_submit(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        if form.get("action") != "save":
            return await consent_form(ctx, form)
        grants = [
            {"purpose": p, "media_type": m, "level": str(form.get(f"level_{p}_{m}"))}
            for p, _ in PURPOSES
            for m, _ in MEDIA_TYPES
            if str(form.get(f"level_{p}_{m}") or "none") != "none"
        ]
        body = {
            "pupil_id": form.get("pupil_id") or None,
            "given_by": form.get("given_by") or None,
            "grants": grants,
            "form_dated_on": form.get("form_dated_on") or None,
        }
        result = await ctx.api.post(
            "/v1/media-consent/records", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            return await consent_form(
                ctx, form, errors_of(result, {"pupil_id", "given_by", "form_dated_on", "grants"}), 422
            )
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Consent form entered (version {result.body['version']['version']})"}
        return redirect("/consent-forms/new")

    # --- journey 6, parent: each child's consent --------------------------------------------------

    @app.get("/my-children")
    async def my_children(ctx: Person) -> Response:
        result = await ctx.api.get("/v1/media-consent/children")
        if not result.ok:
            return problem_page(ctx.request, result)
        return render(
            ctx.request,
            "children.html",
            children=result.body,
            purposes=PURPOSES,
            media_types=MEDIA_TYPES,
            levels=LEVELS,
            grid=grid,
        )

    async def child_page(
        ctx: Ctx, pupil_id: str, errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        result = await ctx.api.get(f"/v1/media-consent/children/{pupil_id}")
        if not result.ok:
            return problem_page(ctx.request, result)
        # The acceptable-use agreement, offered where identity lets this parent sign for the child.
        agreement = await aup.current_agreement(ctx, pupil_id)
        signature = agreement.body["signature"] if agreement.ok else None
        return render(
            ctx.request,
            "child.html",
            status_code=status_code,
            child=result.body,
            agreement=agreement.body if agreement.ok else None,
            signed_by=aup.signed_by(ctx, result.body, signature) if signature else None,
            etag=result.etag,
            errors=errors,
            grid=grid(result.body),
            purposes=PURPOSES,
            media_types=MEDIA_TYPES,
            levels=LEVELS,
            idempotency_key=new_idempotency_key(),
        )

    @app.get("/my-children/{pupil_id}")
    async def my_child(ctx: Person, pupil_id: str) -> Response:
        return await child_page(ctx, pupil_id)

    @app.post("/my-children/{pupil_id}")
    async def my_child_change(ctx: Person, pupil_id: str) -> Response:
        form = await form_of(ctx.request)
        grants = [
            {"purpose": p, "media_type": m, "level": str(form.get(f"level_{p}_{m}") or "none")}
            for p, _ in PURPOSES
            for m, _ in MEDIA_TYPES
            if str(form.get(f"level_{p}_{m}") or "none") != "none"
        ]
        result = await ctx.api.post(
            f"/v1/media-consent/children/{pupil_id}/records",
            {"grants": grants},
            idempotency_key=str(form.get("idempotency_key")),
            if_match=str(form.get("etag") or "") or None,
        )
        if result.status == 422:
            return await child_page(ctx, pupil_id, errors_of(result, set()), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": "Your consent has been saved. It applies from now on."}
        return redirect(f"/my-children/{pupil_id}")

    @app.post("/my-children/{pupil_id}/withdraw")
    async def my_child_withdraw(ctx: Person, pupil_id: str) -> Response:
        form = await form_of(ctx.request)
        purposes = as_list(form.get("purposes"))
        result = await ctx.api.post(
            f"/v1/media-consent/children/{pupil_id}/withdrawals",
            {"purposes": purposes or None},
            idempotency_key=str(form.get("idempotency_key")),
            if_match=str(form.get("etag") or "") or None,
        )
        if result.status == 422:
            return await child_page(ctx, pupil_id, errors_of(result, {"purposes"}), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        what = ", ".join(label(PURPOSES, p) for p in purposes) if purposes else "every use"
        ctx.session.flash = {
            "message": f"Consent withdrawn for {what}. "
            "The school can no longer use these photos or videos from now on."
        }
        return redirect(f"/my-children/{pupil_id}")


async def names_of(ctx: Ctx, person_ids: list[str]) -> dict[str, str]:
    """Names of people by id (identity, as the person may read them)."""
    names: dict[str, str] = {}
    for pid in dict.fromkeys(person_ids):
        found = await ctx.api.get(f"/v1/identity/people/{pid}")
        if found.ok:
            names[pid] = f"{found.body['given_name']} {found.body['family_name']}"
    return names


def grid(child: dict[str, Any]) -> dict[str, str]:
    """`{"mle/photo": "group", ...}` of a child's current consent (every pair; none when there is none)."""
    out = {f"{p}/{m}": "none" for p, _ in PURPOSES for m, _ in MEDIA_TYPES}
    current = child.get("current") or {}
    withdrawn = set(current.get("withdrawn_purposes") or [])
    for g in current.get("grants") or []:
        out[f"{g['purpose']}/{g['media_type']}"] = "none" if g["purpose"] in withdrawn else g["level"]
    return out
