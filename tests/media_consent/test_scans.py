"""Image scans: GPS and identifying metadata reported, and removed on request; the image never kept.
An image is refused by what its header declares before a pixel is decoded, decoding shares one
budget, and a damaged image is a 422."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import zlib

import httpx
import pytest
from PIL import ExifTags, Image, ImageFile, PngImagePlugin

from media_consent.config import MediaConsentSettings
from media_consent.scans import service as scan_service
from media_consent.scans.budget import DecodeBudget
from tests.media_consent.conftest import BASE
from tests.world import School


def jpeg_with_metadata(description: str = "Amy Khan at sports day") -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = description
    exif[ExifTags.Base.Artist] = "Pat Office"
    exif[ExifTags.Base.Orientation] = 6
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.BodySerialNumber] = "SN-0042"
    sub[ExifTags.Base.CameraOwnerName] = "Pat Office"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 32.0, 10.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 2.0, 5.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"taken by Pat")
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "Ben Cole's painting")
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def clean_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG")
    return out.getvalue()


async def scan(client: httpx.AsyncClient, school: School, data: bytes, content_type: str, **params: str):
    headers = {**school.headers("teacher"), "Content-Type": content_type}
    return await client.post(f"{BASE}/media-scans", content=data, headers=headers, params=params)


async def test_a_jpeg_with_location_and_identifying_metadata(
    client: httpx.AsyncClient, school: School
) -> None:
    await school.add_pupil("Amy", "Khan")
    response = await scan(client, school, jpeg_with_metadata(), "image/jpeg")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    report = response.json()
    assert report["has_location"] is True
    assert report["is_clean"] is False
    found = {(f["kind"], f["field"]) for f in report["findings"]}
    assert ("location", "exif.gps") in found
    assert ("camera_serial", "exif.body_serial_number") in found
    assert ("owner_name", "exif.camera_owner_name") in found
    assert ("pupil_name", "exif.description") in found
    assert ("description", "jpeg.comment") in found


async def test_a_pupils_name_is_found_only_for_this_schools_pupils(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    await other_school.add_pupil("Amy", "Khan")
    report = (await scan(client, school, jpeg_with_metadata(), "image/jpeg")).json()
    assert "pupil_name" not in {f["kind"] for f in report["findings"]}
    await school.add_pupil("Ben", "Cole")
    png = (await scan(client, school, png_with_text(), "image/png")).json()
    assert ("pupil_name", "png.text.Description") in {(f["kind"], f["field"]) for f in png["findings"]}


async def test_strip_returns_the_image_without_metadata(client: httpx.AsyncClient, school: School) -> None:
    response = await scan(client, school, jpeg_with_metadata(), "image/jpeg", strip="true")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert "location" in response.headers["x-metadata-removed"]
    stripped = Image.open(io.BytesIO(response.content))
    assert stripped.size == (48, 64)  # the orientation was applied before the tag was dropped
    assert not stripped.getexif()
    assert "comment" not in stripped.info
    rescan = (await scan(client, school, response.content, "image/jpeg")).json()
    assert rescan["is_clean"] is True, rescan
    png = await scan(client, school, png_with_text(), "image/png", strip="true")
    assert png.headers["content-type"] == "image/png"
    assert (await scan(client, school, png.content, "image/png")).json()["is_clean"] is True


async def test_a_clean_image_is_clean(client: httpx.AsyncClient, school: School) -> None:
    report = (await scan(client, school, clean_png(), "image/png")).json()
    assert report == {
        "format": "PNG",
        "width": 10,
        "height": 10,
        "has_location": False,
        "is_clean": True,
        "findings": [],
    }


async def test_what_is_not_a_jpeg_or_png_is_refused(client: httpx.AsyncClient, school: School, app) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    assert (await scan(client, school, gif.getvalue(), "image/gif")).status_code == 415
    assert (await scan(client, school, gif.getvalue(), "image/png")).status_code == 422
    assert (await scan(client, school, b"\xff\xd8\xff garbage", "image/jpeg")).status_code == 422
    assert (await scan(client, school, b"", "image/jpeg")).status_code == 422
    app.state.settings.max_scan_bytes = 100
    assert (await scan(client, school, jpeg_with_metadata(), "image/jpeg")).status_code == 413


async def test_scans_need_a_token_with_the_check_scope(client: httpx.AsyncClient, school: School) -> None:
    response = await client.post(
        f"{BASE}/media-scans", content=clean_png(), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 401
    parent = school.headers("parent", person_id=await school.add_carer(await school.add_pupil()))
    response = await client.post(
        f"{BASE}/media-scans", content=clean_png(), headers={**parent, "Content-Type": "image/png"}
    )
    assert response.status_code == 403


async def test_a_pupils_name_in_any_script_is_found_in_the_metadata(
    client: httpx.AsyncClient, school: School
) -> None:
    await school.add_pupil("Анна", "Иванова")
    await school.add_pupil("小明", "王")
    for text in ("Анна на празднике", "ИВАНОВА, 3 класс", "王小明的画"):
        info = PngImagePlugin.PngInfo()
        info.add_itxt("Description", text)
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, "PNG", pnginfo=info)
        report = (await scan(client, school, out.getvalue(), "image/png")).json()
        assert ("pupil_name", "png.text.Description") in {
            (f["kind"], f["field"]) for f in report["findings"]
        }, text


async def test_the_names_are_looked_for_in_a_bounded_amount_of_text(
    client: httpx.AsyncClient, school: School, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PNG's compressed text can unpack to 64 MB; names are looked for in its first 250 000 characters."""
    await school.add_pupil("Анна", "Иванова")
    info = PngImagePlugin.PngInfo()
    for n in range(4):
        info.add_itxt(f"Comment{n}", "Анна Иванова " * 10_000 if n == 0 else "слово " * 30_000, zip=True)
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG", pnginfo=info)
    folded: list[int] = []
    real_fold = scan_service.fold

    def counting_fold(text: str) -> object:
        folded.append(len(text))
        return real_fold(text)

    monkeypatch.setattr(scan_service, "fold", counting_fold)
    report = await scan(client, school, out.getvalue(), "image/png")
    assert report.status_code == 200, report.text
    assert ("pupil_name", "png.text.Comment0") in {(f["kind"], f["field"]) for f in report.json()["findings"]}
    assert sum(folded) == scan_service.NAME_TEXT_LIMIT


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 7000, height: int = 7000) -> bytes:
    """A valid 1-bit PNG declaring width x height: every row zero, which zlib squeezes to nothing."""
    rows = zlib.compress(b"\x00" * ((1 + (width + 7) // 8) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    )


def animated_png(frames: int, size: tuple[int, int] = (20, 20)) -> bytes:
    images = [Image.new("RGB", size, (10 * n, 0, 0)) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "PNG", save_all=True, append_images=images[1:], duration=100)
    return out.getvalue()


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("strip", ["false", "true"])
async def test_a_tiny_png_declaring_49_megapixels_is_refused_before_decoding(
    client: httpx.AsyncClient, school: School, monkeypatch: pytest.MonkeyPatch, strip: str
) -> None:
    bomb = huge_png()
    assert len(bomb) < 50_000  # decoded, it would hold 49 million pixels
    no_decoding(monkeypatch)
    response = await scan(client, school, bomb, "image/png", strip=strip)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:esafety:problem:image-too-large"
    assert "7000x7000" in problem["detail"] and "25000000" in problem["detail"], problem
    assert (problem["width"], problem["height"], problem["frames"]) == (7000, 7000, 1)
    assert problem["max_pixels"] == 25_000_000


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(jpeg_with_metadata())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


async def test_a_48_megapixel_phone_photo_is_scanned_and_only_its_clean_copy_is_limited(
    client: httpx.AsyncClient, school: School, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = jpeg_declaring(8000, 6000)
    no_decoding(monkeypatch)  # a JPEG's metadata is in its header: a scan decodes nothing
    scanned = await scan(client, school, photo, "image/jpeg")
    assert scanned.status_code == 200, scanned.text
    assert (scanned.json()["width"], scanned.json()["height"]) == (8000, 6000)
    assert "location" in {f["kind"] for f in scanned.json()["findings"]}
    stripped = await scan(client, school, photo, "image/jpeg", strip="true")
    assert stripped.status_code == 413, stripped.text
    assert stripped.json()["type"] == "urn:esafety:problem:image-too-large"


async def test_an_animated_png_is_refused_by_its_declared_frames(
    client: httpx.AsyncClient, school: School, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_decoding(monkeypatch)
    app.state.settings.max_scan_frames = 4
    many = await scan(client, school, animated_png(5), "image/png")
    assert many.status_code == 413, many.text
    assert "5 frames" in many.json()["detail"] and many.json()["max_frames"] == 4
    # Every frame counts against the pixels: 4 frames of 20 x 20 are 1600.
    app.state.settings.max_scan_pixels = 1599
    frames = await scan(client, school, animated_png(4), "image/png")
    assert frames.status_code == 413, frames.text
    assert "20x20 in 4 frames, 1600 pixels" in frames.json()["detail"]


async def test_an_animated_png_within_the_limits_is_scanned(
    client: httpx.AsyncClient, school: School
) -> None:
    report = await scan(client, school, animated_png(3), "image/png")
    assert report.status_code == 200, report.text
    assert report.json()["is_clean"] is True
    stripped = await scan(client, school, animated_png(3), "image/png", strip="true")
    assert stripped.status_code == 200, stripped.text
    assert Image.open(io.BytesIO(stripped.content)).size == (20, 20)


def damaged_images() -> dict[str, bytes]:
    png = png_with_text()
    jpeg = jpeg_with_metadata()
    idat = png.index(b"IDAT")
    flipped = bytearray(png)
    flipped[idat + 6] ^= 0xFF
    rows = zlib.compress(b"\x00" * 11 * 10)
    header = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)
    bad_crc = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows)[:-4] + b"\0\0\0\0"
    return {
        "truncated png": png[: len(png) // 2],
        "png cut after its header": png[:40],
        "png with a broken data stream": bytes(flipped),
        "png with a bad checksum": bad_crc + png_chunk(b"IEND", b""),
        "png without its data": png[: idat - 4] + png_chunk(b"IEND", b""),
        "truncated jpeg": jpeg[: len(jpeg) // 2],
        "jpeg with garbage after its start": b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4,
    }


@pytest.mark.parametrize("name", list(damaged_images()))
@pytest.mark.parametrize("strip", ["false", "true"])
async def test_a_damaged_image_is_422_never_500(
    client: httpx.AsyncClient, school: School, name: str, strip: str
) -> None:
    data = damaged_images()[name]
    content_type = "image/jpeg" if "jpeg" in name else "image/png"
    response = await scan(client, school, data, content_type, strip=strip)
    assert response.status_code == 422, (name, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:esafety:problem:unreadable-image"


async def test_a_multi_picture_jpeg_is_a_jpeg(client: httpx.AsyncClient, school: School) -> None:
    """A phone's JPEG with a gain map or depth map after the picture (MPO): the first picture is it."""
    out = io.BytesIO()
    picture, gain_map = Image.new("RGB", (64, 48), (200, 0, 0)), Image.new("L", (32, 24))
    picture.save(out, "MPO", save_all=True, append_images=[gain_map])
    report = await scan(client, school, out.getvalue(), "image/jpeg")
    assert report.status_code == 200, report.text
    assert report.json()["format"] == "JPEG"
    stripped = await scan(client, school, out.getvalue(), "image/jpeg", strip="true")
    assert stripped.status_code == 200, stripped.text
    assert stripped.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(stripped.content)).size == (64, 48)


async def test_decoding_shares_one_budget_and_a_scan_that_cannot_wait_is_503(
    client: httpx.AsyncClient, school: School, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many scans at once cannot hold more decoded pixels than the worker's budget: one that finds
    it spent waits its turn, a bounded time, then is 503 with Retry-After."""
    image = clean_png()  # 10 x 10: a strip holds 200 pixels (the picture and its clean copy)
    app.state.decode_budget = DecodeBudget(300)
    decoding, finish = threading.Event(), threading.Event()
    real_strip = scan_service.strip

    def held_strip(image: ImageFile.ImageFile) -> tuple[bytes, str]:
        decoding.set()  # held while decoding, until the test lets it finish
        assert finish.wait(10)
        return real_strip(image)

    monkeypatch.setattr(scan_service, "strip", held_strip)
    first = asyncio.ensure_future(scan(client, school, image, "image/png", strip="true"))
    assert await asyncio.to_thread(decoding.wait, 10)
    assert app.state.decode_budget.in_use == 200
    app.state.settings.scan_decode_wait_seconds = 0
    refused = await scan(client, school, image, "image/png", strip="true")
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    # A JPEG's metadata needs no decoding: it is scanned while the budget is spent.
    assert (await scan(client, school, jpeg_with_metadata(), "image/jpeg")).status_code == 200
    # With time to wait, the next one is let in when the first is done.
    app.state.settings.scan_decode_wait_seconds = 30
    second = asyncio.ensure_future(scan(client, school, image, "image/png", strip="true"))
    for _ in range(10_000):
        if app.state.decode_budget.waiting:
            break
        await asyncio.sleep(0)
    assert app.state.decode_budget.waiting == 1
    finish.set()
    assert (await first).status_code == 200
    assert (await second).status_code == 200
    assert app.state.decode_budget.in_use == 0


async def test_a_scan_that_leaves_while_waiting_takes_nothing_from_the_budget() -> None:
    budget = DecodeBudget(100)

    async def decode() -> None:
        async with budget.hold(60, wait=30):
            pass

    async def until_waiting() -> None:
        for _ in range(1000):
            if budget.waiting:
                return
            await asyncio.sleep(0)

    for cancelled_after_grant in (False, True):
        async with budget.hold(100, wait=0):
            waiter = asyncio.ensure_future(decode())
            await until_waiting()
            assert budget.waiting == 1
            if not cancelled_after_grant:
                waiter.cancel()  # the client left while waiting
        if cancelled_after_grant:
            waiter.cancel()  # granted as the first finished, cancelled before it ran
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (budget.in_use, budget.waiting) == (0, 0)


def test_the_budget_holds_at_least_one_strip_of_the_largest_image() -> None:
    with pytest.raises(ValueError, match="at least 2 x max_scan_pixels"):
        MediaConsentSettings(
            environment="test", max_scan_pixels=40_000_000, scan_decode_budget_pixels=64_000_000
        )
