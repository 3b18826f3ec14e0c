r"""docs/access.md read as data: the authorization matrix every route is tested against.

The table's rows are `| \`METHOD /path\` | scopes | cell | cell | ... |`, one cell per role and
outside client (the header row names them). Cells: `allow`, `deny`, `own` (allowed on the
caller's own records only), `public` (no token needed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.contract.samples import Call
from tests.world import PlatformSchool

ACCESS_MD = Path(__file__).resolve().parents[2] / "docs" / "access.md"
CELLS = frozenset({"allow", "deny", "own", "public"})
_ROW = re.compile(r"^\|\s*`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`\s*\|(.*)\|\s*$")
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"\{([^}]+)\}")

# Path parameters that name a record the matrix may change for good get a record of their own.
OVERRIDES: dict[str, dict[str, str]] = {
    "/v1/identity/people/{person_id}/leave": {"person_id": "leaver_id"},
    "/v1/identity/people/{pupil_id}/carers/{link_id}/end": {"pupil_id": "link_pupil_id"},
    # Only an asset that has been disposed of has a disposal record to read.
    "/v1/devices/assets/{asset_id}/disposal": {"asset_id": "disposed_asset_id"},
}


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    scopes: str
    cells: dict[str, str]

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


def read_access_table(path: Path = ACCESS_MD) -> tuple[list[str], dict[str, Rule]]:
    """The table's columns (roles and clients) and its rules by `METHOD /path`."""
    columns: list[str] = []
    rules: dict[str, Rule] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| route |"):
            columns = [c.strip() for c in line.strip().strip("|").split("|")][2:]
            continue
        match = _ROW.match(line.strip())
        if not match:
            continue
        method, route_path, rest = match.groups()
        values = [c.strip() for c in rest.split("|")]
        scopes, cells = values[0], values[1:]
        assert len(cells) == len(columns), (
            f"{method} {route_path}: {len(cells)} cells, {len(columns)} columns"
        )
        unknown = set(cells) - CELLS
        assert not unknown, f"{method} {route_path}: unknown cells {unknown}"
        rule = Rule(method, route_path, scopes, dict(zip(columns, cells, strict=True)))
        assert rule.route not in rules, f"{rule.route} has two rows"
        rules[rule.route] = rule
    return columns, rules


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`METHOD /path` -> operation, for every operation of an OpenAPI document."""
    found: dict[str, dict[str, Any]] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            if isinstance(item.get(method), dict):
                found[f"{method.upper()} {path}"] = item[method]
    return found


def fill_path(path: str, school: PlatformSchool, ids: dict[str, str] | None = None) -> str:
    """The path with the ids of `school`'s records (`ids` first: a call's records of its own)."""
    names = OVERRIDES.get(path, {})

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return (ids or {}).get(name) or school.ids[names.get(name, name)]

    return _PARAM.sub(value, path)


def required_query(operation: dict[str, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("required"):
            schema = parameter.get("schema", {})
            params[parameter["name"]] = str((schema.get("enum") or ["x"])[0])
    return params


def send(
    platform_gateway: httpx.Client,
    rule: Rule,
    operation: dict[str, Any],
    school: PlatformSchool,
    headers: dict[str, str],
    call: Call | None = None,
) -> httpx.Response:
    """One request for this route: `call`'s body and ids (tests/contract/samples.py), else a
    deliberately empty body (so a write that is let through changes nothing)."""
    kwargs: dict[str, Any] = {"params": required_query(operation), "headers": dict(headers)}
    body = operation.get("requestBody")
    if call is not None:
        kwargs["headers"].update(call.headers)
        kwargs["params"].update(call.params)
        if call.content is not None:
            kwargs["content"] = call.content
        elif call.json is not None:
            kwargs["json"] = call.json
    elif body is not None:
        content_types = list(body.get("content", {}))
        if "application/json" in content_types:
            kwargs["json"] = {}
        else:
            kwargs["content"] = b""
            kwargs["headers"]["Content-Type"] = content_types[0]
    path = fill_path(rule.path, school, call.ids if call else None)
    return platform_gateway.request(rule.method, path, **kwargs)


def success_status(operation: dict[str, Any]) -> int | None:
    """The route's success status as its OpenAPI declares it (its one 2xx response)."""
    declared = sorted(int(status) for status in operation.get("responses", {}) if status.startswith("2"))
    return declared[0] if declared else None
