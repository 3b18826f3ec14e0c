"""Two console processes sharing their sessions through Redis (CONSOLE_REDIS_URL), behind a
round-robin balancer (tests/balancer.py) that the gateway routes `/` to, as in Kubernetes:

- signed in through one console, the next pages through the other are signed in;
- both consoles restarted, the person is still signed in;
- signed out through one, the session is over at both (the old cookie is refused everywhere).

The platform is the run command's (processes on loopback, the demo school of scripts/demo.py);
the test signs in through identity's own OIDC pages, as a browser without JavaScript would.
Skipped without Redis on 127.0.0.1:6379; its keys carry a prefix of this run's, deleted afterwards.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from console.sessions import COOKIE, new_key
from servicekit.platform import PlatformRunner, load_spec
from servicekit.testing import drop_test_database, free_port
from tests.balancer import RoundRobin
from tests.console.conftest import Account, read_credentials, sign_in_through_identity
from tests.platform import ROOT, start_platform

pytestmark = pytest.mark.processes


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


@dataclass
class Consoles:
    runner: PlatformRunner
    balancer: RoundRobin
    accounts: dict[str, Account]
    prefix: str

    @property
    def gateway(self) -> str:
        return self.runner.url("gateway")

    def url(self, n: int) -> str:
        """The n-th console process (0 or 1), reached directly, not through the balancer."""
        return self.runner.replicas("console")[n].url


@pytest.fixture(scope="module")
def consoles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consoles]:
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    from scripts import demo as demo_script

    prefix = f"test-console-replicas-{uuid.uuid4().hex[:10]}:"
    replica_ports = [free_port(), free_port()]
    balancer = RoundRobin(replica_ports).start()
    env = {
        "CONSOLE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "CONSOLE_SESSION_KEY": new_key(),
        "CONSOLE_REDIS_KEY_PREFIX": prefix,
    }
    var_dir = tmp_path_factory.mktemp("console-replicas")
    try:
        # The gateway reaches the consoles through the balancer, as through a Kubernetes Service.
        ports = {s.name: free_port() for s in load_spec(ROOT).services}
        ports |= {"gateway": free_port(), "console": balancer.port}
        runner, _tokens = start_platform(
            var_dir, replica_ports={"console": replica_ports}, ports=ports, extra_env=env
        )
    except BaseException:
        balancer.stop()
        raise
    try:
        accounts = read_credentials(demo_script.seed(runner))
        yield Consoles(runner, balancer, accounts, prefix)
    finally:
        runner.stop()
        balancer.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def sign_in_at(console: httpx.Client, gateway: str, account: Account) -> None:
    """OIDC through identity's pages at the gateway; the callback taken to `console` itself."""
    sign_in_through_identity(console, account, gateway)


def page(base_url: str, cookie: str, path: str = "/") -> httpx.Response:
    """One page on a new connection (the balancer gives each connection the next console)."""
    with httpx.Client(base_url=base_url, timeout=30, cookies={COOKIE: cookie}) as client:
        return client.get(path)


def signed_in_as(response: httpx.Response, account: Account) -> bool:
    """The page is the signed-in person's (its header says who, with their role)."""
    return response.status_code == 200 and "Signed in as" in response.text and "(teacher)" in response.text


def test_a_session_made_at_one_console_holds_at_the_other_and_across_restarts(consoles: Consoles) -> None:
    teacher = consoles.accounts["teacher"]
    with httpx.Client(base_url=consoles.url(0), timeout=30) as first:
        sign_in_at(first, consoles.gateway, teacher)
        cookie = first.cookies[COOKIE]
    assert signed_in_as(page(consoles.url(0), cookie), teacher)

    # The other console knows the session: its pages, and the API calls they make, are the teacher's.
    other = page(consoles.url(1), cookie, "/concerns/new")
    assert signed_in_as(other, teacher), other.text[:500]
    assert "Report a concern" in other.text

    # Through the gateway (which reaches the consoles through the balancer), as a browser would.
    assert signed_in_as(page(consoles.gateway, cookie), teacher)

    # Both consoles restarted (nothing of the session left in any process): still signed in.
    for process in consoles.runner.replicas("console"):
        process.stop()
    for process in consoles.runner.replicas("console"):
        process.start()
    assert signed_in_as(page(consoles.url(1), cookie), teacher)
    assert signed_in_as(page(consoles.url(0), cookie), teacher)


def test_signing_out_at_one_console_ends_the_session_at_both(consoles: Consoles) -> None:
    teacher = consoles.accounts["teacher"]
    with httpx.Client(base_url=consoles.url(1), timeout=30) as second:
        sign_in_at(second, consoles.gateway, teacher)
        cookie = second.cookies[COOKIE]
    home = page(consoles.url(0), cookie)
    assert signed_in_as(home, teacher)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf, "the sign-out form carries the session's CSRF token"

    with httpx.Client(base_url=consoles.url(0), timeout=30, cookies={COOKIE: cookie}) as first:
        out = first.post("/sign-out", data={"csrf_token": csrf[1]})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"

    # Attack: the old cookie, kept and replayed, at either console and through the gateway.
    for base_url in (consoles.url(1), consoles.url(0), consoles.gateway):
        replayed = page(base_url, cookie)
        assert replayed.status_code == 303 and replayed.headers["location"].startswith("/sign-in"), base_url


def test_redis_holds_the_sessions_sealed_and_named_by_a_hash(consoles: Consoles) -> None:
    teacher = consoles.accounts["teacher"]
    with httpx.Client(base_url=consoles.url(0), timeout=30) as first:
        sign_in_at(first, consoles.gateway, teacher)
        cookie = first.cookies[COOKIE]
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        names = list(client.scan_iter(match=consoles.prefix + "*"))
        assert names
        for name in names:
            assert cookie.encode() not in name
            value = client.get(name)
            assert isinstance(value, bytes)
            for clear in (cookie.encode(), teacher.username.encode(), b"access_token", b"refresh_token"):
                assert clear not in value
    finally:
        client.close()
