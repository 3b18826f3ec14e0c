"""Image scans: GPS and identifying metadata reported, and removed on request; the image never kept."""

from __future__ import annotations

import io

import httpx
from PIL import ExifTags, Image, PngImagePlugin

from tests.media_consent.conftest import BASE, School


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
    headers = {**await school.as_role("teacher"), "Content-Type": content_type}
    return await client.post(f"{BASE}/media-scans", content=data, headers=headers, params=params)


async def test_a_jpeg_with_location_and_identifying_metadata(
    client: httpx.AsyncClient, school: School
) -> None:
    await school.pupil("Amy", "Khan")
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
    await other_school.pupil("Amy", "Khan")
    report = (await scan(client, school, jpeg_with_metadata(), "image/jpeg")).json()
    assert "pupil_name" not in {f["kind"] for f in report["findings"]}
    await school.pupil("Ben", "Cole")
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
    parent = school.as_parent(await school.carer(await school.pupil()))
    response = await client.post(
        f"{BASE}/media-scans", content=clean_png(), headers={**parent, "Content-Type": "image/png"}
    )
    assert response.status_code == 403


async def test_a_pupils_name_in_any_script_is_found_in_the_metadata(
    client: httpx.AsyncClient, school: School
) -> None:
    await school.pupil("Анна", "Иванова")
    await school.pupil("小明", "王")
    for text in ("Анна на празднике", "ИВАНОВА, 3 класс", "王小明的画"):
        info = PngImagePlugin.PngInfo()
        info.add_itxt("Description", text)
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, "PNG", pnginfo=info)
        report = (await scan(client, school, out.getvalue(), "image/png")).json()
        assert ("pupil_name", "png.text.Description") in {
            (f["kind"], f["field"]) for f in report["findings"]
        }, text
