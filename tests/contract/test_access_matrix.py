"""The authorization matrix: docs/access.md against the merged OpenAPI and the running platform.

Every operation of the gateway's OpenAPI has exactly one row; every cell is a real request through
the gateway with a token of that role or outside client of school A, asking for school A's own
records. `allow` must get the route's success status (its 2xx in the OpenAPI), with a valid
request (tests/contract/samples.py; its EXCEPTIONS name the few that cannot succeed, and why);
`deny` must be 403 (404 where telling would leak that the record exists); `own` and `public` must
get past authorization (no 401/403). Then a token of school A asks for every kind of school B's
records by id: 404.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.access import Rule, operations, read_access_table, send, success_status
from tests.contract.samples import EXCEPTIONS, sample
from tests.world import CLIENTS, ROLES, World

pytestmark = pytest.mark.processes

COLUMNS, RULES = read_access_table()


def test_the_table_names_every_role_and_client() -> None:
    assert [*ROLES, *CLIENTS] == COLUMNS


def test_every_route_has_exactly_one_row(merged_openapi: dict[str, Any]) -> None:
    documented = set(operations(merged_openapi))
    assert sorted(documented - set(RULES)) == [], "routes with no access rule in docs/access.md"
    assert sorted(set(RULES) - documented) == [], "rows in docs/access.md for routes that no longer exist"


def test_the_rows_scopes_are_the_routes_scopes(merged_openapi: dict[str, Any]) -> None:
    """The scopes column documents what the OpenAPI declares (servicekit's Scoped)."""
    for route, operation in operations(merged_openapi).items():
        if route not in RULES:
            continue  # test_every_route_has_exactly_one_row names it
        security = operation.get("security")
        declared = " ".join(sorted(security[0]["oauth2"])) if security else ""
        assert RULES[route].scopes == (declared or ("(none)" if security is None else "(any token)")), route


@pytest.mark.parametrize("route", sorted(RULES))
def test_each_cell_of_the_matrix(route: str, world: World, merged_openapi: dict[str, Any]) -> None:
    rule = RULES[route]
    operation = operations(merged_openapi).get(route)
    assert operation is not None, f"{route} is not in the OpenAPI"
    succeeds = EXCEPTIONS[route][0] if route in EXCEPTIONS else success_status(operation)
    wrong: list[str] = []
    for who, cell in rule.cells.items():
        headers = {} if cell == "public" else world.a.headers(who)
        call = sample(route, world.a, who) if cell == "allow" else None
        response = send(world.platform.gateway, rule, operation, world.a, headers, call)
        status = response.status_code
        assert status < 500, f"{route} as {who}: {status} {response.text}"
        if cell == "deny" and status not in (403, 404):
            wrong.append(f"{who}: expected deny, got {status} {response.text[:120]}")
        if cell == "allow" and status != succeeds:
            wrong.append(f"{who}: expected allow ({succeeds}), got {status} {response.text[:160]}")
        if cell == "public" and status in (401, 403):
            wrong.append(f"{who}: expected {cell}, got {status} {response.text[:120]}")
        # `own`: the route lets the caller in; whether this record is theirs is the record's rule.
        if cell == "own" and (
            status == 401 or "insufficient_scope" in response.headers.get("www-authenticate", "")
        ):
            wrong.append(f"{who}: expected own, got {status} {response.text[:120]}")
    assert not wrong, f"{route}:\n" + "\n".join(wrong)


def _reader_of(rule: Rule) -> str | None:
    """A school-bound role or client this row allows (the one to attack school B with)."""
    for who in (
        "head_teacher",
        "safeguarding_lead",
        "office",
        "teacher",
        "computing_lead",
        "office_system",
        "mle",
    ):
        if rule.cells.get(who) == "allow":
            return who
    return None


RECORD_READS = sorted(
    route
    for route, rule in RULES.items()
    if rule.method == "GET" and "{" in rule.path and "year_group" not in rule.path and _reader_of(rule)
)


@pytest.mark.parametrize("route", RECORD_READS)
def test_another_schools_record_is_404(route: str, world: World, merged_openapi: dict[str, Any]) -> None:
    """A token of school A asks for school B's record of this kind by its id."""
    rule = RULES[route]
    who = _reader_of(rule)
    assert who is not None
    operation = operations(merged_openapi)[route]
    own = send(world.platform.gateway, rule, operation, world.a, world.a.headers(who))
    assert own.status_code == 200, f"{route} as {who} of school A, own record: {own.status_code} {own.text}"
    crossed = send(world.platform.gateway, rule, operation, world.b, world.a.headers(who))
    assert crossed.status_code == 404, f"{route} as {who} of school A, school B's record: {crossed.text}"
