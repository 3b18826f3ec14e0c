"""Roles → scopes, in one place. A token's `scope` is the union of its roles' scopes (people) or the
client's granted scopes (outside systems); every route declares the scopes it needs.
"""

from __future__ import annotations

from typing import Final

# Roles that reach personal or sensitive data sign in with a TOTP code (DfE standards).
TWO_FACTOR_ROLES: Final = frozenset(
    {"platform_admin", "head_teacher", "safeguarding_lead", "computing_lead", "office"}
)

SCOPES: Final[dict[str, str]] = {
    # identity
    "schools:read": "Read schools",
    "schools:write": "Create and change schools (platform administrators)",
    "people:read": "Read people, carer links and look up by MIS reference",
    "people:write": "Create and change people and carer links, mark leavers",
    "people:import": "Import a roll from the school's MIS",
    "users:read": "Read accounts",
    "users:write": "Create accounts, change roles, deactivate, reset passwords",
    "clients:write": "Register outside systems and rotate their secrets",
    "invitations:write": "Invite carers with parental responsibility to make parent accounts; list, withdraw",
    "users:recover": "Hand a one-time password-reset code to a parent's or pupil's account",
    "pupils:passwords": "Set the passwords of class-managed pupil accounts (below Year 3)",
    "audit:read": "Read the audit log",
    "agreements:read": "Read acceptable-use agreements and who has signed them",
    "agreements:write": "Publish acceptable-use agreement versions",
    "agreements:sign": "Sign an acceptable-use agreement",
    "identity:feed": "Follow the people change feed (services only)",
    "replica:sync": "Make a service follow the people feed now (operations: deploy hooks, tests)",
    "alerts:contacts": "Look up staff alert addresses and preferences (services' alert senders only)",
    # media consent
    "consent:read": "Read pupils' photo and video consent",
    "consent:write": "Record consent from paper forms, withdraw it",
    "consent:own": "See and change the consent of one's own children (parents)",
    "consent:check": "Check whether pupils may be published, follow consent changes",
    "consent:restrict": "Mark a pupil whose image must never be published",
    "consent:webhooks": "Register webhooks that hear of consent changes at once (the MLE)",
    # devices
    "phones:read": "Read pupil phone custody records",
    "phones:write": "Register, move and return pupil phones",
    "phones:search": "Record and read searches of confiscated phones",
    "devices:read": "Read the hardware inventory and staff device register",
    "devices:write": "Change the hardware inventory and staff device register",
    "devices:own": "Record and read image uses of one's own registered device (the head: of any)",
    # incidents
    "incidents:report": "Report an e-safety incident",
    "incidents:read": "Read incidents (as far as the caller's role allows)",
    "incidents:write": "Manage incidents: actions, evidence, status",
    "incidents:export": "Pull the incident export feed (LA reporting)",
    "incidents:stats": "Read incident counts (no personal data)",
}

_STAFF = ("schools:read", "agreements:sign", "incidents:report")

ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "platform_admin": frozenset(
        {
            "schools:read",
            "schools:write",
            "people:read",
            "people:write",
            "people:import",
            "users:read",
            "users:write",
            "clients:write",
            "audit:read",
            "agreements:read",
            "agreements:write",
        }
    ),
    "head_teacher": frozenset(
        {
            *_STAFF,
            "people:read",
            "people:write",
            "people:import",
            "users:read",
            "users:write",
            "users:recover",
            "invitations:write",
            "pupils:passwords",
            "clients:write",
            "audit:read",
            "agreements:read",
            "agreements:write",
            "consent:read",
            "consent:write",
            "consent:check",
            "consent:restrict",
            "devices:own",
            "phones:read",
            "phones:write",
            "phones:search",
            "devices:read",
            "devices:write",
            "incidents:read",
            "incidents:write",
            "incidents:export",
            "incidents:stats",
        }
    ),
    "safeguarding_lead": frozenset(
        {
            *_STAFF,
            "people:read",
            "agreements:read",
            "consent:read",
            "consent:check",
            "consent:restrict",
            "devices:own",
            "phones:read",
            "phones:search",
            "incidents:read",
            "incidents:write",
            "incidents:export",
            "incidents:stats",
        }
    ),
    "computing_lead": frozenset(
        {
            *_STAFF,
            "people:read",
            "users:read",
            "audit:read",
            "agreements:read",
            "agreements:write",
            "consent:check",
            "phones:read",
            "devices:own",
            "devices:read",
            "devices:write",
            "incidents:read",
        }
    ),
    "office": frozenset(
        {
            *_STAFF,
            "people:read",
            "people:write",
            "people:import",
            "users:read",
            "users:recover",
            "invitations:write",
            "pupils:passwords",
            "agreements:read",
            "consent:read",
            "consent:write",
            "consent:check",
            "phones:read",
            "phones:write",
            "devices:own",
            "devices:read",
            "incidents:read",
        }
    ),
    "teacher": frozenset(
        {
            *_STAFF,
            "people:read",
            "pupils:passwords",
            "consent:check",
            "devices:own",
            "phones:read",
            "phones:write",
            "incidents:read",
        }
    ),
    "governor": frozenset({"schools:read", "agreements:sign", "incidents:stats"}),
    "parent": frozenset({"agreements:sign", "consent:own"}),
    "pupil": frozenset({"agreements:sign"}),
    "visitor": frozenset({"agreements:sign"}),
    "la_officer": frozenset({"incidents:export", "incidents:stats"}),
}


def scopes_for_roles(roles: list[str] | frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_SCOPES.get(role, frozenset())
    return frozenset(granted)
