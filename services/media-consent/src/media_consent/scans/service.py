"""Image metadata scan: what in a JPEG or PNG could locate or identify a child, and a clean copy.

Policy: "We do not use embedded geo-data in respect of stored images." The image is only ever held
in memory for the request; nothing of it is stored or logged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps, IptcImagePlugin, UnidentifiedImageError

from media_consent.consent.rules import names_appear

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}

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
    """Not an image we scan (wrong format, unreadable, too many pixels)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


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


def _scan_text(field_name: str, text: str, names: list[tuple[str, str]], findings: list[Finding]) -> None:
    if text.strip() and any(names_appear(text, given, family) for given, family in names):
        findings.append(Finding("pupil_name", field_name, "the text contains a pupil's name"))


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageRefused("The body is not a JPEG or PNG image we can read.") from exc
    if image.width * image.height > max_pixels:
        raise ImageRefused(f"The image has more than {max_pixels} pixels.", too_large=True)
    return image


def scan(data: bytes, *, names: list[tuple[str, str]], max_pixels: int) -> ScanResult:
    """Report location and identifying metadata (and pupils' names in its text)."""
    image = _open(data, max_pixels)
    result = ScanResult(format=str(image.format), width=image.width, height=image.height)
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
                    _scan_text(f"exif.{name}", _text(value), names, findings)
            elif tag in _TEXT_TAGS:
                findings.append(Finding("description", f"exif.{_TEXT_TAGS[tag]}"))
                _scan_text(f"exif.{_TEXT_TAGS[tag]}", _text(value), names, findings)
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if xmp:
        raw = xmp if isinstance(xmp, bytes) else str(xmp).encode()
        findings.append(Finding("xmp", "xmp"))
        if any(marker in raw for marker in _XMP_LOCATION):
            findings.append(Finding("location", "xmp", "XMP location fields"))
        _scan_text("xmp", raw.decode("utf-8", "replace"), names, findings)
    if image.format == "JPEG":
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
        for key, value in iptc.items():
            if key in _IPTC_LOCATION:
                findings.append(Finding("location", f"iptc.{_IPTC_LOCATION[key]}"))
            elif key in _IPTC_PEOPLE:
                findings.append(Finding("owner_name", f"iptc.{_IPTC_PEOPLE[key]}"))
                _scan_text(f"iptc.{_IPTC_PEOPLE[key]}", _text(value), names, findings)
            elif key in _IPTC_TEXT:
                findings.append(Finding("description", f"iptc.{_IPTC_TEXT[key]}"))
                _scan_text(f"iptc.{_IPTC_TEXT[key]}", _text(value), names, findings)
        comment = image.info.get("comment")
        if comment:
            findings.append(Finding("description", "jpeg.comment"))
            _scan_text("jpeg.comment", _text(comment), names, findings)
    else:
        for key, value in getattr(image, "text", {}).items():
            if key in ("XML:com.adobe.xmp",):
                continue
            findings.append(Finding("description", f"png.text.{key[:40]}"))
            _scan_text(f"png.text.{key[:40]}", _text(value), names, findings)
    return result


def strip(data: bytes, *, max_pixels: int) -> tuple[bytes, str]:
    """The same picture without any metadata (orientation applied, colour profile kept)."""
    image = _open(data, max_pixels)
    fmt = str(image.format)
    icc = image.info.get("icc_profile")
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        clean = ImageOps.exif_transpose(image) if orientation not in (None, 1) else image.copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused("The image data is damaged.") from exc
    # A copy keeps the original's info (comment, XMP, EXIF) and Pillow writes some of it back on save.
    clean.info = {}
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    try:
        if fmt == "JPEG":
            if clean.mode not in ("RGB", "L", "CMYK"):
                clean = clean.convert("RGB")
            clean.save(out, "JPEG", quality=95, optimize=True, **options)
        else:
            clean.save(out, "PNG", optimize=False, **options)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused("The image data is damaged.") from exc
    return out.getvalue(), FORMATS[fmt]
