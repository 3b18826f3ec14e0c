"""The request's outer layer as plain functions (servicekit.middleware), the one set of rules the
services' middleware and the gateway's proxy both call: request id, W3C traceparent, the client's
address, the body cap and its 413."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
from starlette.types import Message

from servicekit import middleware as kit

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SPAN = "b7ad6b7169203331"
NEW_TRACE = "0af7651916cd43dd8448eb211c80319c"
OWN = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def test_a_valid_traceparent_keeps_its_trace_and_flags_with_this_hops_span() -> None:
    assert kit.traceparent(f"00-{TRACE}-{PARENT}-01".encode(), NEW_TRACE, SPAN) == f"00-{TRACE}-{SPAN}-01"
    assert kit.traceparent(f"00-{TRACE}-{PARENT}-00".encode(), NEW_TRACE, SPAN) == f"00-{TRACE}-{SPAN}-00"
    # A later version is read by its first four fields, and passed on as 00.
    assert kit.traceparent(f"01-{TRACE}-{PARENT}-01".encode(), NEW_TRACE, SPAN) == f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    "given",
    [
        None,
        b"",
        b"garbage",
        f"ff-{TRACE}-{PARENT}-01".encode(),  # the version no trace context may use
        f"00-{'0' * 32}-{PARENT}-01".encode(),  # an all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01".encode(),  # an all-zero parent id
        f"00-{TRACE.upper()}-{PARENT}-01".encode(),  # upper-case hex
        f"00-{TRACE}-{PARENT}-01-extra".encode(),
        f"00-{TRACE[:-1]}-{PARENT}-01".encode(),
    ],
)
def test_anything_else_starts_a_new_sampled_trace(given: bytes | None) -> None:
    assert kit.traceparent(given, NEW_TRACE, SPAN) == f"00-{NEW_TRACE}-{SPAN}-01"


def test_request_ids_keep_what_the_caller_sent_when_well_formed() -> None:
    request_id, parent = kit.request_ids(b"mis-sync-0042", f"00-{TRACE}-{PARENT}-01".encode())
    assert request_id == "mis-sync-0042"
    assert parent[kit.TRACE_ID] == TRACE and parent.split("-")[2] != PARENT
    made, fresh = kit.request_ids(b'bad id"<script>', None)
    assert re.fullmatch(r"[0-9a-f]{32}", made) and OWN.fullmatch(fresh)
    assert fresh[kit.TRACE_ID] not in made and kit.request_ids(None, None)[0] != made


def test_client_ip_believes_x_forwarded_for_from_a_trusted_proxy_only() -> None:
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    forwarded = b"203.0.113.9, 198.51.100.7,10.0.0.2"
    assert kit.client_ip({"client": ("10.0.0.1", 5000)}, forwarded, trusted) == "198.51.100.7"
    assert kit.client_ip({"client": ("192.0.2.1", 5000)}, forwarded, trusted) == "192.0.2.1"
    assert kit.client_ip({"client": ("10.0.0.1", 5000)}, None, trusted) == "10.0.0.1"
    assert kit.client_ip({}, forwarded, trusted) is None


def test_declared_length_reads_plain_digits_only() -> None:
    assert kit.declared_length(b"1024") == 1024
    assert [kit.declared_length(v) for v in (None, b"", b"-1", b"1e3", b" 12")] == [None] * 5


def test_the_body_cap_counts_every_piece_and_refuses_past_the_limit() -> None:
    cap = kit.BodyCap(10)
    cap.count(b"x" * 6)
    cap.count(b"y" * 4)
    assert cap.received == 10 and not cap.exceeded
    with pytest.raises(kit.BodyTooLarge):
        cap.count(b"z")
    assert cap.exceeded


async def test_the_413_is_one_problem() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await kit.send_problem(send, 413, kit.too_large_problem(2048), [(b"x-request-id", b"r-1")])
    start, body = sent
    assert start["status"] == 413
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"x-request-id"] == b"r-1"
    problem = json.loads(body["body"])
    assert int(headers[b"content-length"]) == len(body["body"])
    assert problem["status"] == 413 and problem["type"].endswith("payload-too-large")
    assert problem["detail"] == "The request body is larger than 2048 bytes."
