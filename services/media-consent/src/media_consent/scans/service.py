"""Image metadata scan: what in a JPEG or PNG could locate or identify a child, and a clean copy.

Policy: "We do not use embedded geo-data in respect of stored images." The image is only ever held
in memory for the request; nothing of it is stored or logged.

Hostile images: a file of a few KB can declare 7000 x 7000 pixels (zlib squeezes a thousand zero
bytes into one), and decoding holds about four bytes a pixel. So `open_image` reads only the header
and refuses by the declared size (width x height x frames) before any pixel is decoded,
`decode_cost` says what decoding will hold (the route holds that much of the worker's budget,
scans/budget.py), and whatever Pillow raises on damaged, truncated or unsupported bytes is an
ImageRefused (a 422), never a 500.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps, IptcImagePlugin

from media_consent.consent.rules import fold, names_appear

log = logging.getLogger("media_consent.scans")

# A multi-picture JPEG (MPO: a phone's HDR gain map or depth map after the picture) is a JPEG here:
# its first picture is the one scanned and returned.
FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}

# EXIF tags that carry free text someone typed (where a child's name turns up).
_TEXT_TAGS: dict[int, str] = {
    ExifTags.Base.ImageDescription: "description",
    ExifTags.Base.XPTitle: "title",
    ExifTags.Base.XPComment: "comment",
    ExifTags.Base.XPSubject: "subject",
    ExifTags.Base.XPKeywords: "keywords",
    ExifTags.Base.UserComment: "user_comment",
}
# EXIF tags that identify a person or a device.
_IDENTIFYING_TAGS: dict[int, tuple[str, str]] = {
    ExifTags.Base.Artist: ("owner_name", "artist"),
    ExifTags.Base.XPAuthor: ("owner_name", "author"),
    ExifTags.Base.Copyright: ("owner_name", "copyright"),
    ExifTags.Base.CameraOwnerName: ("owner_name", "camera_owner_name"),
    ExifTags.Base.BodySerialNumber: ("camera_serial", "body_serial_number"),
    ExifTags.Base.LensSerialNumber: ("camera_serial", "lens_serial_number"),
    ExifTags.Base.ImageUniqueID: ("unique_id", "image_unique_id"),
    ExifTags.Base.HostComputer: ("device_name", "host_computer"),
    ExifTags.Base.MakerNote: ("maker_note", "maker_note"),
}
# XMP and IPTC fields that place the picture.
_XMP_LOCATION = (
    b"GPSLatitude",
    b"GPSLongitude",
    b"LocationShown",
    b"LocationCreated",
    b"photoshop:City",
    b"Iptc4xmpCore:Location",
    b"City>",
    b"Sublocation",
)
_IPTC_LOCATION = {
    (2, 90): "city",
    (2, 92): "sublocation",
    (2, 95): "province_state",
    (2, 101): "country",
    (2, 100): "country_code",
}
_IPTC_TEXT = {(2, 120): "caption", (2, 25): "keywords", (2, 5): "object_name", (2, 105): "headline"}
_IPTC_PEOPLE = {(2, 80): "byline", (2, 116): "copyright_notice"}


class ImageRefused(Exception):
    """Not an image we scan (wrong format, unreadable, too many pixels or frames)."""

    def __init__(self, reason: str, *, too_large: bool = False, limits: dict[str, int] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large
        self.limits = limits or {}


@dataclass(frozen=True, slots=True)
class Limits:
    """What an image may declare: pixels counted over every frame decoded, and frames."""

    max_pixels: int
    max_frames: int


@dataclass
class Finding:
    kind: str
    field: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "field": self.field, "detail": self.detail}


@dataclass
class ScanResult:
    format: str
    width: int
    height: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def has_location(self) -> bool:
        return any(f.kind == "location" for f in self.findings)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        # XP* tags are UTF-16LE; UserComment starts with an 8-byte character-code header.
        if value[:8] in (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"\x00" * 8):
            body = value[8:]
            return body.decode("utf-16" if value[:8] == b"UNICODE\x00" else "latin-1", "replace")
        if len(value) > 1 and value[1:2] == b"\x00":
            return value.decode("utf-16-le", "replace")
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple | list):
        return " ".join(_text(v) for v in value)
    return str(value)


# Pupils' names are looked for in the first this many characters of an image's texts, in all:
# folding non-ASCII text runs in Python, and a PNG's compressed text can unpack to 64 MB.
NAME_TEXT_LIMIT = 250_000


class _NameSearch:
    """The school's pupils' names, looked for in one image's texts up to NAME_TEXT_LIMIT."""

    def __init__(self, names: list[tuple[str, str]]) -> None:
        self.names = names
        self.remaining = NAME_TEXT_LIMIT

    def found_in(self, text: str) -> bool:
        text = text[: self.remaining]
        self.remaining -= len(text)
        if not self.names or not text.strip():
            return False
        folded = fold(text)
        return any(names_appear(folded, given, family) for given, family in self.names)


def _scan_text(field_name: str, text: str, search: _NameSearch, findings: list[Finding]) -> None:
    if search.found_in(text):
        findings.append(Finding("pupil_name", field_name, "the text contains a pupil's name"))


DAMAGED = "The image data is damaged, truncated or of a kind we do not read."


@contextmanager
def _decoding(reason: str = DAMAGED) -> Iterator[None]:
    """Every failure of the decoder is the image's fault: ImageRefused, so a 422.

    Pillow's plugins raise many kinds on hostile bytes (OSError for truncated or broken data,
    SyntaxError for a bad chunk or CRC, ValueError, EOFError, struct.error, zlib.error, IndexError,
    KeyError...), so anything but our own refusal and running out of memory is taken as damage.
    """
    try:
        yield
    except (ImageRefused, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRefused(f"The image declares too many pixels: {exc}", too_large=True) from exc
    except Exception as exc:
        log.info("image refused by the decoder: %s", type(exc).__name__)
        raise ImageRefused(reason) from exc


def _frames(image: ImageFile.ImageFile) -> int:
    """The frames decoding will go through: an animated PNG's declared count (reading its text
    decodes to its last frame); a JPEG's first picture only."""
    return int(getattr(image, "n_frames", 1)) if image.format == "PNG" else 1


def open_image(data: bytes, limits: Limits, *, strip: bool) -> ImageFile.ImageFile:
    """The image with only its header read, refused if what will be decoded is over the limits.

    A JPEG that is only scanned is never decoded (its metadata is all in its header), so a 48 MP
    phone photo is scanned whatever its size; its clean copy (`strip`) decodes it, and is limited.
    """
    with _decoding("The body is not a JPEG or PNG image we can read."):
        try:
            image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
        except Image.DecompressionBombError as exc:  # Pillow's own guard, far above ours
            raise ImageRefused(
                f"{exc} At most {limits.max_pixels} pixels are scanned.",
                too_large=True,
                limits={"max_pixels": limits.max_pixels, "max_frames": limits.max_frames},
            ) from exc
        if image.format not in FORMATS:
            raise ImageRefused(f"A {image.format} image is not one we scan: send a JPEG or PNG.")
        frames = _frames(image)
    declared = {"width": image.width, "height": image.height, "frames": frames}
    refusal = {"max_pixels": limits.max_pixels, "max_frames": limits.max_frames, **declared}
    if frames > limits.max_frames:
        raise ImageRefused(
            f"The image declares {frames} frames; at most {limits.max_frames} are scanned.",
            too_large=True,
            limits=refusal,
        )
    pixels = image.width * image.height * frames
    decoded = strip or image.format == "PNG"
    if decoded and pixels > limits.max_pixels:
        size = f"{image.width}x{image.height}" + (f" in {frames} frames" if frames > 1 else "")
        raise ImageRefused(
            f"The image declares {size}, {pixels} pixels; at most {limits.max_pixels} pixels "
            "(width x height x frames) are scanned.",
            too_large=True,
            limits=refusal,
        )
    return image


def decode_cost(image: ImageFile.ImageFile, *, strip: bool) -> int:
    """The pixels decoding this image will hold at once (0 when nothing is decoded).

    A JPEG's metadata is all in its header. A PNG's text may follow the pixels, so a scan decodes
    them (an animated one to its last frame, over the frame before it); a strip holds the picture
    and its clean copy.
    """
    pixels = image.width * image.height
    if strip or (image.format == "PNG" and _frames(image) > 1):
        return 2 * pixels
    return pixels if image.format == "PNG" else 0


def scan(image: ImageFile.ImageFile, *, names: list[tuple[str, str]]) -> ScanResult:
    """Report location and identifying metadata (and pupils' names in its text)."""
    with _decoding():
        return _scan(image, names)


def _scan(image: ImageFile.ImageFile, names: list[tuple[str, str]]) -> ScanResult:
    search = _NameSearch(names)
    fmt = "JPEG" if FORMATS[str(image.format)] == "image/jpeg" else "PNG"
    result = ScanResult(format=fmt, width=image.width, height=image.height)
    findings = result.findings
    exif = image.getexif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if gps:
        fields = sorted(ExifTags.GPSTAGS.get(k, str(k)) for k in gps)
        findings.append(Finding("location", "exif.gps", "GPS fields: " + ", ".join(fields)))
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for tags in (exif, sub):
        for tag, value in tags.items():
            if tag in _IDENTIFYING_TAGS:
                kind, name = _IDENTIFYING_TAGS[tag]
                findings.append(Finding(kind, f"exif.{name}"))
                if kind == "owner_name":
                    _scan_text(f"exif.{name}", _text(value), search, findings)
            elif tag in _TEXT_TAGS:
                findings.append(Finding("description", f"exif.{_TEXT_TAGS[tag]}"))
                _scan_text(f"exif.{_TEXT_TAGS[tag]}", _text(value), search, findings)
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if xmp:
        raw = xmp if isinstance(xmp, bytes) else str(xmp).encode()
        findings.append(Finding("xmp", "xmp"))
        if any(marker in raw for marker in _XMP_LOCATION):
            findings.append(Finding("location", "xmp", "XMP location fields"))
        _scan_text("xmp", raw.decode("utf-8", "replace"), search, findings)
    if fmt == "JPEG":
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
        for key, value in iptc.items():
            if key in _IPTC_LOCATION:
                findings.append(Finding("location", f"iptc.{_IPTC_LOCATION[key]}"))
            elif key in _IPTC_PEOPLE:
                findings.append(Finding("owner_name", f"iptc.{_IPTC_PEOPLE[key]}"))
                _scan_text(f"iptc.{_IPTC_PEOPLE[key]}", _text(value), search, findings)
            elif key in _IPTC_TEXT:
                findings.append(Finding("description", f"iptc.{_IPTC_TEXT[key]}"))
                _scan_text(f"iptc.{_IPTC_TEXT[key]}", _text(value), search, findings)
        comment = image.info.get("comment")
        if comment:
            findings.append(Finding("description", "jpeg.comment"))
            _scan_text("jpeg.comment", _text(comment), search, findings)
    else:
        for key, value in getattr(image, "text", {}).items():
            if key in ("XML:com.adobe.xmp",):
                continue
            findings.append(Finding("description", f"png.text.{key[:40]}"))
            _scan_text(f"png.text.{key[:40]}", _text(value), search, findings)
    return result


def strip(image: ImageFile.ImageFile) -> tuple[bytes, str]:
    """The same picture without any metadata (orientation applied, colour profile kept)."""
    with _decoding():
        return _strip(image)


def _strip(image: ImageFile.ImageFile) -> tuple[bytes, str]:
    media_type = FORMATS[str(image.format)]
    icc = image.info.get("icc_profile")
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    clean = ImageOps.exif_transpose(image) if orientation not in (None, 1) else image.copy()
    # A copy keeps the original's info (comment, XMP, EXIF) and Pillow writes some of it back on save.
    clean.info = {}
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    if media_type == "image/jpeg":
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        clean.save(out, "JPEG", quality=95, optimize=True, **options)
    else:
        clean.save(out, "PNG", optimize=False, **options)
    return out.getvalue(), media_type
