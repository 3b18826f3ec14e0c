"""Contract fuzzing: schemathesis against the whole platform through the gateway's merged OpenAPI.

Every operation, with every check schemathesis has (server errors, status codes, content types,
headers and bodies against their schemas, bad input refused, good input accepted, missing or
invalid credentials refused, object-level authorization between two schools' peers). Tokens of
several roles of two schools are the identities (a Web Fuzzing Commons document): schemathesis
tries them in order per operation, and replays one school's reads as the other school.
Deterministic and bounded, so CI gets the same cases every run within its time.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.contract.access import operations
from tests.platform import RunningPlatform
from tests.world import World

pytestmark = pytest.mark.processes

MAX_EXAMPLES = 10
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
}
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


@pytest.fixture(scope="module")
def api_schema(
    platform: RunningPlatform,
    world: World,
    merged_openapi: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "auth.json"
    path.write_text(json.dumps(wfc_document(world)), encoding="utf-8")
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261129,
            "base-url": platform.runner.url("gateway"),
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "auth": {"wfc": {"path": str(path), "peers": ["head_teacher_a", "head_teacher_b"]}},
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
    return schemathesis.openapi.from_dict(merged_openapi, config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32.5's lazy schema reads `node._nodeid`, which pytest 9 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case: Any) -> None:
    if case.meta is not None and case.meta.generation.mode.is_positive and case.query:
        # A cursor is an opaque token the API gave out on an earlier page: no schema can describe
        # a valid one, and an unknown one is rightly 422. Positive cases start at the first page.
        case.query.pop("cursor", None)
    if case.meta is not None and case.meta.generation.mode.is_positive and case.headers:
        # A client gives each distinct request its own Idempotency-Key; the same key with another
        # body is rightly 422 (CONTRACT.md), and generated keys repeat.
        for name in list(case.headers):
            if name.lower() == "idempotency-key":
                case.headers[name] = uuid.uuid4().hex
    case.call_and_validate()
