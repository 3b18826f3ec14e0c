"""Where the platform may call a URL someone registered (SECURITY.md "Outbound calls"): media-consent's
webhooks, identity's OpenID Connect back-channel logout. One guard for both:

- `https` to public (global unicast) addresses only; plain `http` only to loopback, and loopback only
  where `allow_loopback` is on (development, tests). Private, loopback, link-local (the cloud
  metadata address 169.254.169.254), shared, reserved and multicast addresses are refused before any
  connection, also when written as an IPv4-mapped IPv6 address.
- `check` at registration and again before every call (a name may resolve elsewhere by then: DNS
  rebinding); `post` connects to the very address that was checked, never a fresh lookup of the name
  (the name goes in the Host header and TLS's SNI, and the certificate is verified for the name).
- `client`: no redirect is followed, no proxy or netrc from the environment, short timeouts.

    target = await outbound.check(url, resolver=resolver, allow_loopback=False)  # TargetRefused
    response = await outbound.post(http, target, body=b"...", headers={...})

The resolver is injectable: tests map names to addresses themselves and never use DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (injectable: tests resolve names without DNS).
Resolver = Callable[[str, int], Awaitable[list[Address]]]

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 2.0


class TargetRefused(Exception):
    """The platform may not call this URL (the message says why, naming no address)."""


@dataclass(frozen=True)
class Target:
    url: SplitResult
    host: str
    port: int
    addresses: tuple[Address, ...]


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    return _unmapped(address)


def _unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.1) judged, and connected to, as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def system_resolver(*, use_dns: bool = True) -> Resolver:
    """getaddrinfo; without DNS, only IP literals and `localhost` resolve (the tests' platforms)."""

    async def resolve(host: str, port: int) -> list[Address]:
        literal = _address(host)
        if literal is not None:
            return [literal]
        if not use_dns and host.lower() not in ("localhost", "localhost."):
            raise TargetRefused("The target's host name does not resolve.")
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise TargetRefused("The target's host name does not resolve.") from exc
        found = [_address(str(info[4][0])) for info in infos]
        return [a for a in dict.fromkeys(found) if a is not None]

    return resolve


def parse(url: str) -> tuple[SplitResult, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("The URL is not a valid http(s) URL.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("The URL must be an https URL.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL may not carry credentials.")
    if parts.fragment:
        raise TargetRefused("The URL may not have a fragment.")
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def allowed(address: Address, *, allow_loopback: bool) -> bool:
    """Global unicast only; loopback too where `allow_loopback` is on."""
    if allow_loopback and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


async def check(url: str, *, resolver: Resolver, allow_loopback: bool) -> Target:
    """The target, with the addresses it resolves to now, every one of them allowed; else refused."""
    parts, host, port = parse(url)
    addresses = list(dict.fromkeys(_unmapped(a) for a in await resolver(host, port)))
    if not addresses:
        raise TargetRefused("The target's host name does not resolve.")
    if not all(allowed(a, allow_loopback=allow_loopback) for a in addresses):
        raise TargetRefused(
            "The target must be on a public address (not private, loopback, link-local or reserved)."
        )
    if parts.scheme != "https" and not all(a.is_loopback for a in addresses):
        raise TargetRefused("The URL must be an https URL.")
    return Target(parts, host, port, tuple(addresses))


def client(*, connect_timeout: float, timeout: float) -> httpx.AsyncClient:
    """The client outbound calls go out on: no redirects, no proxies or netrc from the environment."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


async def post(
    http: httpx.AsyncClient,
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    content_type: str = "application/json",
) -> httpx.Response:
    """POST to the checked address itself (never a fresh lookup of the name); the answer's body is
    not read (a 3xx is returned as it is: `client` follows no redirect)."""
    address = target.addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{target.port}"
    url = urlunsplit((target.url.scheme, netloc, target.url.path or "/", target.url.query, ""))
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.port in (80, 443) else f"{name}:{target.port}"
    request = http.build_request(
        "POST",
        url,
        content=body,
        headers={**headers, "Host": host_header, "Content-Type": content_type},
        extensions={"sni_hostname": target.host} if target.url.scheme == "https" else {},
    )
    response = await http.send(request, stream=True)
    await response.aclose()
    return response


def loopback_setting(value: bool | None, *, environment: str, name: str) -> bool:
    """A service's allow-loopback setting: on by default in development only, never in production."""
    if value is None:
        value = environment == "development"
    if value and environment == "production":
        raise ValueError(f"{name} must be off in production")
    return value
