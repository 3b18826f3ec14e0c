"""Routers are thin: a router module imports no model, builds no statement and writes no audit.

Reads, writes and rules live in a domain's `service.py` (and a path's record is loaded in its
`dependencies.py`), so the next route cannot grow SQL beside its handler. This scan of every
service's router modules keeps it so: an import of a `models` module (the service's own or
servicekit's replica models), anything from `sqlalchemy`, or a call on the request's `session`
that runs a statement (`execute`, `get`, `scalar`, `scalars`, `add`, `delete`, `flush`) is a
violation. So is importing servicekit's `audit`: an audit entry is written in the service
function, beside the change it records (a refusal's with `survives_refusal=True`, then raise).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SESSION_CALLS = {"execute", "get", "scalar", "scalars", "add", "add_all", "delete", "flush", "merge"}


def _module_violations(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == "sqlalchemy" or module.startswith("sqlalchemy."):
                found.append(f"line {node.lineno}: imports from {module}")
            elif module.endswith(".models") or module == "models":
                found.append(f"line {node.lineno}: imports a model ({module})")
            else:
                for alias in node.names:
                    if alias.name == "models":
                        found.append(f"line {node.lineno}: imports the models of {module}")
                    if (module == "servicekit" and alias.name == "audit") or module == "servicekit.audit":
                        found.append(f"line {node.lineno}: writes audit in a router ({module})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sqlalchemy") or alias.name.endswith(".models"):
                    found.append(f"line {node.lineno}: imports {alias.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
            and node.func.attr in SESSION_CALLS
        ):
            found.append(f"line {node.lineno}: session.{node.func.attr}(...) in a router")
    return found


def violations(root: Path) -> list[str]:
    """Every router module under root/services/*/src that imports a model or builds a statement."""
    found = []
    for path in sorted(root.glob("services/*/src/**/router.py")):
        where = path.relative_to(root).as_posix()
        found += [f"{where} {v}" for v in _module_violations(ast.parse(path.read_text()))]
    return found


def test_no_router_imports_a_model_builds_a_statement_or_writes_audit() -> None:
    assert violations(ROOT) == []


def test_the_scan_finds_each_shape_of_sql_in_a_router() -> None:
    made_up = ast.parse(
        "from sqlalchemy import select\n"
        "from devices.assets.models import Asset\n"
        "from servicekit.models import ReplicaPerson\n"
        "from media_consent import models\n"
        "from servicekit import audit\n"
        "async def route(session):\n"
        "    await session.execute(select(Asset))\n"
        "    await session.get(ReplicaPerson, 1)\n"
        "    session.add(Asset())\n"
    )
    found = _module_violations(made_up)
    assert len(found) == 8, found
