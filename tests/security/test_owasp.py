"""The OWASP API Security Top 10 (2023) table of SECURITY.md: one named test a row, each an attack
through the gateway on the real platform (identity, every service and the gateway as processes).

Where a row's full proof lives elsewhere (the forged-token table in tests/kit and tests/gateway,
the matrix in tests/contract), the test here runs it briefly against the running platform.
The outside review's nineteen findings (issue 11), each under its OWASP risk with the attacks that
refuse it, are the table of test_review_findings.py beside this file.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from gateway.config import GatewaySettings
from servicekit.testing import ServiceProcess, free_port
from tests.contract.access import operations, read_access_table, send
from tests.identity.signin_support import assert_no_secrets
from tests.kit.test_tokens import ATTACKER_RSA_PEM, hs256, public_der, public_pem, unsigned
from tests.platform import RunningPlatform
from tests.world import CLIENTS, ROLES, World, build_world

pytestmark = pytest.mark.processes

SERVICES = ("identity", "incidents", "devices", "media_consent")
# One protected read per service, asked for directly (a service must not rely on the gateway).
PROTECTED = {
    "identity": "/v1/identity/people",
    "incidents": "/v1/incidents",
    "devices": "/v1/devices/assets",
    "media_consent": "/v1/media-consent/reports/missing",
}


@pytest.fixture(scope="module")
def world(platform: RunningPlatform) -> World:
    return build_world(platform)


@pytest.fixture(scope="module")
def merged_openapi(platform: RunningPlatform) -> dict[str, Any]:
    for _ in range(5):
        doc: dict[str, Any] = platform.gateway.get("/openapi.json").json()
        if not doc["info"].get("x-unavailable-services"):
            return doc
    raise AssertionError(doc["info"])


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_api1_object_level_authorization(world: World, merged_openapi: dict[str, Any]) -> None:
    """A token of school A asks for every kind of school B's records by id: 404, never the record."""
    _, rules = read_access_table()
    gateway = world.platform.gateway
    readers = ("head_teacher", "safeguarding_lead", "office", "teacher")
    asked = 0
    for route, rule in rules.items():
        if rule.method != "GET" or "{" not in rule.path or "year_group" in rule.path:
            continue
        who = next((r for r in readers if rule.cells[r] == "allow"), None)
        if who is None:
            continue
        operation = operations(merged_openapi)[route]
        own = send(gateway, rule, operation, world.a, world.a.headers(who))
        assert own.status_code == 200, f"{route}: {own.text}"
        crossed = send(gateway, rule, operation, world.b, world.a.headers(who))
        assert crossed.status_code == 404, f"{route} as {who} of school A got school B's record"
        asked += 1
    assert asked >= 15
    # A parent asks for a child who is not theirs (school B's pupil, and another pupil of A).
    parent = world.a.headers("parent")
    for pupil in (world.b.ids["pupil_id"], world.a.ids["link_pupil_id"]):
        assert gateway.get(f"/v1/media-consent/children/{pupil}", headers=parent).status_code == 404


def test_api2_authentication(world: World) -> None:
    """Forged, expired and misdirected tokens are 401 at the gateway and at every service."""
    platform = world.platform
    tokens = platform.tokens
    valid = world.a.headers("head_teacher")["Authorization"].removeprefix("Bearer ")
    claims = _claims(valid)
    kid = tokens.key.kid
    now = datetime.now(UTC)
    forged = {
        "alg none": unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, claims) + ".",
        "HS256 with the public key PEM": hs256(
            {"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, public_pem(tokens)
        ),
        "HS256 with the public key DER": hs256(
            {"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, public_der(tokens)
        ),
        "expired": tokens.token(
            scopes=["people:read"], school_id=world.a.kit.id, issued_at=now - timedelta(minutes=20)
        ),
        "wrong audience": tokens.token(scopes=["people:read"], school_id=world.a.kit.id, aud="another-api"),
        "wrong issuer": tokens.token(
            scopes=["people:read"], school_id=world.a.kit.id, iss="https://evil.example"
        ),
        "RS256 with an RSA key, our kid": pyjwt.encode(
            claims, ATTACKER_RSA_PEM, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
        ),
        "consent receipt as access token": tokens.key.sign(claims, typ="consent-receipt+jwt"),
        "garbage": "not.a.token",
    }
    targets = [("gateway", platform.runner.url("gateway"), PROTECTED[s]) for s in SERVICES]
    targets += [(s, platform.runner.url(s), PROTECTED[s]) for s in SERVICES]
    for where, base, path in targets:
        for name, token in [*forged.items(), ("no token", None)]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = httpx.get(base + path, headers=headers, timeout=30)
            assert response.status_code == 401, f"{name} at {where} {path}: {response.status_code}"
            assert response.headers["www-authenticate"].startswith("Bearer"), (name, where)
        control = httpx.get(base + path, headers={"Authorization": f"Bearer {valid}"}, timeout=30)
        assert control.status_code == 200, f"the valid token at {where} {path}: {control.text}"
    # Lock-out: ten wrong guesses for an account, then even the right password waits (429).
    username, password = f"guessed-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    made = platform.gateway.post(
        "/v1/identity/users",
        json={
            "person_id": world.a.kit.person("staff")["id"],
            "username": username,
            "password": password,
            "roles": ["teacher"],
        },
        headers=platform.admin_headers,
    )
    assert made.status_code == 201, made.text
    for i in range(10):
        guess = platform.gateway.post(
            "/oauth/token", data={"grant_type": "password", "username": username, "password": f"guess {i}"}
        )
        assert guess.status_code in (400, 401, 429), guess.text
    locked = platform.gateway.post(
        "/oauth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


def test_api3_property_level_authorization(world: World) -> None:
    """Fields a caller may not set are refused (422, nothing changed); no response carries a secret."""
    gateway, a, b = world.platform.gateway, world.a, world.b
    person = f"/v1/identity/people/{a.ids['pupil_id']}"
    head = a.headers("head_teacher")
    before = gateway.get(person, headers=head).json()
    for smuggled in ({"roles": ["platform_admin"]}, {"school_id": b.kit.id}, {"is_on_roll": False}):
        refused = gateway.patch(person, json={"given_name": "Changed", **smuggled}, headers=head)
        assert refused.status_code == 422, (smuggled, refused.text)
    assert gateway.get(person, headers=head).json() == before
    incident = gateway.post(
        "/v1/incidents",
        json={
            "category": "malware",
            "severity": "low",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": "on_site",
            "summary": "A pop-up",
            "school_id": b.kit.id,
        },
        headers=a.headers("teacher"),
    )
    assert incident.status_code == 422
    account = gateway.get(f"/v1/identity/users/{a.ids['account_id']}", headers=head)
    assert account.status_code == 200
    assert_no_secrets(account.json())
    assert "totp_secret" not in account.json()
    assert_no_secrets(gateway.get("/v1/identity/users", headers=head).json())
    clients = gateway.get("/v1/identity/clients", headers=head).json()
    assert_no_secrets(clients)
    assert "client_secret" not in json.dumps(clients)


def test_api4_unrestricted_resource_consumption(world: World) -> None:
    """`limit` is capped (422 over 500), a body over the cap is 413, a sign-in flood is 429."""
    gateway, head = world.platform.gateway, world.a.headers("head_teacher")
    for path in ("/v1/identity/people", "/v1/incidents", "/v1/devices/assets", "/v1/media-consent/checks"):
        assert gateway.get(path, params={"limit": 501}, headers=head).status_code == 422, path
        assert gateway.get(path, params={"limit": 500}, headers=head).status_code == 200, path
    huge = b'{"summary": "' + b"x" * (1_048_576 + 10) + b'"}'
    too_big = gateway.post(
        "/v1/incidents", content=huge, headers={**head, "Content-Type": "application/json"}
    )
    assert too_big.status_code == 413
    # The flood: one account's guesses are throttled (the full back-off schedule: tests/identity).
    username = f"flood-{uuid.uuid4().hex[:8]}"
    statuses = [
        gateway.post(
            "/oauth/token", data={"grant_type": "password", "username": username, "password": f"p{i}"}
        ).status_code
        for i in range(12)
    ]
    assert 429 in statuses
    flooded = gateway.post(
        "/oauth/token", data={"grant_type": "password", "username": username, "password": "x"}
    )
    assert flooded.status_code == 429 and int(flooded.headers["retry-after"]) > 0


def test_api5_function_level_authorization(world: World, merged_openapi: dict[str, Any]) -> None:
    """Every route has an access rule (docs/access.md), and the least trusted callers are refused
    everywhere the table says so (the whole matrix: tests/contract/test_access_matrix.py)."""
    columns, rules = read_access_table()
    assert columns == [*ROLES, *CLIENTS]
    assert set(rules) == set(operations(merged_openapi))
    for who in ("pupil", "visitor", "mle"):
        headers = world.a.headers(who)
        for route, rule in rules.items():
            if rule.cells[who] == "deny":
                operation = operations(merged_openapi)[route]
                response = send(world.platform.gateway, rule, operation, world.a, headers)
                assert response.status_code in (403, 404), f"{route} as {who}: {response.status_code}"


def test_api6_sensitive_business_flows(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-client quotas on the LA export and consent look-ups (a gateway with small quotas)."""
    runner = world.platform.runner
    quotas = [
        {"prefix": "/v1/incidents/export", "limit": 3},
        {"prefix": "/v1/media-consent/checks", "limit": 3},
    ]
    env = {**runner.gateway_env(), "GATEWAY_CLIENT_QUOTAS": json.dumps(quotas)}
    log = tmp_path_factory.mktemp("quota-gateway") / "gateway.log"
    gateway = ServiceProcess("gateway-quotas", runner.spec.gateway_app, free_port(), env, log).start()
    try:
        la, other_la = world.a.headers("la"), world.b.headers("la")
        export = [httpx.get(gateway.url + "/v1/incidents/export", headers=la, timeout=30) for _ in range(4)]
        assert [r.status_code for r in export] == [200, 200, 200, 429]
        assert int(export[-1].headers["retry-after"]) > 0
        # The quota is the client's own: another client is still served.
        assert (
            httpx.get(gateway.url + "/v1/incidents/export", headers=other_la, timeout=30).status_code == 200
        )
        mle = world.a.headers("mle")
        check = {
            "purpose": "mle",
            "media_type": "photo",
            "framing": "group",
            "pupil_ids": [world.a.ids["pupil_id"]],
        }
        checks = [
            httpx.post(gateway.url + "/v1/media-consent/checks", json=check, headers=mle, timeout=30)
            for _ in range(4)
        ]
        assert [r.status_code for r in checks][:3] == [200, 200, 200], checks[0].text
        assert checks[3].status_code == 429
        # Other routes of the same client are not counted against the flow's quota.
        assert (
            httpx.get(gateway.url + "/v1/media-consent/changes", headers=mle, timeout=30).status_code == 200
        )
    finally:
        gateway.stop()


def test_api7_server_side_request_forgery(world: World, merged_openapi: dict[str, Any]) -> None:
    """The one URL a client gives is the MLE's webhook target (SECURITY.md "Outbound calls"): the
    metadata address and private ones are refused at registration, before any connection. No other
    operation takes a URL; a smuggled one is refused, not fetched."""
    schemas = merged_openapi["components"]["schemas"]
    webhooks = {
        name for name in schemas if any(w in name.lower() for w in ("webhook", "delivery", "attempt"))
    }
    assert webhooks, "the webhooks' schemas"
    # Answers that carry a link the platform made to its own pages (PLATFORM_PUBLIC_BASE_URL): shown
    # to the office to hand over, never taken from a caller, never fetched.
    own_links = {"InvitationCreated", "ResetCodeIssued"}
    assert own_links <= set(schemas)
    text = json.dumps(
        {name: schema for name, schema in schemas.items() if name not in webhooks | own_links}
    ).lower()
    for name in ('"format": "uri"', "webhook", "callback", '"url"', "jwks_uri", '"jku"'):
        assert name not in text, name
    for target in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "https://[::ffff:10.0.0.1]/",
    ):
        refused = world.platform.gateway.post(
            "/v1/media-consent/webhooks",
            json={"url": target, "events": ["consent.withdrawn"]},
            headers=world.a.headers("mle"),
        )
        assert refused.status_code == 422, (target, refused.text)
        assert refused.json()["type"].endswith("webhook-target-refused")
    for operation in operations(merged_openapi).values():
        for parameter in operation.get("parameters", []):
            assert "url" not in parameter["name"].lower() and "uri" not in parameter["name"].lower()
    smuggled = world.platform.gateway.post(
        "/v1/identity/clients",
        json={
            "name": "Evil",
            "school_id": world.a.kit.id,
            "scopes": ["consent:check"],
            "jwks_uri": "http://169.254.169.254/",
        },
        headers=world.a.headers("head_teacher"),
    )
    assert smuggled.status_code == 422


def test_api8_security_misconfiguration(world: World) -> None:
    """No traceback in any response; no default admin; CORS never `*` with credentials; docs can be off."""
    gateway, head = world.platform.gateway, world.a.headers("head_teacher")
    for path in ("/v1/identity/people", "/v1/incidents", "/v1/devices/assets", "/v1/media-consent/records"):
        broken = gateway.post(
            path, content=b'{"unterminated": ', headers={**head, "Content-Type": "application/json"}
        )
        assert broken.status_code == 422, path
        assert broken.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in broken.text and 'File "' not in broken.text
    for username, password in (("admin", "admin"), ("admin", "password"), ("root", "root")):
        refused = gateway.post(
            "/oauth/token", data={"grant_type": "password", "username": username, "password": password}
        )
        assert refused.status_code in (400, 401, 429)
        assert "access_token" not in refused.text
    preflight = gateway.options(
        "/v1/incidents",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    with pytest.raises(ValueError):
        GatewaySettings(cors_origins=["*"], cors_allow_credentials=True)
    assert GatewaySettings(environment="production").docs_on is False


def test_api9_improper_inventory_management(world: World, merged_openapi: dict[str, Any]) -> None:
    """The gateway's routes are exactly the services' own operations (no shadow or stale routes)."""
    runner = world.platform.runner
    union: set[str] = set()
    for service in runner.spec.services:
        own = httpx.get(runner.url(service.name) + "/openapi.json", timeout=30).json()
        for route in operations(own):
            path = route.split(" ", 1)[1]
            if path.startswith(tuple(service.prefixes)):
                union.add(route)
    assert set(operations(merged_openapi)) == union
    # A path under no service's prefix reaches nothing.
    assert world.platform.gateway.get("/v1/admin", headers=world.a.headers("head_teacher")).status_code == 404


def test_api10_unsafe_consumption(world: World) -> None:
    """Identity claims sent as headers are stripped by the gateway: the token alone decides."""
    gateway, a, b = world.platform.gateway, world.a, world.b
    spoof = {
        "X-User-Id": "platform-admin-test",
        "X-User-Roles": "platform_admin",
        "X-School-Id": b.kit.id,
        "X-Forwarded-For": "10.0.0.1",
        "X-Forwarded-Host": "identity.internal",
    }
    teacher = {**a.headers("teacher"), **spoof}
    assert gateway.get(f"/v1/identity/people/{b.ids['pupil_id']}", headers=teacher).status_code == 404
    assert gateway.get("/v1/devices/assets", headers=teacher).status_code == 403
    listed = gateway.get("/v1/identity/people", headers=teacher)
    assert listed.status_code == 200
    assert b.ids["pupil_id"] not in listed.text
    # With no token at all, headers claiming an identity get nothing.
    assert gateway.get("/v1/identity/people", headers=spoof).status_code == 401
