"""Journey 7, the computing lead: the school's ICT assets (the devices service)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from console.api import form_idempotency_key, new_idempotency_key
from console.pages import search_people
from console.web import Ctx, errors_of, form_of, problem_page, redirect, render, signed_in

Person = Annotated[Ctx, Depends(signed_in)]

ASSET_KINDS = [
    (k, k.replace("_", " ").capitalize())
    for k in (
        "laptop",
        "desktop",
        "tablet",
        "phone",
        "camera",
        "interactive_display",
        "projector",
        "printer",
        "server",
        "network",
        "storage",
        "other",
    )
]
DESTRUCTION = [
    ("forensic_wipe", "Wiped (certificate from the agency)"),
    ("physically_destroyed", "Storage physically destroyed"),
    ("no_storage", "Holds no storage"),
]
DISPOSAL_FIELDS = {"disposed_on", "agency", "receipt_reference", "data_destruction", "certificate_reference"}
YES_NO = [("true", "Yes"), ("false", "No")]
ASSET_FIELDS = {
    "asset_tag",
    "kind",
    "make",
    "model",
    "serial_number",
    "location",
    "holds_personal_data",
    "is_encrypted",
    "purchased_on",
}

STAFF_DEVICE_KINDS = [
    ("phone", "Mobile phone"),
    ("tablet", "Tablet"),
    ("camera", "Camera"),
    ("laptop", "Laptop"),
    ("smartwatch", "Smartwatch"),
    ("other", "Other"),
]
STAFF_DEVICE_FIELDS = {"owner_id", "kind", "make", "model", "serial_number"}
OWNER_KINDS = {"staff", "visitor", "governor"}  # whose devices the register notes (the service's)
REMOVAL_REASONS = [
    ("owner_left", "Its owner has left"),
    ("no_longer_brought_in", "No longer brought in"),
    ("lost", "Lost"),
    ("replaced", "Replaced"),
]
# The register's changes: the devices service's route, its fields (the page's name for each, which
# is unique on the page, and the API's), and what the page says once it is done.
CHANGES: dict[str, tuple[str, dict[str, str], str]] = {
    "permit": (
        "image-permissions",
        {"permitted_by": "permitted_by", "purpose": "purpose"},
        "The head teacher's permission to take images is recorded",
    ),
    "withdraw": (
        "image-permission-withdrawals",
        {"withdrawn_by": "withdrawn_by", "withdrawal_reason": "reason"},
        "The permission to take images is withdrawn",
    ),
    "remove": ("removal", {"removal_reason": "reason"}, "Taken off the register"),
}


def install(app: FastAPI) -> None:
    async def assets_page(
        ctx: Ctx, form: dict[str, Any], errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        listed = await ctx.api.get("/v1/devices/assets", limit=200)
        if not listed.ok:
            return problem_page(ctx.request, listed)
        return render(
            ctx.request,
            "assets.html",
            status_code=status_code,
            assets=listed.body.get("items", []),
            form=form,
            errors=errors,
            kinds=ASSET_KINDS,
            yes_no=YES_NO,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/ict-assets")
    async def assets(ctx: Person) -> Response:
        return await assets_page(ctx, {})

    @app.post("/ict-assets")
    async def asset_add(ctx: Person) -> Response:
        form = await form_of(ctx.request)

        def text(name: str) -> str | None:
            return str(form.get(name, "")).strip() or None

        def flag(name: str) -> bool | None:
            return {"true": True, "false": False}.get(str(form.get(name, "")))

        body = {
            "asset_tag": text("asset_tag"),
            "kind": text("kind"),
            "make": text("make"),
            "model": text("model"),
            "serial_number": text("serial_number"),
            "location": text("location"),
            "holds_personal_data": flag("holds_personal_data"),
            "is_encrypted": flag("is_encrypted"),
            "purchased_on": text("purchased_on"),
        }
        result = await ctx.api.post(
            "/v1/devices/assets", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            return await assets_page(ctx, form, errors_of(result, ASSET_FIELDS), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Asset registered: {result.body['asset_tag']}"}
        return redirect("/ict-assets")

    async def lend_page(
        ctx: Ctx, asset_id: str, form: dict[str, Any], errors: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        asset = await ctx.api.get(f"/v1/devices/assets/{asset_id}")
        if not asset.ok:
            return problem_page(ctx.request, asset)
        people = await search_people(ctx, str(form.get("q", ""))) if form.get("q") else []
        return render(
            ctx.request,
            "asset_lend.html",
            status_code=status,
            asset=asset.body,
            people=people,
            form=form,
            errors=errors,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/ict-assets/{asset_id}/lend")
    async def asset_lend(ctx: Person, asset_id: str) -> Response:
        return await lend_page(ctx, asset_id, {})

    @app.post("/ict-assets/{asset_id}/lend")
    async def asset_lend_submit(ctx: Person, asset_id: str) -> Response:
        form = await form_of(ctx.request)
        if form.get("action") == "search":
            return await lend_page(ctx, asset_id, form)
        body = {
            "borrower_id": form.get("borrower_id") or None,
            "due_on": str(form.get("due_on", "")).strip() or None,
            "purpose": str(form.get("purpose", "")).strip() or None,
        }
        result = await ctx.api.post(
            f"/v1/devices/assets/{asset_id}/loans", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            errors = errors_of(result, {"borrower_id", "due_on", "purpose"})
            return await lend_page(ctx, asset_id, form, errors, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Lent: {result.body['asset_tag']}, due back {result.body['due_on']}"}
        return redirect("/loans")

    @app.get("/loans")
    async def loans(ctx: Person) -> Response:
        listed = await ctx.api.get("/v1/devices/asset-loans", limit=200)
        if not listed.ok:
            return problem_page(ctx.request, listed)
        items = [dict(i, idempotency_key=new_idempotency_key()) for i in listed.body.get("items", [])]
        return render(ctx.request, "loans.html", loans=items)

    @app.post("/loans/{loan_id}/return")
    async def loan_return(ctx: Person, loan_id: str) -> Response:
        form = await form_of(ctx.request)
        result = await ctx.api.post(
            f"/v1/devices/asset-loans/{loan_id}/return",
            {"note": str(form.get("note", "")).strip() or None},
            idempotency_key=str(form.get("idempotency_key")),
        )
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": f"Returned: {result.body['asset_tag']}"}
        return redirect("/loans")

    async def dispose_page(
        ctx: Ctx, asset_id: str, form: dict[str, Any], errors: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        asset = await ctx.api.get(f"/v1/devices/assets/{asset_id}")
        if not asset.ok:
            return problem_page(ctx.request, asset)
        return render(
            ctx.request,
            "asset_dispose.html",
            status_code=status,
            asset=asset.body,
            form=form,
            errors=errors,
            destruction=DESTRUCTION,
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/ict-assets/{asset_id}/dispose")
    async def asset_dispose(ctx: Person, asset_id: str) -> Response:
        return await dispose_page(ctx, asset_id, {})

    @app.post("/ict-assets/{asset_id}/dispose")
    async def asset_dispose_submit(ctx: Person, asset_id: str) -> Response:
        form = await form_of(ctx.request)
        body = {name: str(form.get(name, "")).strip() or None for name in sorted(DISPOSAL_FIELDS)}
        result = await ctx.api.post(
            f"/v1/devices/assets/{asset_id}/disposal", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            return await dispose_page(ctx, asset_id, form, errors_of(result, DISPOSAL_FIELDS), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": "Disposal recorded"}
        return redirect("/ict-assets")

    # --- the staff and visitor device register (the policy: "noted in school - name, make &
    # model, serial number"; no images on them without the head teacher's prior consent) -------

    async def register_page(
        ctx: Ctx, form: dict[str, Any], errors: dict[str, str] | None = None, status_code: int = 200
    ) -> Response:
        listed = await ctx.api.get("/v1/devices/staff-devices", limit=200)
        if not listed.ok:
            return problem_page(ctx.request, listed)
        found = await search_people(ctx, str(form.get("q", ""))) if form.get("q") else []
        return render(
            ctx.request,
            "staff_devices.html",
            status_code=status_code,
            devices=listed.body.get("items", []),
            people=[p for p in found if p.get("kind") in OWNER_KINDS],
            form=form,
            errors=errors,
            kinds=STAFF_DEVICE_KINDS,
            can_write=ctx.can("devices:write"),
            idempotency_key=form_idempotency_key(form),
        )

    @app.get("/staff-devices")
    async def staff_devices(ctx: Person) -> Response:
        return await register_page(ctx, {})

    @app.post("/staff-devices")
    async def staff_device_add(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        if form.get("action") == "search":
            return await register_page(ctx, form)
        body = {name: str(form.get(name, "")).strip() or None for name in sorted(STAFF_DEVICE_FIELDS)}
        result = await ctx.api.post(
            "/v1/devices/staff-devices", body, idempotency_key=str(form.get("idempotency_key"))
        )
        if result.status == 422:
            return await register_page(ctx, form, errors_of(result, STAFF_DEVICE_FIELDS), 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        device = result.body
        what = f"{device['make']} {device['model']} ({device['serial_number']})"
        ctx.session.flash = {"message": f"Noted: {device['owner_name']}'s {what}"}
        return redirect(f"/staff-devices/{device['id']}")

    async def device_page(
        ctx: Ctx,
        device_id: str,
        form: dict[str, Any],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        device = await ctx.api.get(f"/v1/devices/staff-devices/{device_id}")
        if not device.ok:
            return problem_page(ctx.request, device)
        staff = await ctx.api.get("/v1/identity/people", kind="staff", on_roll="true", limit=200)
        names = {p["id"]: f"{p['given_name']} {p['family_name']}" for p in staff.body.get("items", [])}
        return render(
            ctx.request,
            "staff_device.html",
            status_code=status_code,
            device=device.body,
            etag=device.etag,
            staff=sorted(names.items(), key=lambda item: item[1]),
            names=names,
            form=form,
            errors=errors,
            reasons=REMOVAL_REASONS,
            can_write=ctx.can("devices:write"),
            # One key per form of the page; a form re-rendered after a refusal keeps its own.
            keys={
                change: str(form.get("idempotency_key"))
                if form.get("change") == change and form.get("idempotency_key")
                else new_idempotency_key()
                for change in CHANGES
            },
        )

    @app.get("/staff-devices/{device_id}")
    async def staff_device(ctx: Person, device_id: str) -> Response:
        return await device_page(ctx, device_id, {})

    @app.post("/staff-devices/{device_id}")
    async def staff_device_change(ctx: Person, device_id: str) -> Response:
        """One of the register's changes, sent with the ETag the page was read with (If-Match)."""
        form = await form_of(ctx.request)
        change = str(form.get("change", ""))
        if change not in CHANGES:
            return redirect(f"/staff-devices/{device_id}")
        path, fields, message = CHANGES[change]
        body: dict[str, Any] = {api: str(form.get(name, "")).strip() or None for name, api in fields.items()}
        errors: dict[str, str] = {}
        if change == "permit":
            day = str(form.get("valid_until", "")).strip()
            try:
                until = datetime.fromisoformat(f"{day}T{form.get('valid_until_time') or '16:00'}")
                body["valid_until"] = until.replace(tzinfo=UTC).isoformat()
            except ValueError:
                errors["valid_until"] = "Enter the day the permission ends, for example 2026-09-14"
        if errors:
            return await device_page(ctx, device_id, form, errors, 422)
        result = await ctx.api.post(
            f"/v1/devices/staff-devices/{device_id}/{path}",
            body,
            idempotency_key=str(form.get("idempotency_key")),
            if_match=str(form.get("etag") or "") or None,
        )
        if result.status == 412:
            return render(ctx.request, "changed.html", status_code=412, back=f"/staff-devices/{device_id}")
        if result.status == 422:
            found = errors_of(result, {*fields.values(), "valid_until"})
            by_field = {api: name for name, api in fields.items()} | {"valid_until": "valid_until"}
            errors = {by_field.get(name, name): message for name, message in found.items()}
            return await device_page(ctx, device_id, form, errors, 422)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.flash = {"message": message}
        return redirect(f"/staff-devices/{device_id}")
