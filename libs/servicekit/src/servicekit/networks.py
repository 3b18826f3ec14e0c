"""Addresses: which peers are trusted proxies, who a request is really from, who may scrape metrics.

Behind the gateway every request a service sees comes from the gateway, and behind a load balancer
every request the gateway sees comes from the balancer: the client's address is in
`X-Forwarded-For`. Any client can write that header, so it is read only when the peer is a trusted
proxy (`PLATFORM_TRUSTED_PROXIES`), and then from the right: each trusted proxy appends the address
it was talking to, so the right-most address that is not itself a trusted proxy is the client. The
left-most entry is whatever the client chose to send and is never believed.

The gateway and every service parse the setting here and resolve the address with the same
function, so a sign-in's throttles and its audit entry name the same address at every hop.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The default of both settings: this host only (`manage.py run` and the tests run on loopback).
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def _parse(value: Any) -> tuple[Network, ...]:
    """Comma-separated CIDRs (or a JSON list, or a list) → networks; a bare address is one host.

    Strict: `10.0.0.5/24` (host bits set) is refused rather than read as the whole /24.
    """
    if isinstance(value, str):
        text = value.strip()
        items: Iterable[Any] = json.loads(text) if text.startswith("[") else text.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError("expected comma-separated CIDRs")
    networks = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        text = str(item).strip()
        if text:
            try:
                networks.append(ipaddress.ip_network(text))
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a network in CIDR notation (e.g. 10.0.0.0/24)") from exc
    return tuple(networks)


# A settings field type: `PLATFORM_TRUSTED_PROXIES=10.0.0.0/24,::1/128` (NoDecode: not JSON).
Networks = Annotated[tuple[Network, ...], NoDecode, BeforeValidator(_parse)]


def parse_address(text: str) -> Address | None:
    """An address as a peer or a forwarded entry gives it; IPv4-mapped IPv6 is read as IPv4."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def contains(networks: tuple[Network, ...], text: str | None) -> bool:
    """Whether the address `text` is in one of `networks` (an unreadable address is in none)."""
    address = parse_address(text) if text else None
    return address is not None and any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str | None:
    """The client's address: `peer`, unless it is a trusted proxy and sent `X-Forwarded-For`; then
    the right-most forwarded address that is not a trusted proxy (the left-most if all are).

    An entry that is not an address stops the walk at the last trusted hop: what lies to its left
    was never checked by anyone this service trusts.
    """
    if not forwarded_for or not trusted or not contains(trusted, peer):
        return peer
    client = peer
    for entry in reversed(forwarded_for.split(",")):
        address = parse_address(entry)
        if address is None:
            break
        client = str(address)
        if not any(address in network for network in trusted):
            break
    return client
