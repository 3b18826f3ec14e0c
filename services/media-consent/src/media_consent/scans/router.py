"""POST /v1/media-consent/media-scans: report (or remove) what an image's metadata gives away.

The image's header is read first and the image refused (413) if it declares more than the limits;
what decoding it will hold is then taken from the worker's decode budget (scans/budget.py) for the
time of the decoding, or 503 with Retry-After when that does not come free in time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from media_consent import people
from media_consent.config import MediaConsentSettings
from media_consent.scans import service as scan_service
from media_consent.scans.budget import BudgetSpent, DecodeBudget
from media_consent.scans.schemas import FindingRead, MediaScanRead
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import PayloadTooLarge, ProblemError, ServiceUnavailable, Unprocessable

router = APIRouter(prefix="/v1/media-consent", tags=["media scans"])


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
    school_id: CallerSchool,
    strip: Annotated[bool, Query(description="Return the image without its metadata.")] = False,
) -> Response:
    """Report GPS and identifying metadata of a JPEG or PNG; with strip=true, return it without them."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("image/jpeg", "image/png"):
        raise UnsupportedMediaType(
            "Send the image itself as the body, with Content-Type image/jpeg or image/png."
        )
    settings: MediaConsentSettings = request.app.state.settings
    limit = settings.max_scan_bytes
    data = await request.body()
    if len(data) > limit:
        raise PayloadTooLarge(f"The image is larger than {limit} bytes.")
    if not data:
        raise Unprocessable("The body is empty: send the image.", slug="validation-error")
    limits = scan_service.Limits(max_pixels=settings.max_scan_pixels, max_frames=settings.max_scan_frames)
    budget: DecodeBudget = request.app.state.decode_budget
    wait = settings.scan_decode_wait_seconds
    try:
        image = await run_in_threadpool(scan_service.open_image, data, limits, strip=strip)
        cost = scan_service.decode_cost(image, strip=strip)
        if strip:
            async with budget.hold(cost, wait=wait):
                cleaned, media_type = await run_in_threadpool(scan_service.strip, image)
                removed = await run_in_threadpool(scan_service.scan, image, names=[])
            kinds = sorted({f.kind for f in removed.findings})
            return Response(
                cleaned, media_type=media_type, headers={"X-Metadata-Removed": ",".join(kinds) or "none"}
            )
        names = await people.pupil_names(session, school_id)
        async with budget.hold(cost, wait=wait):
            result = await run_in_threadpool(scan_service.scan, image, names=names)
    except scan_service.ImageRefused as exc:
        if exc.too_large:
            raise PayloadTooLarge(exc.reason, slug="image-too-large", extra=exc.limits) from exc
        raise Unprocessable(exc.reason, slug="unreadable-image") from exc
    except BudgetSpent as exc:
        raise ServiceUnavailable(
            "Too many images are being scanned at once: try again shortly.",
            headers={"Retry-After": str(max(1, round(wait)))},
        ) from exc
    body = MediaScanRead(
        format=result.format,
        width=result.width,
        height=result.height,
        has_location=result.has_location,
        is_clean=not result.findings,
        findings=[FindingRead(**f.as_dict()) for f in result.findings],
    )
    return Response(body.model_dump_json(), media_type="application/json")
