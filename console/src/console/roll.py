"""Journey 3, the office: upload the roll from the MIS, see the dry run's report, then apply it.

The file goes to identity's roll import twice, unchanged: first as a dry run (identity applies it
inside a transaction it rolls back, so its report is what the import will do and nothing changes),
then, when the office presses Apply, for real. Between the two the file is held in the person's
server-side session, never sent back to the browser; Apply carries an Idempotency-Key made with the
report, so a double click imports once. What identity refuses (not a CSV, missing columns, too many
rows) is shown next to the file field, and so is a file larger than the platform takes
(`CONSOLE_ROLL_MAX_BYTES`, the gateway's cap on the import; the gateway lets the form through larger
than that, so the console, not the gateway's JSON, says so).
"""

from __future__ import annotations

import base64
import csv
import io
import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from console.api import ApiResponse, new_idempotency_key
from console.pages import names_of
from console.web import Ctx, form_of, problem_page, redirect, render, settings_of, signed_in
from servicekit.errors import problem_body

Person = Annotated[Ctx, Depends(signed_in)]

IMPORTS = "/v1/identity/people/imports"
SCOPE = "people:import"
# What the person sees of a row's outcome: identity's status, as the report's words.
STATUSES = {
    "created": ("New", "govuk-tag--green"),
    "updated": ("Changed", "govuk-tag--blue"),
    "unchanged": ("No change", "govuk-tag--grey"),
    "refused": ("Refused", "govuk-tag--red"),
}
# Leavers' names are looked up (people:read) for at most this many; the rest show their MIS reference.
NAMED_LEAVERS = 50


async def send_roll(ctx: Ctx, upload: dict[str, Any], *, dry_run: bool) -> ApiResponse:
    params = {
        "dry_run": "true" if dry_run else "false",
        "mark_absent_as_left": "true" if upload["mark_absent_as_left"] else "false",
    }
    return await ctx.api.request(
        "POST",
        IMPORTS,
        params=params,
        content=file_content(upload),
        content_type="text/csv",
        idempotency_key=None if dry_run else upload["idempotency_key"],
    )


def file_content(upload: dict[str, Any]) -> bytes:
    """The uploaded file's bytes (held in the session as base64: a session is stored as JSON)."""
    return base64.b64decode(upload["content_b64"])


def names_in_file(content: bytes) -> dict[int, str]:
    """Each line's name as the file gives it, to show beside identity's outcome for that line.

    Only for reading the report: identity numbers a CSV's rows by their line, as csv reads them.
    """
    try:
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
        columns = [c.strip().lower() for c in next(reader, [])]
        names = {}
        for cells in reader:
            row = dict(zip(columns, cells, strict=False))
            names[reader.line_num] = f"{row.get('given_name', '')} {row.get('family_name', '')}".strip()
        return names
    except (UnicodeDecodeError, csv.Error):
        return {}


def size_of(n: int) -> str:
    """A file's size as the office reads it (1 MB, 350 KB)."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n / 1024))} KB"


def too_large(size: int, limit: int) -> str:
    return (
        f"The file is {size_of(size)}: the platform takes a roll file of up to {size_of(limit)}. "
        "Export only the columns listed above, or upload the roll in parts (one year group at a time)."
    )


def upload_page(
    ctx: Ctx, errors: dict[str, str] | None = None, status_code: int = 200, mark: bool = False
) -> Response:
    limit = size_of(settings_of(ctx.request).roll_max_bytes)
    return render(
        ctx.request, "roll_upload.html", status_code=status_code, errors=errors, mark=mark, limit=limit
    )


def install(app: FastAPI) -> None:
    @app.get("/roll-import")
    async def roll_upload(ctx: Person) -> Response:
        if not ctx.can(SCOPE):
            # Not offered in the menu; reached by its address, the refusal identity gives the upload.
            problem = problem_body(403, f"This needs the scope {SCOPE}.", slug="insufficient-scope")
            return render(ctx.request, "problem.html", status_code=403, problem=problem)
        return upload_page(ctx)

    @app.post("/roll-import")
    async def roll_dry_run(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        file = form.get("roll")
        content = await file.read() if isinstance(file, UploadFile) else b""
        mark = form.get("mark_absent_as_left") == "yes"
        limit = settings_of(ctx.request).roll_max_bytes
        if len(content) > limit:
            return upload_page(ctx, {"roll": too_large(len(content), limit)}, 413, mark=mark)
        upload: dict[str, Any] = {
            "token": secrets.token_urlsafe(16),
            "filename": file.filename if isinstance(file, UploadFile) else "",
            "content_b64": base64.b64encode(content).decode("ascii"),
            "mark_absent_as_left": mark,
            "idempotency_key": new_idempotency_key(),
        }
        result = await send_roll(ctx, upload, dry_run=True)
        body = result.body if isinstance(result.body, dict) else {}
        if result.status == 413 and str(body.get("type", "")).endswith("/payload-too-large"):
            # The gateway's cap on the import is lower than CONSOLE_ROLL_MAX_BYTES says.
            errors = {"roll": f"The file is {size_of(len(content))}: larger than the platform takes."}
            return upload_page(ctx, errors, 413, mark=mark)
        if result.status in (413, 415, 422):
            # The file as identity refused it: not UTF-8 CSV, a header without the columns, too long.
            errors = {"roll": result.detail or "The platform could not read this file."}
            return upload_page(ctx, errors, result.status, mark=mark)
        if not result.ok:
            return problem_page(ctx.request, result)
        ctx.session.roll_upload = {**upload, "dry_run": result.body, "applied": None}
        return redirect("/roll-import/report")

    @app.get("/roll-import/report")
    async def roll_report(ctx: Person) -> Response:
        upload = ctx.session.roll_upload
        if upload is None:
            return redirect("/roll-import")
        report = upload["applied"] or upload["dry_run"]
        leavers = report["left"]
        names = await names_of(ctx, [str(r["person_id"]) for r in leavers[:NAMED_LEAVERS]])
        return render(
            ctx.request,
            "roll_report.html",
            upload=upload,
            report=report,
            applied=upload["applied"] is not None,
            names=names,
            names_in_file=names_in_file(file_content(upload)),
            statuses=STATUSES,
        )

    @app.post("/roll-import/apply")
    async def roll_apply(ctx: Person) -> Response:
        form = await form_of(ctx.request)
        upload = ctx.session.roll_upload
        if upload is None or not secrets.compare_digest(str(form.get("upload", "")), upload["token"]):
            problem = {
                "title": "This upload is no longer here",
                "detail": "Upload the roll again to see its report before applying it.",
            }
            return render(ctx.request, "problem.html", status_code=409, problem=problem)
        result = await send_roll(ctx, upload, dry_run=False)
        if not result.ok:
            return problem_page(ctx.request, result)
        upload["applied"] = result.body
        counts = result.body["counts"]
        ctx.session.flash = {
            "message": f"Roll applied: {counts['created']} new, {counts['updated']} changed, "
            f"{counts['unchanged']} unchanged, {counts['refused']} refused, {counts['left']} left"
        }
        return redirect("/roll-import/report")
