"""The consent vocabulary and the rules of a check, as pure functions (no database, no I/O).

A pupil may appear only if every rule allows it; the first rule that refuses gives the reason.
Failing closed: anything not known to be allowed is refused.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

Purpose = Literal["mle", "display", "newsletter", "website", "prospectus", "social_media", "press"]
MediaType = Literal["photo", "video"]
Level = Literal["none", "group", "individual"]
Framing = Literal["group", "individual"]

PURPOSES: Final[tuple[str, ...]] = get_args(Purpose)
MEDIA_TYPES: Final[tuple[str, ...]] = get_args(MediaType)
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
# A filename or caption (or the pupil's name) holds characters we cannot read as letters or not: we
# cannot say the name is absent, so the check refuses rather than allows.
NAME_NOT_MATCHABLE = "name_not_matchable"

# Name words shorter than this only match a whole word, never the start or end of a longer one.
MIN_EMBEDDED_NAME = 3


def pair_key(purpose: str, media_type: str) -> str:
    return f"{purpose}/{media_type}"


def all_none() -> dict[str, str]:
    return {pair_key(p, m): "none" for p in PURPOSES for m in MEDIA_TYPES}


# Names are matched in every script, after the same folding of the name and the text: compatibility
# forms (NFKD: full-width letters, ligatures), case (casefold: "ß" is "ss", "İ" is "i"), and marks
# dropped (accents, Arabic and Hebrew vowel points, so "Zoë" is "zoe"), with invisible characters
# (zero-width joiners, direction marks) ignored. Words split at anything not a letter (_ - . digits
# and spaces) and at a lower-to-upper change ("AmySmith"). Some scripts are written without spaces
# between words: in them a name is looked for as a run of letters anywhere in the text.
_UNSPACED: Final[tuple[tuple[int, int], ...]] = (
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul jamo (a Korean syllable, decomposed; particles join the name)
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3021, 0x303C),  # Hangzhou numerals, kana repeat marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul jamo extended A
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK extensions B to H
)
_UNSPACED_STARTS: Final = tuple(start for start, _ in _UNSPACED)
# Marks and invisible formatting: dropped, neither letter nor boundary.
_DROPPED: Final = frozenset({"Mn", "Me", "Cf"})
# Code points we cannot tell a letter from: unassigned (newer than this Unicode), private use, lone
# surrogates. A text or name holding one cannot be cleared of a name. Unassigned code points in the
# blocks of symbols and emoji (a newer emoji in a caption) are no letters.
_UNREADABLE: Final = frozenset({"Cn", "Co", "Cs"})
_SYMBOL_BLOCKS: Final = ((0x2190, 0x2BFF), (0x1F000, 0x1FBFF))
# Latin letters with no decomposition that are written without their stroke in filenames.
_LATIN_BASE: Final = str.maketrans(
    {"ı": "i", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe", "þ": "th"}
)


def _is_unspaced(char: str) -> bool:
    code = ord(char)
    if code < 0x0E00:
        return False
    index = bisect.bisect_right(_UNSPACED_STARTS, code) - 1
    return index >= 0 and code <= _UNSPACED[index][1]


def _finish(run: list[str]) -> str:
    """One run of letters, folded: case folded (which can bring marks back: "İ"), marks dropped."""
    text = "".join(run).casefold()
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if unicodedata.category(c) not in _DROPPED).translate(_LATIN_BASE)


@dataclass(frozen=True, slots=True)
class Folded:
    """A text or a name, folded for matching."""

    words: tuple[str, ...]  # the words of scripts written with spaces
    word_set: frozenset[str]
    runs: tuple[str, ...]  # the runs of letters of scripts written without
    letters: str  # every letter in order, nothing between: where runs are looked for
    unreadable: bool  # holds code points that might be letters we cannot read

    @property
    def is_empty(self) -> bool:
        return not self.words and not self.runs


# The same folding for a text all ASCII (most filenames, captions and XMP), in C.
_ASCII_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")
_ASCII_WORD: Final = re.compile(r"[A-Za-z]+")


def fold(text: str) -> Folded:
    """The words and runs of letters of a text, a filename or a name, in any script."""
    if text.isascii():
        ascii_words = tuple(_ASCII_WORD.findall(_ASCII_CAMEL.sub(" ", text).lower()))
        return Folded(ascii_words, frozenset(ascii_words), (), "".join(ascii_words), unreadable=False)
    pieces: list[tuple[bool, str]] = []  # (written without spaces, folded letters), in order
    run: list[str] = []
    run_unspaced = previous_lower = unreadable = False
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if category in _DROPPED:
            continue
        if category[0] == "L" or category == "Mc":
            unspaced = _is_unspaced(char)
            if run and (unspaced != run_unspaced or (previous_lower and char.isupper())):
                pieces.append((run_unspaced, _finish(run)))
                run = []
            run.append(char)
            run_unspaced, previous_lower = unspaced, char.islower()
            continue
        if category in _UNREADABLE and not any(low <= ord(char) <= high for low, high in _SYMBOL_BLOCKS):
            unreadable = True
        if run:
            pieces.append((run_unspaced, _finish(run)))
            run = []
        previous_lower = False
    if run:
        pieces.append((run_unspaced, _finish(run)))
    words = tuple(p for unspaced, p in pieces if not unspaced)
    return Folded(
        words=words,
        word_set=frozenset(words),
        runs=tuple(p for unspaced, p in pieces if unspaced),
        letters="".join(p for _, p in pieces),
        unreadable=unreadable,
    )


@functools.lru_cache(maxsize=16384)
def _name(given_name: str, family_name: str) -> tuple[Folded, Folded]:
    """A pupil's names, folded once (the consent check asks about the same pupils all day)."""
    return fold(given_name), fold(family_name)


def _is_word_of(part: str, text: Folded) -> bool:
    """The name word is a word of the text, or (three letters or more) begins or ends one."""
    if part not in text.letters:  # the quick answer, nearly always: every way to match implies it
        return False
    if len(part) < MIN_EMBEDDED_NAME:
        return part in text.word_set
    return any(w == part or w.startswith(part) or w.endswith(part) for w in text.words)


def _is_in(name: Folded, text: Folded) -> bool:
    """Any word of the name is a word of the text, or any run of it is in the text's letters."""
    return any(_is_word_of(w, text) for w in name.words) or any(r in text.letters for r in name.runs)


def _as_text(text: str | Folded) -> Folded:
    return text if isinstance(text, Folded) else fold(text)


def _unmatchable(text: Folded, given: Folded, family: Folded, given_name: str, family_name: str) -> bool:
    """We could not tell whether this name is in the text: a name part of nothing we read as
    letters, or code points in either that might be letters we cannot read."""
    blank = (given.is_empty and given_name.strip()) or (family.is_empty and family_name.strip())
    return bool(blank) or text.unreadable or given.unreadable or family.unreadable


def name_in_filename(filename: str | Folded, given_name: str, family_name: str) -> bool:
    """Whether a pupil's given or family name (or any part of it) appears in a filename.

    "amy_smith.jpg", "AmySmith.jpg", "amysmith1.jpg", "анна_2026.jpg" and "IMG_王小明.png" all name
    their pupil; a word that starts or ends with a name word of three letters or more counts, and a
    name in a script written without spaces counts anywhere, so this errs on refusing.
    """
    text = _as_text(filename)
    given, family = _name(given_name, family_name)
    return _is_in(given, text) or _is_in(family, text)


def _words_in_sequence(name: Sequence[str], words: Sequence[str]) -> bool:
    """The name's words side by side in the text, each a word or (three letters or more) the start
    or end of one."""
    n = len(name)
    for i in range(len(words) - n + 1):
        for part, word in zip(name, words[i : i + n], strict=True):
            if not (
                word == part
                or (len(part) >= MIN_EMBEDDED_NAME and (word.startswith(part) or word.endswith(part)))
            ):
                break
        else:
            return True
    return False


def full_name_in_caption(caption: str | Folded, given_name: str, family_name: str) -> bool:
    """Whether a caption names a pupil in full: the given and the family name together, in either
    order ("Anna Ivanova", "Иванова Анна", "王小明"). A pupil known by one name is named in full by it."""
    text = _as_text(caption)
    given, family = _name(given_name, family_name)
    if given.is_empty or family.is_empty:
        return _is_in(given, text) or _is_in(family, text)
    letters = text.letters
    if not all(part in letters for part in given.words + given.runs + family.words + family.runs):
        return False  # the quick answer, nearly always
    if given.runs or family.runs:
        return given.letters + family.letters in letters or family.letters + given.letters in letters
    return _words_in_sequence(given.words + family.words, text.words) or _words_in_sequence(
        family.words + given.words, text.words
    )


def names_appear(text: str | Folded, given_name: str, family_name: str) -> bool:
    """Whether a pupil's given or family name appears whole in a text (every word of it a word of
    the text, every run of it in the text): what a metadata scan reports."""
    folded = _as_text(text)
    found = folded.word_set
    return any(
        not part.is_empty
        and all(w in found for w in part.words)
        and all(r in folded.letters for r in part.runs)
        for part in _name(given_name, family_name)
    )


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
    filename: str | Folded | None = None,
    caption: str | Folded | None = None,
) -> str | None:
    """The reason this pupil may not appear, or None when they may.

    `filename` and `caption` may come folded (`fold`), as a check of many pupils does once."""
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
    given_name, family_name = facts.given_name, facts.family_name
    if filename:
        text = _as_text(filename)
        if name_in_filename(text, given_name, family_name):
            return NAME_IN_FILENAME
        if _unmatchable(text, *_name(given_name, family_name), given_name, family_name):
            return NAME_NOT_MATCHABLE
    if caption and purpose not in INSIDE_SCHOOL_PURPOSES:
        text = _as_text(caption)
        if full_name_in_caption(text, given_name, family_name):
            return FULL_NAME_IN_CAPTION
        if _unmatchable(text, *_name(given_name, family_name), given_name, family_name):
            return NAME_NOT_MATCHABLE
    return None
