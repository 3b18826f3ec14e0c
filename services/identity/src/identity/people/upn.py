"""The DfE Unique Pupil Number (UPN) check letter.

A UPN is 13 characters: a check letter, then 12 characters (LA code, establishment number, year of
allocation, serial number). The last is a digit, or a letter in a temporary UPN. The check letter is
computed from characters 2 to 13: each is given a value (a digit its own, a letter its place in the
check alphabet below), multiplied by its position (2 to 13); the sum modulo 23 picks the letter.
"""

from __future__ import annotations

# The DfE check alphabet: 23 letters, without I, O and S (too easily read as 1, 0 and 5).
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def check_letter(body: str) -> str:
    """The check letter of the 12 characters after it (11 digits, then a digit or a letter)."""
    if len(body) != 12 or not body[:11].isdigit() or not body[:11].isascii():
        raise ValueError("a UPN body is 11 digits then a digit or a check-alphabet letter")
    total = 0
    for position, char in enumerate(body, start=2):
        if char.isascii() and char.isdigit():
            value = int(char)
        elif char in CHECK_LETTERS:
            value = CHECK_LETTERS.index(char)
        else:
            raise ValueError(f"{char!r} cannot end a UPN")
        total += value * position
    return CHECK_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    """Why `upn` is not a valid UPN, or None when it is."""
    if len(upn) != 13:
        return "A UPN is 13 characters long."
    if not upn[1:12].isascii() or not upn[1:12].isdigit():
        return "Characters 2 to 12 of a UPN are digits."
    last = upn[12]
    if not ((last.isascii() and last.isdigit()) or last in CHECK_LETTERS):
        return "A UPN ends in a digit, or in a capital letter (not I, O or S) for a temporary UPN."
    if upn[0] not in CHECK_LETTERS:
        return "A UPN starts with its check letter (a capital letter other than I, O or S)."
    if check_letter(upn[1:]) != upn[0]:
        return "The UPN's check letter does not match (mistyped?)."
    return None


def is_temporary(upn: str) -> bool:
    """Temporary UPNs (given while the permanent one is not known) end in a letter."""
    return len(upn) == 13 and upn[12].isalpha()
