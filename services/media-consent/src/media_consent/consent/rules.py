"""The consent vocabulary and the rules of a check, as pure functions (no database, no I/O).

A pupil may appear only if every rule allows it; the first rule that refuses gives the reason.
Failing closed: anything not known to be allowed is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

Purpose = Literal["mle", "display", "newsletter", "website", "prospectus", "social_media", "press"]
MediaType = Literal["photo", "video"]
Level = Literal["none", "group", "individual"]
Framing = Literal["group", "individual"]

PURPOSES: Final[tuple[str, ...]] = (
    "mle",
    "display",
    "newsletter",
    "website",
    "prospectus",
    "social_media",
    "press",
)
MEDIA_TYPES: Final[tuple[str, ...]] = ("photo", "video")
LEVEL_RANK: Final[dict[str, int]] = {"none": 0, "group": 1, "individual": 2}
# Only the school's own learning platform is seen by the school community alone; everything else
# (a display on the school site is seen by visitors too) counts as seen outside the school.
INSIDE_SCHOOL_PURPOSES: Final = frozenset({"mle"})

# Deny reasons, as the check answers them.
UNKNOWN_PUPIL = "unknown_pupil"  # no such pupil in the caller's school (another school's looks the same)
NOT_ON_ROLL = "not_on_roll"
RESTRICTED = "restricted"
NO_RECORD = "no_record"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"
LEVEL_TOO_LOW = "level_too_low"
NAME_IN_FILENAME = "name_in_filename"
FULL_NAME_IN_CAPTION = "full_name_in_caption"

# Name parts shorter than this only match a whole word of a filename, never part of a run of letters.
MIN_EMBEDDED_NAME = 3


def pair_key(purpose: str, media_type: str) -> str:
    return f"{purpose}/{media_type}"


def all_none() -> dict[str, str]:
    return {pair_key(p, m): "none" for p in PURPOSES for m in MEDIA_TYPES}


def _fold(text: str) -> str:
    """Lower case without accents: "Zoë" and "zoe" match."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """The words of a text or filename: letters only, split at case changes and any other character."""
    return _WORD.findall(_fold(_CAMEL.sub(" ", text)))


def name_in_filename(filename: str, given_name: str, family_name: str) -> bool:
    """Whether a pupil's given or family name (or any part of it) appears in a filename.

    "amy_smith.jpg", "AmySmith.jpg" and "amysmith1.jpg" all name Amy Smith; a run of letters that
    starts or ends with a name part of three letters or more counts, so this errs on refusing.
    """
    tokens = words(filename)
    parts = {p for p in words(given_name) + words(family_name) if p}
    for part in parts:
        for token in tokens:
            if token == part:
                return True
            if len(part) >= MIN_EMBEDDED_NAME and (token.startswith(part) or token.endswith(part)):
                return True
    return False


def full_name_in_caption(caption: str, given_name: str, family_name: str) -> bool:
    """Whether a caption names a pupil in full: the given name followed by the family name."""
    full = words(given_name) + words(family_name)
    if not full or not words(family_name) or not words(given_name):
        return False
    text = words(caption)
    n = len(full)
    return any(text[i : i + n] == full for i in range(len(text) - n + 1))


@dataclass(frozen=True, slots=True)
class PupilFacts:
    """What one read of the local database tells about a pupil, for one check."""

    school_id: object
    kind: str
    is_on_roll: bool
    given_name: str
    family_name: str
    version: int | None
    grants: dict[str, str] | None
    withdrawn_purposes: list[str] | None
    valid_until: date | None
    is_restricted: bool


def evaluate(
    facts: PupilFacts | None,
    *,
    school_id: object,
    purpose: str,
    media_type: str,
    framing: str,
    today: date,
    filename: str | None = None,
    caption: str | None = None,
) -> str | None:
    """The reason this pupil may not appear, or None when they may."""
    if facts is None or facts.kind != "pupil" or facts.school_id != school_id:
        return UNKNOWN_PUPIL
    if not facts.is_on_roll:
        return NOT_ON_ROLL
    if facts.is_restricted:
        return RESTRICTED
    if facts.version is None or facts.grants is None:
        return NO_RECORD
    level = facts.grants.get(pair_key(purpose, media_type), "none")
    if level == "none" and purpose in (facts.withdrawn_purposes or ()):
        return WITHDRAWN
    if facts.valid_until is not None and today > facts.valid_until:
        return EXPIRED
    if LEVEL_RANK.get(level, 0) < LEVEL_RANK[framing]:
        return LEVEL_TOO_LOW
    if filename and name_in_filename(filename, facts.given_name, facts.family_name):
        return NAME_IN_FILENAME
    if (
        caption
        and purpose not in INSIDE_SCHOOL_PURPOSES
        and full_name_in_caption(caption, facts.given_name, facts.family_name)
    ):
        return FULL_NAME_IN_CAPTION
    return None
