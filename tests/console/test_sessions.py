"""console.sessions: the in-memory store (one console) and the Redis store (every replica) keep the
same rules. Timeouts are judged by the injected clock (nothing sleeps); rotation makes the old id
useless; in Redis a session is sealed, named by a hash of its id, and a value anyone changed or
planted there is refused.

The Redis tests use the server on 127.0.0.1:6379 (skipped without it), under a prefix of this run's
own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from console.api import Api
from console.auth import SignIn
from console.config import ConsoleSettings
from console.sessions import MemoryStore, RedisStore, Session, SessionStore, decode_key, new_key
from servicekit.clock import FrozenClock

IDLE = timedelta(minutes=10)
ABSOLUTE = timedelta(hours=12)
TOKEN = "eyJhbGciOiJFUzI1NiJ9.a-very-particular-access-token.signature"


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


needs_redis = pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    prefix = f"test-console-{uuid.uuid4().hex[:10]}:"
    client = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


Factory = Callable[[FrozenClock], SessionStore]


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    if request.param == "memory":
        yield lambda clock: MemoryStore(clock, idle=IDLE, absolute=ABSOLUTE)
        return
    prefix = f"test-console-{uuid.uuid4().hex[:10]}:"
    key = decode_key(new_key())
    stores: list[RedisStore] = []

    def factory(clock: FrozenClock) -> SessionStore:
        store = RedisStore(
            clock, idle=IDLE, absolute=ABSOLUTE, redis=Redis.from_url("redis://127.0.0.1:6379/0"), key=key,
            prefix=prefix,
        )  # fmt: skip
        stores.append(store)
        return store

    yield factory
    cleanup = Redis.from_url("redis://127.0.0.1:6379/0")
    keys = [k async for k in cleanup.scan_iter(match=prefix + "*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()
    for store in stores:
        await store.close()


async def signed_in(store: SessionStore) -> Session:
    session = await store.new()
    session.access_token = TOKEN
    session.refresh_token = "refresh-" + uuid.uuid4().hex
    session.person = {"username": "t.teacher", "roles": ["teacher"]}
    session = await store.rotate(session)
    await store.save(session)
    return session


async def request(store: SessionStore, session_id: str) -> Session | None:
    """What one page does: read the session, and save it when done."""
    session = await store.get(session_id)
    if session is not None:
        await store.save(session)
    return session


async def test_a_session_ends_after_ten_minutes_idle_by_the_clock(make: Factory) -> None:
    clock = FrozenClock()
    store = make(clock)
    sid = (await signed_in(store)).id
    clock.advance(minutes=9, seconds=59)
    assert await request(store, sid) is not None
    clock.advance(minutes=9, seconds=59)
    found = await request(store, sid)
    assert found is not None and found.access_token == TOKEN, "each request restarts the idle clock"
    clock.advance(minutes=10, seconds=1)
    assert await request(store, sid) is None
    clock.set(clock.now() - timedelta(minutes=5))
    assert await request(store, sid) is None, "an ended session stays ended"


async def test_a_session_ends_after_twelve_hours_however_busy(make: Factory) -> None:
    clock = FrozenClock()
    store = make(clock)
    start = clock.now()
    sid = (await signed_in(store)).id
    step = timedelta(minutes=9, seconds=59)
    while clock.now() + step - start <= ABSOLUTE:
        clock.advance(step)
        assert await request(store, sid) is not None
    clock.advance(step)
    assert await request(store, sid) is None


async def test_rotation_at_sign_in_makes_the_old_id_useless(make: Factory) -> None:
    """Attack: an id planted in the victim's browser before they sign in (session fixation)."""
    clock = FrozenClock()
    store = make(clock)
    planted = await store.new()
    planted_id, planted_csrf = planted.id, planted.csrf
    planted.access_token = TOKEN
    rotated = await store.rotate(planted)
    await store.save(rotated)
    assert rotated.id != planted_id and rotated.csrf != planted_csrf
    assert await request(store, planted_id) is None
    assert (await request(store, rotated.id)) is not None


async def test_sign_out_ends_the_session(make: Factory) -> None:
    clock = FrozenClock()
    store = make(clock)
    session = await signed_in(store)
    await store.end(session)
    assert await request(store, session.id) is None
    await store.save(session)  # a page still in flight saves after the sign-out
    assert await request(store, session.id) is None, "a saved page does not bring it back"


async def test_unknown_and_empty_ids_are_no_session(make: Factory) -> None:
    store = make(FrozenClock())
    assert await store.get(None) is None
    assert await store.get("") is None
    assert await store.get("not-an-id") is None
    assert await store.get("x" * 10_000) is None


class Identity:
    """identity's token endpoint as far as a refresh goes: a refresh token works once, and a second
    use of one revokes the whole sign-in (reuse detection), as identity does; an API that takes the
    current access token only."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.access = {"at-0"}
        self.refreshes = 0
        self.revoked = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            refresh_token = dict(urllib.parse.parse_qsl(request.content.decode()))["refresh_token"]
            await asyncio.sleep(0)  # the other request runs meanwhile (a yield; nothing waits)
            if self.revoked or refresh_token in self.used:
                self.revoked, self.access = True, set()
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.used.add(refresh_token)
            self.refreshes += 1
            n = self.refreshes
            self.access = {f"at-{n}"}
            return httpx.Response(
                200, json={"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "expires_in": 300}
            )
        token = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(200 if token in self.access else 401, json={})


async def test_two_requests_at_once_refresh_the_tokens_once(make: Factory) -> None:
    """Two pages of one person at once (on one console, or on two sharing Redis), both when the
    access token is due: one refresh, and both pages are served. Refreshing twice would spend the
    single-use refresh token twice, and identity would end the person's sign-in."""
    clock = FrozenClock()
    one = make(clock)
    two = one if isinstance(one, MemoryStore) else make(clock)
    session = await one.new()
    session.access_token, session.refresh_token = "at-0", "rt-0"
    session.expires_at = clock.now() + timedelta(minutes=5)
    session = await one.rotate(session)
    await one.save(session)
    clock.advance(minutes=5)
    first, second = await one.get(session.id), await two.get(session.id)
    assert first is not None and second is not None
    identity = Identity()
    sign_in = SignIn(ConsoleSettings(environment="test"), clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(identity), base_url="http://gateway") as http:
        pages = await asyncio.gather(
            Api(http, first, sign_in, [], one).get("/v1/incidents/alerts/mine"),
            Api(http, second, sign_in, [], two).get("/v1/incidents/alerts/mine"),
        )
    assert [p.status for p in pages] == [200, 200]
    assert identity.refreshes == 1 and not identity.revoked
    assert first.access_token == second.access_token == "at-1"


async def test_a_page_saved_after_another_pages_refresh_keeps_the_new_tokens(make: Factory) -> None:
    """A slow page that read the session before another page refreshed its tokens, saved when it is
    done, must not put the spent refresh token back: the next refresh would be a reuse, and identity
    would end the person's sign-in."""
    clock = FrozenClock()
    one = make(clock)
    two = one if isinstance(one, MemoryStore) else make(clock)
    session = await one.new()
    session.access_token, session.refresh_token = "at-0", "rt-0"
    session.expires_at = clock.now() + timedelta(minutes=5)
    session = await one.rotate(session)
    await one.save(session)
    slow = await two.get(session.id)  # a page that needs no refresh yet (its token still good)
    clock.advance(minutes=5)
    quick = await one.get(session.id)
    assert slow is not None and quick is not None
    identity = Identity()
    sign_in = SignIn(ConsoleSettings(environment="test"), clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(identity), base_url="http://gateway") as http:
        assert (await Api(http, quick, sign_in, [], one).get("/v1/devices/alerts/mine")).status == 200
        await one.save(quick)
        slow.flash = {"message": "Phone returned"}
        await two.save(slow)  # the slow page ends after the refresh
        later = await one.get(session.id)
        assert later is not None and later.refresh_token == "rt-1" and later.flash == slow.flash
        assert (await Api(http, later, sign_in, [], one).get("/v1/devices/alerts/mine")).status == 200
    assert identity.refreshes == 1 and not identity.revoked


# --- Redis only ------------------------------------------------------------------------------------


def redis_store(clock: FrozenClock, client: Redis, prefix: str, key: str | None = None) -> RedisStore:
    return RedisStore(
        clock, idle=IDLE, absolute=ABSOLUTE, redis=client, key=decode_key(key or new_key()), prefix=prefix
    )


@needs_redis
async def test_two_consoles_share_a_session_and_a_restart_keeps_it(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    clock, key = FrozenClock(), new_key()
    one, two = redis_store(clock, client, prefix, key), redis_store(clock, client, prefix, key)
    session = await signed_in(one)
    session.flash = {"message": "Concern reported. Reference INC-1"}
    # The office's roll upload between its dry run and Apply (console.roll): the file goes with it.
    session.roll_upload = {"content_b64": base64.b64encode(b"mis_id,forename\r\n").decode(), "applied": None}
    await one.save(session)
    other = await two.get(session.id)
    assert other is not None and other.access_token == TOKEN and other.flash == session.flash
    assert other.roll_upload == session.roll_upload
    assert other.created_at == session.created_at and other.person == session.person
    restarted = redis_store(clock, Redis.from_url("redis://127.0.0.1:6379/0"), prefix, key)
    try:
        assert await restarted.get(session.id) is not None
        await restarted.end(session)
    finally:
        await restarted.close()
    assert await one.get(session.id) is None and await two.get(session.id) is None


@needs_redis
async def test_redis_holds_no_token_no_id_and_expires_with_the_idle_timeout(redis: tuple[Redis, str]) -> None:
    """Attack: whoever reads Redis (a backup, a shared instance) learns neither a token nor a cookie."""
    client, prefix = redis
    store = redis_store(FrozenClock(), client, prefix)
    session = await signed_in(store)
    keys = sorted([k async for k in client.scan_iter(match=prefix + "*")])
    name = prefix + hashlib.sha256(session.id.encode()).hexdigest()
    assert keys == [name.encode(), (name + ":tokens").encode()]
    for key in keys:
        value = await client.get(key)
        assert isinstance(value, bytes)
        for secret in (TOKEN, session.refresh_token or "", session.id, session.csrf, "t.teacher"):
            assert secret.encode() not in value
            assert base64.b64encode(secret.encode())[:16] not in value
        assert session.id.encode() not in key
        ttl = await client.pttl(key)
        assert 0 < ttl <= IDLE.total_seconds() * 1000


@needs_redis
async def test_a_changed_or_planted_value_in_redis_is_refused(redis: tuple[Redis, str]) -> None:
    """Attack: someone who can write to Redis changes a sealed session, moves another person's
    session under their own id, or plants one sealed with a key of their own."""
    client, prefix = redis
    clock, key = FrozenClock(), new_key()
    store = redis_store(clock, client, prefix, key)
    victim, attacker = await signed_in(store), await signed_in(store)
    victim_name, attacker_name = store.name(victim.id), store.name(attacker.id)

    # One bit of the sealed value flipped.
    sealed = await client.get(victim_name)
    assert isinstance(sealed, bytes)
    await client.set(victim_name, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert await store.get(victim.id) is None
    assert await client.exists(victim_name) == 0, "a value that fails to verify is removed"

    # The victim's sealed session copied under the attacker's own key (their own cookie).
    victim = await signed_in(store)
    await client.set(store.name(attacker.id), await client.get(store.name(victim.id)) or b"")
    assert await store.get(attacker.id) is None

    # A session sealed with another key (another deployment's, or the attacker's own).
    forged = redis_store(clock, client, prefix)
    attacker = await signed_in(store)
    mine = Session(id=attacker.id, created_at=clock.now(), last_seen=clock.now(), access_token="forged")
    await client.set(store.name(attacker.id), forged.seal(mine))
    assert await store.get(attacker.id) is None

    # The victim's tokens copied beside the attacker's own session (a value sealed for another key).
    victim = await signed_in(store)
    attacker = await signed_in(store)
    victim_tokens = await client.get(store.name(victim.id) + ":tokens")
    assert isinstance(victim_tokens, bytes)
    await client.set(store.name(attacker.id) + ":tokens", victim_tokens)
    assert await store.get(attacker.id) is None

    # Plain JSON (not sealed at all).
    await client.set(attacker_name, b'{"id": "x", "access_token": "forged"}')
    assert await store.get(attacker.id) is None
    assert (await store.get(victim.id)) is not None, "the victim's own session is untouched"


def test_redis_needs_a_session_key_of_32_bytes() -> None:
    with pytest.raises(ValueError, match="CONSOLE_SESSION_KEY"):
        ConsoleSettings(redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="32 random bytes"):
        ConsoleSettings(redis_url="redis://127.0.0.1:6379/0", session_key="too-short")
    with pytest.raises(ValueError, match="placeholder"):
        ConsoleSettings(
            environment="production", redis_url="redis://redis:6379/0", session_key="dev-only-set-me"
        )
    with pytest.raises(ValueError, match="placeholder"):
        ConsoleSettings(environment="production", oidc_client_secret="dev-only-set-me")
    ok = ConsoleSettings(redis_url="redis://127.0.0.1:6379/0", session_key=new_key())
    assert len(decode_key(ok.session_key.get_secret_value())) == 32


def test_without_its_redis_the_console_is_not_ready_and_shows_no_page() -> None:
    """Redis unreachable: /readyz is 503 (Kubernetes takes the console out of its Service), and a
    page is a plain 503 with the console's headers, never a 500 or a page without a session."""
    from fastapi.testclient import TestClient

    from console.main import create_app

    settings = ConsoleSettings(environment="test", redis_url="redis://127.0.0.1:1/0", session_key=new_key())
    with TestClient(create_app(settings, clock=FrozenClock()), base_url="http://127.0.0.1") as console:
        assert console.get("/livez").status_code == 200
        ready = console.get("/readyz")
        assert ready.status_code == 503 and ready.headers["content-type"] == "application/problem+json"
        page = console.get("/sign-in", headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 503 and "Sign-in is not available" in page.text
        assert page.headers["retry-after"] == "30"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "set-cookie" not in page.headers
