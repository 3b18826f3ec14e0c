"""One OpenAPI document for the whole platform, merged from every service's own.

Only the paths the gateway actually routes to a service are kept (a service's operations routes are
not reachable, so they are not documented). Components with the same name in two services are
kept once when identical; otherwise each service's copy is renamed after the service
(`IncidentsPage`, `DevicesPage`) and that service's references are rewritten to match.
Security schemes of the same name are merged (their OAuth2 scopes are united).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import httpx

from gateway.config import Upstream
from gateway.routes import RouteTable
from servicekit.clock import Clock

log = logging.getLogger("gateway.openapi")

REF_PREFIX = "#/components/"


def merge_openapi(
    docs: dict[str, dict[str, Any]],
    routes: RouteTable,
    *,
    title: str,
    version: str,
    unavailable: list[str] | None = None,
) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
        "tags": [],
    }
    if unavailable:
        merged["info"]["x-unavailable-services"] = sorted(unavailable)
    components: dict[str, dict[str, Any]] = merged["components"]
    tag_names: set[str] = set()
    first_owner: dict[tuple[str, str], dict[str, Any]] = {}

    # Which names collide with a different definition in another service.
    for doc in docs.values():
        for section, items in (doc.get("components") or {}).items():
            if section == "securitySchemes" or not isinstance(items, dict):
                continue
            for name, value in items.items():
                first_owner.setdefault((section, name), value)
    clashing = {
        (section, name)
        for doc in docs.values()
        for section, items in (doc.get("components") or {}).items()
        if section != "securitySchemes" and isinstance(items, dict)
        for name, value in items.items()
        if first_owner[(section, name)] != value
    }

    for service, original in docs.items():
        prefix = "".join(part.capitalize() for part in service.replace("-", "_").split("_"))
        renames = {
            f"{REF_PREFIX}{section}/{name}": f"{REF_PREFIX}{section}/{prefix}{name}"
            for section, items in (original.get("components") or {}).items()
            if isinstance(items, dict)
            for name in items
            if (section, name) in clashing
        }
        doc = _rewrite_refs(copy.deepcopy(original), renames) if renames else original
        for path, item in (doc.get("paths") or {}).items():
            target = routes.match(path)
            if target is not None and target[0].name == service and path not in merged["paths"]:
                merged["paths"][path] = item
        for section, items in (doc.get("components") or {}).items():
            if not isinstance(items, dict):
                continue
            into = components.setdefault(section, {})
            for name, value in items.items():
                if section == "securitySchemes":
                    _merge_scheme(into, name, value)
                    continue
                new_name = f"{prefix}{name}" if (section, name) in clashing else name
                into.setdefault(new_name, value)
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and tag.get("name") not in tag_names:
                tag_names.add(str(tag.get("name")))
                merged["tags"].append(tag)
    if not merged["tags"]:
        del merged["tags"]
    return merged


def _merge_scheme(into: dict[str, Any], name: str, value: Any) -> None:
    existing = into.get(name)
    if existing is None:
        into[name] = copy.deepcopy(value)
        return
    if existing.get("type") == value.get("type") == "oauth2":
        for flow_name, flow in (value.get("flows") or {}).items():
            target = existing.setdefault("flows", {}).setdefault(flow_name, copy.deepcopy(flow))
            target.setdefault("scopes", {}).update(flow.get("scopes") or {})
    elif existing != value:
        log.warning("security scheme %s differs between services; the first is kept", name)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for key, value in node.items():
            if key != "$ref":
                node[key] = _rewrite_refs(value, renames)
    elif isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


class OpenAPICache:
    """Fetches and merges the services' documents, keeping the result for a while."""

    def __init__(
        self,
        upstreams: list[Upstream],
        routes: RouteTable,
        *,
        clock: Clock,
        ttl: float,
        timeout: float,
        title: str = "E-safety platform API",
        version: str = "1.0.0",
    ) -> None:
        self.upstreams = [u for u in upstreams if not u.signs_in_itself]
        self.routes = routes
        self.clock = clock
        self.ttl = ttl
        self.timeout = timeout
        self.title = title
        self.version = version
        self._doc: dict[str, Any] | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            now = self.clock.now().timestamp()
            if self._doc is None or now - self._built_at >= self.ttl:
                self._doc, complete = await self._build()
                # An incomplete document is rebuilt on the next request, not kept for the TTL.
                self._built_at = now if complete else float("-inf")
            return self._doc

    async def _build(self) -> tuple[dict[str, Any], bool]:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            results = await asyncio.gather(
                *(client.get(f"{u.url}/openapi.json") for u in self.upstreams), return_exceptions=True
            )
        docs: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for upstream, result in zip(self.upstreams, results, strict=True):
            if isinstance(result, httpx.Response) and result.status_code == 200:
                try:
                    body = result.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    docs[upstream.name] = body
                    continue
            missing.append(upstream.name)
        doc = merge_openapi(docs, self.routes, title=self.title, version=self.version, unavailable=missing)
        return doc, not missing
