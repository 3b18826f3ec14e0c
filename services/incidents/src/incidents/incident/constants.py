"""The incident log's vocabulary: categories, severities, statuses, roles, action and evidence kinds.

Categories follow the policy's risks: content (what a child sees), contact (who reaches a child),
conduct (what a child or adult does), and the technical incidents the computing lead handles.
"""

from __future__ import annotations

from typing import Final, Literal

Category = Literal[
    "inappropriate_content",
    "extremist_content",
    "self_harm_content",
    "cyberbullying",
    "grooming",
    "radicalisation",
    "stranger_contact",
    "sexting",
    "privacy_disclosure",
    "identity_misuse",
    "copyright",
    "misuse_of_ict",
    "filtering_failure",
    "data_breach",
    "malware",
    "allegation_against_staff",
]
CATEGORY_RISK: Final[dict[str, str]] = {
    "inappropriate_content": "content",
    "extremist_content": "content",
    "self_harm_content": "content",
    "cyberbullying": "conduct",
    "grooming": "contact",
    "radicalisation": "contact",
    "stranger_contact": "contact",
    "sexting": "conduct",
    "privacy_disclosure": "conduct",
    "identity_misuse": "conduct",
    "copyright": "conduct",
    "misuse_of_ict": "conduct",
    "filtering_failure": "technical",
    "data_breach": "technical",
    "malware": "technical",
    "allegation_against_staff": "conduct",
}

# Seen only by the safeguarding lead and the head teacher (never by the reporter afterwards).
RESTRICTED_CATEGORIES: Final = frozenset({"grooming", "sexting", "radicalisation", "self_harm_content"})
# The head teacher's alone (policy: complaints about staff go to the head); never shown to its subject.
HEAD_ONLY_CATEGORIES: Final = frozenset({"allegation_against_staff"})
# Reads of these are audited one by one.
AUDITED_CATEGORIES: Final = RESTRICTED_CATEGORIES | HEAD_ONLY_CATEGORIES

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "under_review", "action_taken", "referred", "closed"]
Location = Literal["on_site", "off_site"]
PersonRole = Literal["affected", "subject", "witness", "reporter"]

ActionKind = Literal[
    "note", "sanction", "referral_decision", "parents_informed", "la_informed", "police_referral"
]
# The policy's sanctions ("Handling Complaints").
Sanction = Literal["interview", "parents_informed", "access_removed", "referral"]
ReferralDecision = Literal["refer", "not_refer"]
ReferralBody = Literal[
    "dsl_review",
    "childrens_social_care",
    "lado",
    "la_designated_officer",
    "police",
    "ceop",
    "prevent",
    "early_help",
    "other",
]

EvidenceKind = Literal["file", "screenshot", "image", "video", "log", "device", "document", "other"]
# Kinds that are, or are a copy of, a file: a SHA-256 fixes what was kept.
FILE_EVIDENCE_KINDS: Final = frozenset({"file", "screenshot", "image", "video", "log"})

RetentionClass = Literal["safeguarding", "allegation", "operational"]
