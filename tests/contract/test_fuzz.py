"""Contract fuzzing: schemathesis against the whole platform through the gateway's merged OpenAPI.

Every operation, with every check schemathesis has (server errors, status codes, content types,
headers and bodies against their schemas, bad input refused, good input accepted, missing or
invalid credentials refused, object-level authorization between two schools' peers). Tokens of
several roles of two schools are the identities (a Web Fuzzing Commons document): schemathesis
tries them in order per operation, and replays one school's reads as the other school. A second
run sends a few cases of every operation with a token of each role and outside client in turn.
Nothing the schema allows is left out (cursors included): the gateway's query cap covers every
query string the schema allows (checked from the document itself, below).
Deterministic and bounded, so CI gets the same cases every run within its time.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from gateway.config import GatewaySettings
from tests.contract.access import operations
from tests.platform import RunningPlatform
from tests.world import CLIENTS, World
from tests.world import ROLES as WORLD_ROLES

pytestmark = pytest.mark.processes

MAX_EXAMPLES = 10
# Cases per operation in the every-role run; each is sent once per role and client (15 tokens).
ROLE_EXAMPLES = 5
# The gateway's caps (body 413, query 414, headers 431) are rejections too.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
# Rules of the published contract that a JSON Schema cannot state, so schema-valid data can break
# them; for these operations a 422 naming the rule is the right answer (every other check still
# runs). Each is tested by its own service's tests.
SEMANTIC_422 = {
    # SECURITY.md API3: naming another school's school_id is 422 (property-level authorization).
    "GET /v1/identity/schools": "school_id must be the caller's own school",
    "POST /v1/identity/agreements": "school_id must be the caller's own school",
    "POST /v1/identity/people": "a pupil needs a year_group; school_id is the caller's own",
    # CONTRACT.md: `given_by` is a carer with parental responsibility; a purpose/media pair once.
    "POST /v1/media-consent/records": "given_by must be a carer with parental responsibility",
    "POST /v1/media-consent/pupils/{pupil_id}/withdrawals": "given_by must be a carer with PR",
    "POST /v1/identity/people/imports": "each row is checked against the roll (refused rows)",
    # SECURITY.md "Outbound calls": a webhook target is https on a public address (resolved now).
    "POST /v1/media-consent/webhooks": "the url must be https on a public address",
}
# A token of each role and outside client (tests/world.py makes each of them).
ROLES = (*WORLD_ROLES, *CLIENTS)
# School A's staff in the order schemathesis tries them for an operation, then school B's.
IDENTITIES = (
    "head_teacher",
    "safeguarding_lead",
    "office",
    "computing_lead",
    "parent",
    "office_system",
    "la",
)


def _names_records(node: Any, doc: dict[str, Any], depth: int = 0) -> bool:
    """Whether a body schema has a field holding another record's id (a UUID)."""
    if depth > 6 or not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str):
        node = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    if node.get("format") == "uuid":
        return True
    children = [*node.get("properties", {}).values(), *node.get("anyOf", []), node.get("items")]
    return any(_names_records(child, doc, depth + 1) for child in children)


def referring_operations(doc: dict[str, Any]) -> set[str]:
    """Writes whose body names other records by id: an id this school does not hold is 422
    ("pupil_id is not a pupil of this school"), which no schema can foresee."""
    found = set()
    for route, operation in operations(doc).items():
        content = (operation.get("requestBody") or {}).get("content", {})
        if _names_records(content.get("application/json", {}).get("schema"), doc):
            found.add(route)
    return found


# The most bytes one character of a query value takes on the wire: a 4-byte UTF-8 code point,
# percent-encoded (%F0%9F%98%80). JSON Schema's maxLength counts characters.
WORST_BYTES_PER_CHAR = 12
# Formats with a bounded text form, by their longest: a date-time counted as up to 40 characters
# (offset and fraction), each of which a client may percent-encode.
FORMAT_BYTES = {"uuid": 36, "date": 10, "date-time": 40 * 3}


def worst_value_bytes(schema: dict[str, Any]) -> int | None:
    """The longest a schema-valid query value can be once URL-encoded (None: unbounded)."""
    worst = 0
    for branch in schema.get("anyOf", [schema]):
        kind = branch.get("type")
        if kind == "null":
            continue
        if "enum" in branch:
            size = max(len(quote(str(v), safe="")) for v in branch["enum"])
        elif kind == "boolean":
            size = len("false")
        elif kind == "integer":
            if "minimum" not in branch or "maximum" not in branch:
                return None
            size = max(len(str(branch["minimum"])), len(str(branch["maximum"])))
        elif kind == "string" and (branch.get("format") or schema.get("format")) in FORMAT_BYTES:
            size = FORMAT_BYTES[branch.get("format") or schema["format"]]
        elif kind == "string" and "maxLength" in branch:
            size = branch["maxLength"] * WORST_BYTES_PER_CHAR
        else:
            return None
        worst = max(worst, size)
    return worst


def worst_query_bytes(operation: dict[str, Any]) -> int | None:
    """The longest query string a schema-valid request of `operation` can send."""
    total = 0
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        schema = parameter["schema"]
        arrays = [b for b in schema.get("anyOf", [schema]) if b.get("type") == "array"]
        if arrays:
            items = worst_value_bytes(arrays[0].get("items", {}))
            count = arrays[0].get("maxItems")
            if items is None or count is None:
                return None
            total += count * (len(parameter["name"]) + 2 + items)
            continue
        value = worst_value_bytes(schema)
        if value is None:
            return None
        total += len(parameter["name"]) + 2 + value  # name=value&
    return total


def test_the_gateway_takes_every_query_string_the_schema_allows(merged_openapi: dict[str, Any]) -> None:
    """No schema-valid request is 414: each query parameter is bounded, and all of them at their
    longest fit the gateway's default `max_query_length`."""
    limit = GatewaySettings.model_fields["max_query_length"].default
    too_long = {}
    for route, operation in operations(merged_openapi).items():
        worst = worst_query_bytes(operation)
        if worst is None or worst > limit:
            too_long[route] = worst
    assert too_long == {}, f"query strings the schema allows beyond {limit} bytes (None: unbounded)"


def test_the_longest_audit_search_the_schema_allows_is_answered(world: World) -> None:
    # Each filter at its maxLength in 4-byte characters: about 5.4 KB once percent-encoded.
    emoji = "\N{GRINNING FACE}"
    params = {
        "action": emoji * 100,
        "actor": emoji * 200,
        "target_type": emoji * 50,
        "target_id": emoji * 100,
    }
    response = world.platform.gateway.get(
        "/v1/incidents/audit", params=params, headers=world.a.headers("head_teacher")
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def wfc_document(world: World) -> dict[str, Any]:
    entries = []
    for name, school in (("a", world.a), ("b", world.b)):
        for who in IDENTITIES:
            token = school.headers(who)["Authorization"]
            entries.append(
                {"name": f"{who}_{name}", "fixedHeaders": [{"name": "Authorization", "value": token}]}
            )
    admin = world.platform.admin_headers["Authorization"]
    entries.append({"name": "platform_admin", "fixedHeaders": [{"name": "Authorization", "value": admin}]})
    return {"auth": entries}


def fuzz_config(
    platform: RunningPlatform,
    merged_openapi: dict[str, Any],
    *,
    examples: int,
    auth: dict[str, Any],
    phases: dict[str, Any] | None = None,
) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261129,
            "base-url": platform.runner.url("gateway"),
            "generation": {"max-examples": examples, "deterministic": True},
            **({"auth": auth} if auth else {}),
            **({"phases": phases} if phases else {}),
            "checks": {
                "negative_data_rejection": {"expected-statuses": REJECTED},
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            },
            "operations": [
                {
                    "include-name": name,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
                }
                for name in sorted(set(SEMANTIC_422) | referring_operations(merged_openapi))
            ],
        }
    )


@pytest.fixture(scope="module")
def api_schema(
    platform: RunningPlatform,
    world: World,
    merged_openapi: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "auth.json"
    path.write_text(json.dumps(wfc_document(world)), encoding="utf-8")
    auth = {"wfc": {"path": str(path), "peers": ["head_teacher_a", "head_teacher_b"]}}
    config = fuzz_config(platform, merged_openapi, examples=MAX_EXAMPLES, auth=auth)
    return schemathesis.openapi.from_dict(merged_openapi, config=config)


@pytest.fixture(scope="module")
def role_schema(platform: RunningPlatform, merged_openapi: dict[str, Any]) -> Any:
    """The same document without an auth provider: the test sends each role's token itself."""
    # Generated cases only (the boundary cases of the coverage phase are the first run's): each is
    # sent once per token, so the run stays within a couple of minutes.
    phases = {"coverage": {"enabled": False}, "examples": {"enabled": False}}
    config = fuzz_config(platform, merged_openapi, examples=ROLE_EXAMPLES, auth={}, phases=phases)
    return schemathesis.openapi.from_dict(merged_openapi, config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32.5's lazy schema reads `node._nodeid`, which pytest 9 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")
role_schema_cases = schemathesis.pytest.from_fixture("role_schema")


def _fresh_idempotency_key(case: Any) -> None:
    if case.meta is not None and case.meta.generation.mode.is_positive and case.headers:
        # A client gives each distinct request its own Idempotency-Key; the same key with another
        # body is rightly 422 (CONTRACT.md), and generated keys repeat.
        for name in list(case.headers):
            if name.lower() == "idempotency-key":
                case.headers[name] = uuid.uuid4().hex


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case: Any) -> None:
    # Cursors too are generated from the schema: every cursor it allows is a place in the list
    # (a UUID) or the feed (a number), so none is excluded.
    _fresh_idempotency_key(case)
    case.call_and_validate()


@role_schema_cases.parametrize()
@settings(
    max_examples=ROLE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_role_gets_the_contract(case: Any, world: World) -> None:
    """Every check, with a token of each role and outside client of school A (and the platform
    administrator): the same few cases per operation, sent as each of them in turn."""
    for who in ROLES:
        _fresh_idempotency_key(case)
        case.headers = {**(case.headers or {}), "Authorization": world.a.headers(who)["Authorization"]}
        case.call_and_validate()
