"""Whose address a request is from (PLATFORM_TRUSTED_PROXIES) and who may read /metrics
(PLATFORM_METRICS_SCRAPERS), in the gateway and in a service alike.

The processes run on loopback; a client socket bound to 127.0.0.2 plays a trusted proxy (a load
balancer in front of the gateway, or the gateway in front of a service, as in compose where it is
not on 127.0.0.1), and one bound to 127.0.0.3 plays a client on the internet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from identity.roles import scopes_for_roles
from servicekit.networks import client_address
from servicekit.platform import PlatformRunner
from servicekit.settings import ServiceSettings
from servicekit.testing import TokenFactory, drop_test_database
from tests.platform import start_platform

TRUSTED = "127.0.0.2"
OUTSIDER = "127.0.0.3"


def test_the_client_is_the_right_most_address_no_trusted_proxy_added() -> None:
    trusted = ServiceSettings(trusted_proxies="10.0.0.0/24,127.0.0.1/32").trusted_proxies
    # A load balancer (10.0.0.5) appended the address it saw; the client wrote the rest itself.
    assert client_address("10.0.0.5", "6.6.6.6, 198.51.100.7", trusted) == "198.51.100.7"
    # Every trusted hop is walked past; with only trusted hops, the farthest is the client.
    assert client_address("127.0.0.1", "198.51.100.7, 10.0.0.9", trusted) == "198.51.100.7"
    assert client_address("127.0.0.1", "10.0.0.8, 10.0.0.9", trusted) == "10.0.0.8"
    # From anyone else, the header is not read at all.
    assert client_address("198.51.100.99", "10.0.0.9", trusted) == "198.51.100.99"
    # Something that is no address ends the walk at the last hop that was checked.
    assert client_address("10.0.0.5", "198.51.100.7, junk", trusted) == "10.0.0.5"
    assert client_address("::ffff:10.0.0.5", "198.51.100.7", trusted) == "198.51.100.7"


def test_trusted_proxies_are_cidrs_and_a_sloppy_one_is_refused() -> None:
    assert [str(n) for n in ServiceSettings().trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    assert ServiceSettings(trusted_proxies="").trusted_proxies == ()
    with pytest.raises(ValueError, match="CIDR"):
        ServiceSettings(trusted_proxies="10.0.0.5/24")  # host bits set: not read as the whole /24


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlatformRunner, TokenFactory]]:
    """Identity and the gateway, both trusting loopback's 127.0.0.1 and 127.0.0.2 as proxies."""
    runner, tokens = start_platform(
        Path(tmp_path_factory.mktemp("addresses")),
        services="identity",
        extra_env={"PLATFORM_TRUSTED_PROXIES": f"127.0.0.1/32,{TRUSTED}/32"},
    )
    try:
        yield runner, tokens
    finally:
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


def client_from(address: str, base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def audited_source(
    runner: PlatformRunner, tokens: TokenFactory, *, via: str, peer: str, forwarded: str
) -> str:
    """Fail a sign-in from `peer` (to `via`: the gateway or identity) sending `forwarded` as
    X-Forwarded-For, and return the address identity's audit entry names."""
    username = f"nobody-{uuid.uuid4().hex[:8]}"
    with client_from(peer, runner.url(via)) as client:
        refused = client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": username, "password": "not-the-password"},
            headers={"X-Forwarded-For": forwarded},
        )
    assert refused.status_code in (400, 401), refused.text
    admin = tokens.headers(scopes=sorted(scopes_for_roles(["platform_admin"])), roles=["platform_admin"])
    entries = httpx.get(
        runner.url("identity") + "/v1/identity/audit",
        params={"action": "signin.failed", "limit": 500},
        headers=admin,
        timeout=30,
    ).json()["items"]
    (entry,) = [e for e in entries if e["detail"].get("username") == username]
    return str(entry["source_ip"])


@pytest.mark.processes
def test_a_sign_in_is_audited_with_the_address_a_trusted_proxy_forwarded(edge) -> None:
    runner, tokens = edge
    # A load balancer in front of the gateway names the client; the gateway passes it on to identity.
    assert (
        audited_source(runner, tokens, via="gateway", peer=TRUSTED, forwarded="198.51.100.7")
        == "198.51.100.7"
    )
    # What the client wrote before the balancer's entry is not believed.
    seen = audited_source(runner, tokens, via="gateway", peer=TRUSTED, forwarded="203.0.113.66, 198.51.100.8")
    assert seen == "198.51.100.8"
    # A service behind a gateway that is not on 127.0.0.1 (compose): the gateway's entry is believed.
    seen = audited_source(runner, tokens, via="identity", peer=TRUSTED, forwarded="198.51.100.9, 127.0.0.1")
    assert seen == "198.51.100.9"


@pytest.mark.processes
def test_a_client_spoofing_x_forwarded_for_is_audited_with_its_own_address(edge) -> None:
    """Attack: a client writes X-Forwarded-For to dodge per-address limits or forge the audit."""
    runner, tokens = edge
    assert audited_source(runner, tokens, via="gateway", peer=OUTSIDER, forwarded="198.51.100.20") == OUTSIDER
    assert (
        audited_source(runner, tokens, via="identity", peer=OUTSIDER, forwarded="198.51.100.21") == OUTSIDER
    )


@pytest.mark.processes
def test_metrics_answer_only_the_configured_scrapers(edge) -> None:
    """Attack: anyone on the network reads the gateway's and a service's metrics."""
    runner, _tokens = edge
    for name in ("gateway", "identity"):
        with client_from(OUTSIDER, runner.url(name)) as outsider:
            refused = outsider.get("/metrics")
            assert refused.status_code == 404, name
            assert "http_request" not in refused.text
            # Nor does a trusted proxy's word make an outsider a scraper.
            assert outsider.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
        with client_from("127.0.0.1", runner.url(name)) as scraper:  # the default: loopback
            assert scraper.get("/metrics").status_code == 200, name
