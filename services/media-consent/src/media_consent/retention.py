"""Media consent's retention classes for the annual review (servicekit.retention).

A consent check is the school's evidence that it asked before publishing (its receipt says so):
kept six years from the check (the limitation period for a claim about a publication). Consent
versions are not offered: the current consent of a pupil on roll is always needed, and a leaver's
history goes with the pupil's record in identity.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Executable, select

from media_consent.checks.models import ConsentCheck
from servicekit.retention import RetentionRule, years_before

CHECK_YEARS = 6


def _checks(on: date) -> Executable:
    return select(ConsentCheck.id, ConsentCheck.school_id, ConsentCheck.checked_at).where(
        ConsentCheck.checked_at < years_before(on, CHECK_YEARS)
    )


RULES = [
    RetentionRule(
        "consent-check", "consent_check", "made more than six years ago", _checks, after_years=CHECK_YEARS
    ),
]
