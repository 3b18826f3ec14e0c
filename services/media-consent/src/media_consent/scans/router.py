"""POST /v1/media-consent/media-scans: report (or remove) what an image's metadata gives away."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from media_consent.consent.dependencies import school_of
from media_consent.scans import service as scan_service
from media_consent.scans.schemas import FindingRead, MediaScanRead
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import PayloadTooLarge, ProblemError, Unprocessable
from servicekit.models import ReplicaPerson

router = APIRouter(prefix="/v1/media-consent", tags=["media scans"])

MAX_PIXELS = 50_000_000


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


@router.post(
    "/media-scans",
    response_model=MediaScanRead,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def scan_media(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:check")],
    strip: Annotated[bool, Query(description="Return the image without its metadata.")] = False,
) -> Response:
    """Report GPS and identifying metadata of a JPEG or PNG; with strip=true, return it without them."""
    school_id = school_of(principal)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("image/jpeg", "image/png"):
        raise UnsupportedMediaType(
            "Send the image itself as the body, with Content-Type image/jpeg or image/png."
        )
    limit: int = request.app.state.settings.max_scan_bytes
    data = await request.body()
    if len(data) > limit:
        raise PayloadTooLarge(f"The image is larger than {limit} bytes.")
    if not data:
        raise Unprocessable("The body is empty: send the image.", slug="validation-error")
    try:
        if strip:
            cleaned, media_type = await run_in_threadpool(scan_service.strip, data, max_pixels=MAX_PIXELS)
            removed = await run_in_threadpool(scan_service.scan, data, names=[], max_pixels=MAX_PIXELS)
            kinds = sorted({f.kind for f in removed.findings})
            return Response(
                cleaned, media_type=media_type, headers={"X-Metadata-Removed": ",".join(kinds) or "none"}
            )
        names = [
            (given, family)
            for given, family in (
                await session.execute(
                    select(ReplicaPerson.given_name, ReplicaPerson.family_name).where(
                        ReplicaPerson.school_id == school_id,
                        ReplicaPerson.kind == "pupil",
                        ReplicaPerson.is_on_roll.is_(True),
                    )
                )
            ).all()
        ]
        result = await run_in_threadpool(scan_service.scan, data, names=names, max_pixels=MAX_PIXELS)
    except scan_service.ImageRefused as exc:
        if exc.too_large:
            raise PayloadTooLarge(exc.reason) from exc
        raise Unprocessable(exc.reason, slug="unreadable-image") from exc
    body = MediaScanRead(
        format=result.format,
        width=result.width,
        height=result.height,
        has_location=result.has_location,
        is_clean=not result.findings,
        findings=[FindingRead(**f.as_dict()) for f in result.findings],
    )
    return Response(body.model_dump_json(), media_type="application/json")
