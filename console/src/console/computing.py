"""Journey 7, the computing lead: the school's ICT assets (the devices service)."""

from __future__ import annotations

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

    @app.get("/staff-devices")
    async def staff_devices(ctx: Person) -> Response:
        listed = await ctx.api.get("/v1/devices/staff-devices", limit=200)
        if not listed.ok:
            return problem_page(ctx.request, listed)
        return render(ctx.request, "staff_devices.html", devices=listed.body.get("items", []))
