"""The answer of an image metadata scan."""

from __future__ import annotations

from pydantic import BaseModel


class FindingRead(BaseModel):
    kind: str
    field: str
    detail: str


class MediaScanRead(BaseModel):
    format: str
    width: int
    height: int
    has_location: bool
    is_clean: bool
    findings: list[FindingRead]
