"""Webhooks for the MLE (CONTRACT.md "Webhooks (the MLE)", SECURITY.md "Outbound calls"), in-process
with a real HTTP receiver on 127.0.0.1: a withdrawal arrives signed and verifies with the
standardwebhooks library as the MLE would verify it; a 503 gets the same webhook-id again; a tampered
body fails; retries run 24 hours on the injected clock, then the delivery is dead until replayed;
secrets rotate with an overlap; targets on private addresses are refused before any connection."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from media_consent.config import MediaConsentSettings
from media_consent.main import create_app
from media_consent.webhooks import delivery as webhook_delivery
from media_consent.webhooks import expiry
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.media_consent.conftest import BASE, record_consent
from tests.webhook_receiver import Names, WebhookReceiver
from tests.world import School

HOOKS = f"{BASE}/webhooks"
GRANTS = {"mle/photo": "group", "website/photo": "individual"}


@pytest.fixture
def clock() -> FrozenClock:
    # Receivers check webhook-timestamp against their own clock (five minutes' tolerance).
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


async def _app(database_for, clock, tokens, keys_dir: Path, **settings: Any) -> AsyncIterator[FastAPI]:
    url = database_for("media_consent")
    application = create_app(
        MediaConsentSettings(database_url=url, keys_dir=str(keys_dir), **settings),
        clock=clock,
        key_source=StaticKeySource(tokens.jwks),
    )
    application.state.webhook_resolver = Names()
    application.state.outbox.batch_size = 1  # one session at a time on the test's one connection
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application
    await webhook_delivery.close_client(application)


@pytest.fixture
async def app(database_for, clock, tokens, keys_dir) -> AsyncIterator[FastAPI]:
    """The development environment's rules: loopback targets allowed."""
    async for application in _app(database_for, clock, tokens, keys_dir, environment="development"):
        yield application


@pytest.fixture
async def production_app(database_for, clock, tokens, keys_dir) -> AsyncIterator[FastAPI]:
    async for application in _app(database_for, clock, tokens, keys_dir, environment="production"):
        yield application


@pytest.fixture
async def production_client(production_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=production_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as c:
        yield c


@pytest.fixture
async def production_school(production_app: FastAPI, tokens: TokenFactory) -> School:
    return await School.create(production_app.state.sessionmaker, tokens, la_code="316")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


async def register(
    client: httpx.AsyncClient, school: School, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        HOOKS, json={"url": url, "events": events or ["consent.withdrawn"]}, headers=school.headers("mle")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def withdraw(client: httpx.AsyncClient, school: School) -> uuid.UUID:
    pupil = await school.add_pupil(year_group="4", given_name="Amelia", family_name="Zebedee")
    carer = await school.add_carer(pupil)
    await record_consent(client, school, pupil, GRANTS, given_by=carer)
    response = await client.post(
        f"{BASE}/pupils/{pupil}/withdrawals", json={"given_by": str(carer)}, headers=school.headers("office")
    )
    assert response.status_code == 201, response.text
    return pupil


async def deliveries(client: httpx.AsyncClient, school: School, hook: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=school.headers("mle"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_withdrawal_reaches_the_webhook_signed_and_verifies(app, client, school, receiver) -> None:
    hook = await register(client, school, receiver.url)
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["consent.withdrawn"]
    pupil = await withdraw(client, school)
    assert await app.state.outbox.run_until_idle() == 1  # the record (consent.changed) was not asked for

    [got] = receiver.requests
    body = got.verify(hook["secret"])  # raises unless signed with the webhook's secret
    assert body["type"] == "consent.withdrawn"
    assert body["data"]["school_id"] == str(school.id) and body["data"]["pupil_id"] == str(pupil)
    assert isinstance(body["data"]["seq"], int)
    assert b"Amelia" not in got.body and b"Zebedee" not in got.body  # no names
    assert got.webhook_id.startswith("msg_")

    [delivery] = await deliveries(client, school, hook)
    assert delivery["status"] == "delivered" and delivery["webhook_message_id"] == got.webhook_id
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    # The list never shows the secret again.
    listed = await client.get(HOOKS, headers=school.headers("mle"))
    assert listed.status_code == 200 and "whsec_" not in listed.text and '"secret"' not in listed.text


async def test_a_retried_registration_makes_one_webhook_and_never_replays_its_secret(
    client, school, receiver
) -> None:
    headers = {**school.headers("mle"), "Idempotency-Key": "register-once"}
    payload = {"url": receiver.url, "events": ["consent.withdrawn"]}
    before = (await client.get(HOOKS, headers=school.headers("mle"))).json()
    first = await client.post(HOOKS, json=payload, headers=headers)
    again = await client.post(HOOKS, json=payload, headers=headers)
    assert first.status_code == 201 and again.status_code == 201, again.text
    assert first.json()["secret"].startswith("whsec_")
    assert again.json()["id"] == first.json()["id"] and again.json()["secret"] is None
    assert first.headers["cache-control"] == "no-store"
    listed = await client.get(HOOKS, headers=school.headers("mle"))
    assert len(listed.json()) == len(before) + 1
    assert [w["id"] for w in listed.json()].count(first.json()["id"]) == 1


async def test_a_tampered_body_or_another_secret_fails_verification(app, client, school, receiver) -> None:
    hook = await register(client, school, receiver.url)
    await withdraw(client, school)
    await app.state.outbox.run_until_idle()
    [got] = receiver.requests
    tampered = got.body.replace(b"consent.withdrawn", b"consent.changed")
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(tampered, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFB" * 11).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(got.body, {**got.headers, "webhook-id": "msg_other"})


async def test_a_503_gets_the_same_webhook_id_again_after_backoff(
    app, client, school, receiver, clock
) -> None:
    receiver.statuses = [503]
    hook = await register(client, school, receiver.url)
    await withdraw(client, school)
    assert await app.state.outbox.run_once() == 1
    [delivery] = await deliveries(client, school, hook)
    assert delivery["status"] == "pending" and [a["status_code"] for a in delivery["attempts"]] == [503]
    due = datetime.fromisoformat(delivery["next_attempt_at"])
    assert clock.now() < due <= clock.now() + timedelta(seconds=10)  # first retry within 10 s
    assert await app.state.outbox.run_once() == 0  # not before its time
    clock.set(due)
    assert await app.state.outbox.run_once() == 1
    first, second = receiver.requests
    assert first.webhook_id == second.webhook_id and first.body == second.body
    second.verify(hook["secret"])
    assert list(receiver.processed) == [first.webhook_id]
    [delivery] = await deliveries(client, school, hook)
    assert delivery["status"] == "delivered" and [a["status_code"] for a in delivery["attempts"]] == [
        503,
        200,
    ]


async def test_retries_last_24_hours_then_the_delivery_is_dead_until_replayed(
    app, client, school, receiver, clock
) -> None:
    receiver.default_status = 500
    hook = await register(client, school, receiver.url)
    await withdraw(client, school)
    start = clock.now()
    while (delivery := (await deliveries(client, school, hook))[0])["status"] == "pending":
        clock.set(max(clock.now(), datetime.fromisoformat(delivery["next_attempt_at"])))
        assert await app.state.outbox.run_once() == 1
    assert delivery["status"] == "dead" and delivery["next_attempt_at"] is None
    assert clock.now() - start >= timedelta(hours=24)
    assert len({r.webhook_id for r in receiver.requests}) == 1 and len(receiver.requests) > 20

    clock.set(datetime.now(UTC).replace(microsecond=0))  # the receiver checks the timestamp
    receiver.default_status = 200
    replayed = await client.post(
        f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/replay", headers=school.headers("mle")
    )
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    assert await app.state.outbox.run_once() == 1
    assert receiver.requests[-1].webhook_id == delivery["webhook_message_id"]
    receiver.requests[-1].verify(hook["secret"])
    assert (await deliveries(client, school, hook))[0]["status"] == "delivered"


async def test_a_rotated_secret_and_the_previous_both_sign_during_the_overlap(
    app, client, school, receiver, clock
) -> None:
    hook = await register(client, school, receiver.url)
    rotated = await client.post(f"{HOOKS}/{hook['id']}/secret", headers=school.headers("mle"))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["secret"]
    assert new != hook["secret"] and rotated.json()["previous_secret_until"] is not None
    await withdraw(client, school)
    await app.state.outbox.run_until_idle()
    got = receiver.requests[-1]
    got.verify(new)
    got.verify(hook["secret"])  # receivers that have not switched yet still verify
    assert len(got.headers["webhook-signature"].split()) == 2

    clock.advance(hours=25)  # the overlap is over: only the new secret signs
    await withdraw(client, school)
    await app.state.outbox.run_until_idle()
    late = receiver.requests[-1]
    [signature] = late.headers["webhook-signature"].split()
    stamp = datetime.fromtimestamp(int(late.headers["webhook-timestamp"]), UTC)
    assert signature == Webhook(new).sign(late.webhook_id, stamp, late.body.decode())
    assert signature != Webhook(hook["secret"]).sign(late.webhook_id, stamp, late.body.decode())


async def test_only_the_events_asked_for_are_sent_and_an_ended_webhook_hears_nothing(
    app, client, school, receiver
) -> None:
    everything = await register(
        client, school, receiver.url, ["consent.withdrawn", "consent.changed", "consent.restricted"]
    )
    pupil = await withdraw(client, school)  # a record (changed) and a withdrawal
    put = await client.put(
        f"{BASE}/pupils/{pupil}/never-publish", json={}, headers=school.headers("head_teacher")
    )
    assert put.status_code == 200
    await app.state.outbox.run_until_idle()
    types = [r.verify(everything["secret"])["type"] for r in receiver.requests]
    assert sorted(types) == ["consent.changed", "consent.restricted", "consent.withdrawn"]
    restricted = next(r for r in receiver.requests if b"consent.restricted" in r.body)
    assert set(restricted.verify(everything["secret"])["data"]) == {"school_id", "pupil_id", "seq", "version"}

    ended = await client.delete(f"{HOOKS}/{everything['id']}", headers=school.headers("mle"))
    assert ended.status_code == 204
    before = len(receiver.requests)
    await withdraw(client, school)
    await app.state.outbox.run_until_idle()
    assert len(receiver.requests) == before
    gone = await client.get(f"{HOOKS}/{everything['id']}/deliveries", headers=school.headers("mle"))
    assert gone.status_code == 404


async def test_another_schools_webhook_is_404_and_staff_may_not_register(
    app, client, school, other_school, receiver
) -> None:
    hook = await register(client, school, receiver.url)
    for method, path in [
        ("GET", f"{HOOKS}/{hook['id']}/deliveries"),
        ("DELETE", f"{HOOKS}/{hook['id']}"),
        ("POST", f"{HOOKS}/{hook['id']}/secret"),
    ]:
        response = await client.request(method, path, headers=other_school.headers("mle"))
        assert response.status_code == 404, (method, path, response.text)
    listed = await client.get(HOOKS, headers=other_school.headers("mle"))
    assert listed.json() == []
    refused = await client.post(
        HOOKS,
        json={"url": receiver.url, "events": ["consent.withdrawn"]},
        headers=school.headers("head_teacher"),
    )
    assert refused.status_code == 403


# --- SSRF (SECURITY.md "Outbound calls"): refused before any connection -----------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "https://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/",
        "https://[::ffff:169.254.169.254]/",
        "https://[fd00:ec2::254]/",
        "https://192.168.1.10/",
        "https://100.64.0.1/",
        "ftp://mle.example.org/",
        "https://user:pass@mle.example.org/",
    ],
)
async def test_private_and_metadata_targets_are_refused_even_in_development(app, client, school, url) -> None:
    response = await client.post(
        HOOKS, json={"url": url, "events": ["consent.withdrawn"]}, headers=school.headers("mle")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(HOOKS, headers=school.headers("mle"))).json() == []


async def test_plain_http_to_a_public_address_is_refused(app, client, school) -> None:
    app.state.webhook_resolver.names["mle.example.org"] = "93.184.216.34"
    response = await client.post(
        HOOKS,
        json={"url": "http://mle.example.org/hook", "events": ["consent.withdrawn"]},
        headers=school.headers("mle"),
    )
    assert response.status_code == 422 and "https" in response.json()["detail"]


async def test_in_production_a_name_resolving_to_loopback_is_refused(
    production_app, production_client, production_school, receiver
) -> None:
    production_app.state.webhook_resolver.names["mle.example.org"] = "127.0.0.1"
    port = receiver.url.split(":")[2].split("/")[0]
    for url in [f"https://mle.example.org:{port}/hooks", f"https://localhost:{port}/hooks", receiver.url]:
        response = await production_client.post(
            HOOKS,
            json={"url": url, "events": ["consent.withdrawn"]},
            headers=production_school.headers("mle"),
        )
        assert response.status_code == 422, (url, response.text)
    assert receiver.requests == []


async def test_in_production_a_name_rebound_to_loopback_after_registration_gets_nothing(
    production_app, production_client, production_school, receiver
) -> None:
    names = production_app.state.webhook_resolver.names
    names["mle.example.org"] = "93.184.216.34"  # public at registration (nothing connects to it)
    port = receiver.url.split(":")[2].split("/")[0]
    hook = await register(
        production_client, production_school, f"https://mle.example.org:{port}/hooks/consent"
    )
    names["mle.example.org"] = "127.0.0.1"  # ...and loopback by the time of the delivery
    await withdraw(production_client, production_school)
    assert await production_app.state.outbox.run_once() == 1
    assert receiver.requests == []
    [delivery] = await deliveries(production_client, production_school, hook)
    assert delivery["status"] == "pending"
    assert delivery["attempts"][0]["status_code"] is None
    assert delivery["attempts"][0]["error"].startswith("target refused")


async def test_a_redirect_is_never_followed(app, client, school, receiver) -> None:
    with WebhookReceiver() as elsewhere:
        receiver.statuses = [307]
        receiver.redirect_to = elsewhere.url
        hook = await register(client, school, receiver.url)
        await withdraw(client, school)
        assert await app.state.outbox.run_once() == 1
        assert len(receiver.requests) == 1 and elsewhere.requests == []
        [delivery] = await deliveries(client, school, hook)
        assert delivery["status"] == "pending"
        assert delivery["attempts"][0] == {
            **delivery["attempts"][0],
            "status_code": 307,
            "error": "redirect not followed",
        }


async def test_loopback_targets_need_the_development_setting_which_production_refuses() -> None:
    assert MediaConsentSettings(environment="development").webhook_allow_loopback is True
    assert MediaConsentSettings(environment="test").webhook_allow_loopback is False
    assert MediaConsentSettings(environment="production").webhook_allow_loopback is False
    with pytest.raises(ValueError, match="webhook_allow_loopback"):
        MediaConsentSettings(environment="production", webhook_allow_loopback=True)


async def test_a_consent_past_its_last_day_is_announced_once_as_expired(
    app, client, school, receiver, clock
) -> None:
    hook = await register(client, school, receiver.url, ["consent.expired"])
    pupil = await school.add_pupil(year_group="5")
    last_day = (clock.now() + timedelta(days=1)).date()
    await record_consent(client, school, pupil, GRANTS, valid_until=str(last_day))
    async with app.state.sessionmaker() as session:
        assert await expiry.announce_expired(session, now=clock.now()) == 0  # still valid
        await session.commit()
    clock.advance(days=2)
    async with app.state.sessionmaker() as session:
        assert await expiry.announce_expired(session, now=clock.now()) == 1
        await session.commit()
    async with app.state.sessionmaker() as session:
        assert await expiry.announce_expired(session, now=clock.now()) == 0  # once
        await session.commit()
    await app.state.outbox.run_until_idle()
    [got] = receiver.requests
    # Two days on the test's clock: past the receiver's five minutes, so the signature is checked as such.
    stamp = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
    assert got.headers["webhook-signature"] == Webhook(hook["secret"]).sign(
        got.webhook_id, stamp, got.body.decode()
    )
    event = json.loads(got.body)
    assert event["type"] == "consent.expired" and event["data"]["pupil_id"] == str(pupil)
    assert event["data"]["version"] == 1 and event["data"]["seq"] >= 1
