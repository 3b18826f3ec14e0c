"""Demo data for Star Primary School, created once through the gateway like any client would.

A user for each role, pupils across the year groups with their carers, an OAuth client each for the
MLE, the office system and the LA scripts; then each service's own demo records (its
`<package>.demo.seed`). Credentials are printed once and kept in var/demo-credentials.txt (mode 600).
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Collection
from pathlib import Path
from typing import Any

import httpx
import pyotp

from identity.people.upn import check_letter
from servicekit.platform import PlatformRunner

SCHOOL = {"name": "Star Primary School", "urn": "123456", "la_code": "202"}
STAFF = [
    ("head_teacher", "head", "Helen", "Ward"),
    ("safeguarding_lead", "dsl", "Sam", "Okafor"),
    ("computing_lead", "computing", "Priya", "Shah"),
    ("office", "office", "Tom", "Ellis"),
    ("teacher", "teacher", "Grace", "Lin"),
    ("governor", "governor", "Martin", "Hughes"),
]
PUPILS = [
    ("Amelia", "Clarke", "N"),
    ("Oliver", "Patel", "R"),
    ("Isla", "Nowak", "1"),
    ("Noah", "Adeyemi", "2"),
    ("Ava", "Murphy", "3"),
    ("Leo", "Kowalski", "3"),
    ("Freya", "Bennett", "4"),
    ("Arjun", "Singh", "4"),
    ("Mia", "O'Brien", "5"),
    ("Theo", "Hassan", "5"),
    ("Ruby", "Evans", "6"),
    ("Zain", "Ahmed", "6"),
]
CARER_FIRST_NAMES = [
    "Laura",
    "Ravi",
    "Kasia",
    "Tunde",
    "Siobhan",
    "Piotr",
    "Emma",
    "Harpreet",
    "Niamh",
    "Omar",
    "Rhys",
    "Sana",
]
# The acceptable-use agreements the demo school has published (identity's agreements).
AGREEMENTS = [
    (
        "pupil",
        "Our rules for using computers and the internet",
        "I ask a grown-up before I use a computer, a tablet or the internet.\n"
        "I only use the websites and apps my teacher or my grown-up has said I may.\n"
        "I tell a grown-up straight away if I see something that upsets me.\n"
        "I am kind to others online, as I am in the classroom.\n"
        "I keep my name, my address and my passwords to myself.\n"
        "I know the school checks how its computers are used, to keep me safe.",
    ),
]
CLIENTS = [
    ("mle", "Learning platform (MLE)", ["consent:check", "consent:webhooks"]),
    ("office_system", "Office system (MIS)", ["phones:read", "phones:write", "people:read", "people:import"]),
]
LA_CLIENT = ("la", "LA reporting scripts", ["incidents:export", "incidents:stats"])


def upn(serial: int) -> str:
    body = f"{SCHOOL['la_code']}2001" + "26" + f"{serial:03d}"
    return check_letter(body) + body


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()


def sign_in(gateway: httpx.Client, username: str, password: str, totp_secret: str | None) -> str:
    form = {"grant_type": "password", "username": username, "password": password}
    if totp_secret:
        form["otp"] = pyotp.TOTP(totp_secret).now()
    return str(_ok(gateway.post("/oauth/token", data=form))["access_token"])


def client_token(gateway: httpx.Client, client_id: str, client_secret: str) -> str:
    body = _ok(
        gateway.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
        )
    )
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_line(runner: PlatformRunner, hidden: Collection[str]) -> str:
    """The administrator's line of the credentials file: what the operator set is named, not shown."""
    s = runner.secrets
    password = "(your BOOTSTRAP_ADMIN_PASSWORD)" if "BOOTSTRAP_ADMIN_PASSWORD" in hidden else s.admin_password
    totp = (
        "your BOOTSTRAP_ADMIN_TOTP_SECRET" if "BOOTSTRAP_ADMIN_TOTP_SECRET" in hidden else s.admin_totp_secret
    )
    return f"Platform admin: {s.admin_username} / {password} (TOTP secret {totp})"


def console_client(gateway: httpx.Client, runner: PlatformRunner, admin: dict[str, str]) -> tuple[str, str]:
    """The console's OAuth client at identity (authorization code, confidential), also kept in
    var/console-client.json (mode 600) where the console reads it (CONSOLE_OIDC_CLIENT_FILE)."""
    from console.auth import CONSOLE_SCOPES

    base = runner.url("gateway")
    made = _ok(
        gateway.post(
            "/v1/identity/clients",
            json={
                "name": "Console",
                # What the console may ask for on a person's behalf (their own roles' scopes cap it).
                "scopes": sorted(s for s in CONSOLE_SCOPES.split() if s not in ("openid", "profile")),
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": [f"{base}/auth/callback"],
                "post_logout_redirect_uris": [f"{base}/"],
            },
            headers=admin,
        )
    )
    path = runner.var_dir / "console-client.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"client_id": made["client_id"], "client_secret": made["client_secret"]}, handle)
    return str(made["client_id"]), str(made["client_secret"])


def seed(runner: PlatformRunner, hidden: Collection[str] = ()) -> Path:
    """Seed the demo school; `hidden`: the BOOTSTRAP_ADMIN_* variables the operator set (not written out)."""
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=60)
    s = runner.secrets
    admin = bearer(sign_in(gateway, s.admin_username, s.admin_password, s.admin_totp_secret))
    school = _ok(gateway.post("/v1/identity/schools", json=SCHOOL, headers=admin))
    school_id = school["id"]
    credentials: list[str] = [admin_line(runner, hidden)]
    demo: dict[str, Any] = {"school_id": school_id, "pupils": [], "carers": [], "staff": {}, "headers": {}}
    users: dict[str, tuple[str, str, str | None]] = {}

    def person(body: dict[str, Any]) -> dict[str, Any]:
        return dict(
            _ok(gateway.post("/v1/identity/people", json={"school_id": school_id, **body}, headers=admin))
        )

    def account(person_id: str, username: str, roles: list[str], **extra: Any) -> None:
        password = secrets.token_urlsafe(12)
        created = _ok(
            gateway.post(
                "/v1/identity/users",
                json={
                    "person_id": person_id,
                    "username": username,
                    "password": password,
                    "roles": roles,
                    **extra,
                },
                headers=admin,
            )
        )
        users[roles[0]] = (username, password, created.get("totp_secret"))
        totp = f" (TOTP secret {created['totp_secret']})" if created.get("totp_secret") else ""
        credentials.append(f"{roles[0]}: {username} / {password}{totp}")

    for role, username, given, family in STAFF:
        kind = "governor" if role == "governor" else "staff"
        staff = person({"kind": kind, "given_name": given, "family_name": family})
        demo["staff"][role] = staff["id"]
        account(staff["id"], username, [role])

    for serial, ((given, family, year), carer_name) in enumerate(
        zip(PUPILS, CARER_FIRST_NAMES, strict=True), 1
    ):
        pupil = person(
            {
                "kind": "pupil",
                "given_name": given,
                "family_name": family,
                "year_group": year,
                "external_ref": upn(serial),
            }
        )
        demo["pupils"].append(
            {k: pupil[k] for k in ("id", "given_name", "family_name", "year_group", "external_ref")}
        )
        carer = person({"kind": "parent", "given_name": carer_name, "family_name": family})
        _ok(
            gateway.post(
                f"/v1/identity/people/{pupil['id']}/carers",
                headers=admin,
                json={
                    "carer_id": carer["id"],
                    "relationship": "mother" if serial % 2 else "father",
                    "parental_responsibility": True,
                },
            )
        )
        demo["carers"].append(
            {
                "id": carer["id"],
                "given_name": carer_name,
                "family_name": family,
                "pupil_ids": [pupil["id"]],
                "parental_responsibility": True,
            }
        )
    # A grandparent who collects a pupil but has no parental responsibility.
    first = demo["pupils"][4]
    grandparent = person({"kind": "parent", "given_name": "Margaret", "family_name": first["family_name"]})
    _ok(
        gateway.post(
            f"/v1/identity/people/{first['id']}/carers",
            headers=admin,
            json={
                "carer_id": grandparent["id"],
                "relationship": "grandparent",
                "parental_responsibility": False,
            },
        )
    )
    demo["carers"].append(
        {
            "id": grandparent["id"],
            "given_name": "Margaret",
            "family_name": first["family_name"],
            "pupil_ids": [first["id"]],
            "parental_responsibility": False,
        }
    )
    # Ava's brother in Reception: the demo parent signs the pupils' acceptable-use agreement for him
    # (at KS1 parents sign on behalf of the pupils, the policy). Listed with the pupils once the
    # services' own demo records are in, which keep to the twelve above.
    sibling = person(
        {
            "kind": "pupil",
            "given_name": "Finn",
            "family_name": first["family_name"],
            "year_group": "R",
            "external_ref": upn(len(PUPILS) + 1),
        }
    )
    _ok(
        gateway.post(
            f"/v1/identity/people/{sibling['id']}/carers",
            headers=admin,
            json={
                "carer_id": demo["carers"][4]["id"],
                "relationship": "mother",
                "parental_responsibility": True,
            },
        )
    )
    demo["carers"][4]["pupil_ids"].append(sibling["id"])
    for audience, title, text in AGREEMENTS:
        _ok(
            gateway.post(
                "/v1/identity/agreements",
                headers=admin,
                json={"audience": audience, "title": title, "text": text, "school_id": school_id},
            )
        )
    account(demo["carers"][4]["id"], "parent", ["parent"])
    account(demo["pupils"][-1]["id"], "pupil", ["pupil"])
    visitor = person({"kind": "visitor", "given_name": "Dana", "family_name": "Price"})
    account(visitor["id"], "visitor", ["visitor"])

    clients: dict[str, tuple[str, str]] = {}
    for key, name, scopes in CLIENTS:
        made = _ok(
            gateway.post(
                "/v1/identity/clients",
                json={"name": name, "school_id": school_id, "scopes": scopes},
                headers=admin,
            )
        )
        clients[key] = (made["client_id"], made["client_secret"])
    key, name, scopes = LA_CLIENT
    made = _ok(
        gateway.post(
            "/v1/identity/clients",
            json={"name": name, "la_code": SCHOOL["la_code"], "scopes": scopes},
            headers=admin,
        )
    )
    clients[key] = (made["client_id"], made["client_secret"])
    # The console: a relying party people sign in to through identity (OpenID Connect), for every
    # school; confidential, returning to the gateway's /auth/callback (docs/sso-integration.md,
    # docs/console.md). The console reads its credentials from var/console-client.json.
    relying_parties = {"console": console_client(gateway, runner, admin)}
    for key, (client_id, client_secret) in {**clients, **relying_parties}.items():
        credentials.append(f"client {key}: client_id={client_id} client_secret={client_secret}")

    for role, (username, password, totp) in users.items():
        demo["headers"][role] = bearer(sign_in(gateway, username, password, totp))
    for key, (client_id, client_secret) in clients.items():
        demo["headers"][key] = bearer(client_token(gateway, client_id, client_secret))

    runner.sync_replicas()
    for service in runner.spec.services:
        try:
            module = importlib.import_module(f"{service.package}.demo")
        except ModuleNotFoundError:
            continue
        module.seed(gateway, demo)

    path = runner.var_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("Star Primary School demo: credentials (shown once; keep this file private)\n")
        handle.write(f"Gateway: {runner.url('gateway')}\nschool_id: {school_id}\n\n")
        handle.write("\n".join(credentials) + "\n")
    demo["pupils"].append(
        {k: sibling[k] for k in ("id", "given_name", "family_name", "year_group", "external_ref")}
    )
    ids = {k: demo[k] for k in ("school_id", "pupils", "carers", "staff")}
    fd = os.open(runner.var_dir / "demo.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(ids, handle, indent=2)
    return path
