"""The image scan fuzzed through the real app: mutated JPEG, PNG (still and animated), GIF and WebP
bytes and random bytes, under every content type, scanned and stripped. Whatever arrives, the answer
is never a 5xx: an image we read is 200, anything else a problem+json 4xx. Deterministic (derandomised,
no example database) so every run tries the same cases."""

from __future__ import annotations

import io

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from tests.media_consent.test_scans import animated_png, jpeg_with_metadata, png_with_text, scan
from tests.world import School


def _saved(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (120, 30, 200)).save(out, fmt, **options)
    return out.getvalue()


def _png_with_text_after_the_pixels() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Comment", "Анна Иванова", zip=True)
    out = io.BytesIO()
    Image.new("RGBA", (16, 16)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


SEEDS = [
    jpeg_with_metadata(),
    png_with_text(),
    _png_with_text_after_the_pixels(),
    animated_png(3),
    _saved("GIF"),
    _saved("WEBP"),
    _saved("JPEG", progressive=True),
    _saved("PNG", bits=4),
]
CONTENT_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed image with a few bytes flipped, cut, inserted or repeated; or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["flip", "set", "cut", "insert", "repeat", "truncate"])):
            case "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "set":
                data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
            case "cut":
                del data[at : at + draw(st.integers(1, 64))]
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=32))
            case "repeat":
                data[at:at] = data[at : at + draw(st.integers(1, 64))]
            case "truncate":
                del data[max(at, 1) :]
        if not data:
            data = bytearray(b"\x00")
    return bytes(data)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated(), content_type=st.sampled_from(CONTENT_TYPES), strip=st.booleans())
async def test_no_image_makes_the_scan_fail(
    client: httpx.AsyncClient, school: School, data: bytes, content_type: str, strip: bool
) -> None:
    response = await scan(client, school, data, content_type, strip=str(strip).lower())
    assert response.status_code < 500, (response.status_code, response.text, data[:64])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        assert response.status_code in (413, 415, 422), response.text
