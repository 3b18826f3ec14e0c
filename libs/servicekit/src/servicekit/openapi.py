"""The error responses every operation can give, written into each service's OpenAPI document.

FastAPI documents a route's success response and a JSON 422; the platform answers every error
as `application/problem+json` (servicekit's error handlers), and any route can be refused by
the token check (401, 403), the body cap (413), the rate limiter (429) or an unreachable
database or service (502, 503, 504). Documenting them keeps the published contract equal to
what clients get (contract fuzzing checks each status code and content type it sees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem (every error the platform answers).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}

# Status -> description; every operation may answer these.
COMMON_PROBLEMS: dict[str, str] = {
    "400": "Bad request",
    "401": "Missing or invalid access token",
    "403": "The token lacks the scope or role this needs",
    "404": "Not found (or another school's record)",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "409": "Conflict with the record's current state",
    "412": "Stale If-Match",
    "413": "Body over the size cap",
    "414": "URI too long",
    "415": "Unsupported media type",
    "422": "Invalid request",
    "428": "If-Match required",
    "429": "Too many requests",
    "431": "Request headers too large",
    "502": "Upstream service failed",
    "503": "Service or database unavailable",
    "504": "Upstream service timed out",
}

_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def add_problem_responses(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the common problem responses to every operation of `doc` (in place) and return it."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", PROBLEM_SCHEMA)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in (doc.get("paths") or {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_PROBLEMS.items():
                existing = responses.get(status)
                if existing is None or status == "422":
                    # FastAPI's own 422 says application/json; the handlers answer problem+json.
                    responses[status] = {"description": description, "content": problem}
                else:
                    existing.setdefault("content", {}).setdefault(PROBLEM_JSON, problem[PROBLEM_JSON])
    return doc


def install_problem_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document the common problem responses."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
