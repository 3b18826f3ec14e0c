"""ETags and If-Match go through `servicekit.etags` only: one format, one parser, one pair of problems.

Four services once had four shapes (a bare version or `"id.version"`, a comma list or one tag, `*`
or not, three slugs for a stale tag). This scan of every service's source keeps it at one: a module
that names the `ETag` or `If-Match` header itself, declares an `if_match` parameter that is not one
of servicekit's types (a FastAPI parameter of that name *is* the `If-Match` header), or defines its
own etag / if-match function, is a new copy. Docstrings and comments may say "ETag"; only code is
scanned.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER_NAMES = {"etag", "if-match"}
# Clients of the platform, not routes: the demo scripts send back an ETag they read.
CLIENTS = {"services/devices/src/devices/demo.py", "services/incidents/src/incidents/demo.py"}
# A function of one's own that builds or checks ETags: `etag`, `_etag`, `make_etags`, `check_if_match`...
COPY_NAME = re.compile(r"(^|_)etags?($|_)|if_match")


def _etags_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """What the module imports from servicekit.etags, and the names it gave servicekit.etags itself."""
    names: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "servicekit.etags":
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "servicekit":
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "etags"}
        elif isinstance(node, ast.Import):
            modules |= {
                alias.asname for alias in node.names if alias.name == "servicekit.etags" and alias.asname
            }
    return names, modules


def _from_servicekit(annotation: ast.expr | None, names: set[str], modules: set[str]) -> bool:
    """Whether an annotation is one of servicekit.etags' types (optionally `| None`)."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        parts = [annotation.left, annotation.right]
        rest = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
        return len(rest) == 1 and _from_servicekit(rest[0], names, modules)
    if isinstance(annotation, ast.Name):
        return annotation.id in names
    if isinstance(annotation, ast.Attribute) and isinstance(annotation.value, ast.Name):
        return annotation.value.id in modules
    return False


def violations(root: Path) -> list[str]:
    """Every place under root/services/*/src that handles ETag or If-Match without servicekit.etags."""
    found = []
    for path in sorted(root.glob("services/*/src/**/*.py")):
        where = path.relative_to(root).as_posix()
        if where in CLIENTS:
            continue
        if path.name == "etags.py":
            found.append(f"{where}: a service's own etags module")
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
        names, modules = _etags_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.lower() in HEADER_NAMES:
                    found.append(f"{where}:{node.lineno}: names the {node.value!r} header itself")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if COPY_NAME.search(node.name):
                    found.append(f"{where}:{node.lineno}: defines {node.name}(), its own etag helper")
                arguments = node.args
                for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                    if arg.arg == "if_match" and not _from_servicekit(arg.annotation, names, modules):
                        found.append(
                            f"{where}:{node.lineno}: {node.name}(if_match) not typed by servicekit.etags"
                        )
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id.lower().startswith("ifmatch"):
                        found.append(f"{where}:{node.lineno}: defines {target.id}, its own If-Match type")
    return found


def test_no_service_handles_etag_or_if_match_itself() -> None:
    assert violations(ROOT) == []


def test_the_scan_sees_a_copy(tmp_path: Path) -> None:
    """Each shape the services once had is found (so an empty answer above means something)."""
    module = tmp_path / "services/x/src/x/things/router.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import Annotated\n"
        "from fastapi import Header, Response\n"
        "from servicekit.etags import IfMatchRequired\n"
        "IfMatch = Annotated[str | None, Header()]\n"
        "def etag(version: int) -> str:\n"
        "    return f'\"{version}\"'\n"
        "async def get_thing(response: Response) -> None:\n"
        "    response.headers['ETag'] = etag(1)\n"
        "async def change(if_match: IfMatch = None) -> None: ...\n"
        "async def change_right(if_match: IfMatchRequired) -> None: ...\n"
        "async def read(h: Annotated[str, Header(alias='If-Match')]) -> None: ...\n",
        encoding="utf-8",
    )
    found = violations(tmp_path)
    assert {line.split(": ", 1)[1] for line in found} == {
        "defines IfMatch, its own If-Match type",
        "defines etag(), its own etag helper",
        "names the 'ETag' header itself",
        "change(if_match) not typed by servicekit.etags",
        "names the 'If-Match' header itself",
    }
