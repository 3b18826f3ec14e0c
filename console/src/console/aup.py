"""Journey 6, the parent: sign the pupils' acceptable-use agreement for a child in KS1.

At KS1 parents and carers sign on behalf of the pupils (the policy). Identity decides who may: a
parent with parental responsibility, for their own child in Reception to Year 2. The child's page
offers the agreement only where identity lets the parent read it for that child
(`GET /v1/identity/agreements/current?person_id=`); anyone else reaching the page or posting its
form gets identity's own refusal.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from console.api import ApiResponse, new_idempotency_key
from console.web import Ctx, form_of, problem_page, redirect, render, signed_in

Person = Annotated[Ctx, Depends(signed_in)]


async def current_agreement(ctx: Ctx, pupil_id: str) -> ApiResponse:
    """The agreement the child has to sign now and its signature, or identity's refusal."""
    return await ctx.api.get("/v1/identity/agreements/current", person_id=pupil_id)


def signed_by(ctx: Ctx, child: dict[str, Any], signature: dict[str, Any]) -> str:
    """Who signed, as the parent reads it (a parent may read no one's name but their child's)."""
    if signature["signed_by_person_id"] == ctx.person.get("person_id"):
        return "you"
    if signature["signed_by_person_id"] == signature["person_id"]:
        return str(child["given_name"])
    return "another parent or carer"


def install(app: FastAPI) -> None:
    @app.get("/my-children/{pupil_id}/agreement")
    async def agreement(ctx: Person, pupil_id: str) -> Response:
        child = await ctx.api.get(f"/v1/media-consent/children/{pupil_id}")
        if not child.ok:
            return problem_page(ctx.request, child)
        current = await current_agreement(ctx, pupil_id)
        if not current.ok:
            return problem_page(ctx.request, current)
        signature = current.body["signature"]
        return render(
            ctx.request,
            "agreement.html",
            child=child.body,
            version=current.body["version"],
            signature=signature,
            signed_by=signed_by(ctx, child.body, signature) if signature else None,
            idempotency_key=new_idempotency_key(),
        )

    @app.post("/my-children/{pupil_id}/agreement")
    async def agreement_sign(ctx: Person, pupil_id: str) -> Response:
        form = await form_of(ctx.request)
        try:
            version_id = uuid.UUID(str(form.get("version_id", "")))
        except ValueError:
            problem = {
                "title": "This form is not complete",
                "detail": "Go back, reload the page and sign again.",
            }
            return render(ctx.request, "problem.html", status_code=422, problem=problem)
        result = await ctx.api.post(
            f"/v1/identity/agreements/{version_id}/signatures",
            {"person_id": pupil_id},
            idempotency_key=str(form.get("idempotency_key") or "") or None,
        )
        if not result.ok:
            return problem_page(ctx.request, result)
        when = str(result.body["signed_at"])[:16].replace("T", " ")
        ctx.session.flash = {"message": f"You signed the acceptable-use agreement on {when}."}
        return redirect(f"/my-children/{pupil_id}")
