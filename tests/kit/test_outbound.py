"""servicekit.outbound, the one guard on URLs the platform calls (SECURITY.md "Outbound calls"):
media-consent's webhooks and identity's back-channel logout use it (their own tests attack it
through their APIs). Here its rules on their own, with an injected resolver: nothing goes to DNS."""

from __future__ import annotations

import ipaddress

import pytest

from servicekit import outbound


def resolver(table: dict[str, list[str]]) -> outbound.Resolver:
    async def resolve(host: str, port: int) -> list[outbound.Address]:
        return [ipaddress.ip_address(a) for a in table.get(host, [])]

    return resolve


@pytest.mark.parametrize(
    ("address", "loopback", "ok"),
    [
        ("93.184.216.34", False, True),
        ("2606:2800:220:1:248:1893:25c8:1946", False, True),
        ("10.0.0.1", False, False),
        ("172.16.0.1", False, False),
        ("192.168.1.10", False, False),
        ("169.254.169.254", False, False),
        ("100.64.0.1", False, False),  # shared (carrier-grade NAT)
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
        ("fd00:ec2::254", False, False),
        ("fe80::1", False, False),
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("127.0.0.1", True, True),
        ("::1", True, True),
        ("10.0.0.1", True, False),  # allowing loopback allows nothing else
    ],
)
def test_only_global_unicast_addresses_are_allowed(address: str, loopback: bool, ok: bool) -> None:
    assert outbound.allowed(ipaddress.ip_address(address), allow_loopback=loopback) is ok


async def test_check_returns_the_addresses_it_allowed() -> None:
    target = await outbound.check(
        "https://hooks.example.org:8443/in?x=1",
        resolver=resolver({"hooks.example.org": ["93.184.216.34"]}),
        allow_loopback=False,
    )
    assert (target.host, target.port) == ("hooks.example.org", 8443)
    assert target.addresses == (ipaddress.ip_address("93.184.216.34"),)


@pytest.mark.parametrize(
    ("url", "table"),
    [
        # one private address among public ones is enough to refuse (the connection could go there)
        ("https://mixed.example.org/", {"mixed.example.org": ["93.184.216.34", "10.0.0.1"]}),
        ("https://[::ffff:169.254.169.254]/", {}),
        ("https://inside.example.org/", {"inside.example.org": ["::ffff:10.0.0.1"]}),
        ("https://gone.example.org/", {}),  # resolves to nothing
        ("http://hooks.example.org/", {"hooks.example.org": ["93.184.216.34"]}),  # plain http, public
        ("https://u:p@hooks.example.org/", {"hooks.example.org": ["93.184.216.34"]}),
        ("https://hooks.example.org/#frag", {"hooks.example.org": ["93.184.216.34"]}),
        ("file:///etc/passwd", {}),
        ("https://hooks.example.org:99999/", {}),
        ("https://hooks.example.org/" + "a" * 2000, {"hooks.example.org": ["93.184.216.34"]}),
    ],
)
async def test_check_refuses(url: str, table: dict[str, list[str]]) -> None:
    with pytest.raises(outbound.TargetRefused) as refused:
        await outbound.check(url, resolver=resolver(table), allow_loopback=True)
    assert "10.0.0.1" not in str(refused.value) and "169.254" not in str(refused.value)


async def test_an_ipv4_mapped_answer_is_judged_and_connected_to_as_ipv4() -> None:
    names = resolver({"rp.test": ["::ffff:127.0.0.1"]})
    target = await outbound.check("http://rp.test/", resolver=names, allow_loopback=True)
    assert target.addresses == (ipaddress.ip_address("127.0.0.1"),)


async def test_loopback_only_where_allowed_and_then_plain_http_too() -> None:
    names = resolver({"rp.test": ["127.0.0.1"]})
    with pytest.raises(outbound.TargetRefused):
        await outbound.check("https://rp.test/", resolver=names, allow_loopback=False)
    target = await outbound.check("http://rp.test:8080/", resolver=names, allow_loopback=True)
    assert target.addresses == (ipaddress.ip_address("127.0.0.1"),)


async def test_without_dns_only_literals_and_localhost_resolve() -> None:
    resolve = outbound.system_resolver(use_dns=False)
    assert await resolve("10.0.0.1", 443) == [ipaddress.ip_address("10.0.0.1")]
    with pytest.raises(outbound.TargetRefused):
        await resolve("hooks.example.org", 443)


async def test_the_client_follows_no_redirect_and_ignores_the_environment() -> None:
    async with outbound.client(connect_timeout=2.0, timeout=3.0) as http:
        assert http.follow_redirects is False and http.trust_env is False
        assert (http.timeout.connect, http.timeout.read) == (2.0, 3.0)


def test_loopback_is_a_development_default_and_never_production() -> None:
    assert outbound.loopback_setting(None, environment="development", name="x") is True
    assert outbound.loopback_setting(None, environment="test", name="x") is False
    assert outbound.loopback_setting(True, environment="test", name="x") is True
    assert outbound.loopback_setting(None, environment="production", name="x") is False
    with pytest.raises(ValueError, match="x must be off in production"):
        outbound.loopback_setting(True, environment="production", name="x")
