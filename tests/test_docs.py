"""Every shell and Python block of docs/*.md runs as written, in order, against the real platform.

A reader of a guide has the demo (`python3 manage.py run`: the demo school, its clients' credentials
in var/demo-credentials.txt, its ids in var/demo.json), the repository's folder, `curl` and
`python3`, and sets the variables the guide's inputs block tells them to (`export NAME=...` lines,
the first runnable block). The test does the same and nothing more: per doc, a folder holding
`var/` (the demo's two files) and `.venv`, an environment of PATH and HOME plus exactly the doc's
INPUTS (the values from the demo's credentials, as the guide says), then

- the doc's shell blocks (sh, bash, shell, console) in order in one `bash` process with
  `set -euo pipefail` (the guides call curl with `--fail-with-body`, so a refused call fails it);
- the doc's Python blocks in order as one script (one namespace), in its own process.

The inputs block is the one runnable block not run: it is where the reader puts their values.
Blocks that are not commands are tagged `text`, `json`, `http`, ...; a block that cannot run in a
test is in NOT_RUN with the reason. A new block that is neither (or a new doc not listed in INPUTS)
fails `test_every_doc_block_is_run_or_excused`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.platform import RunningPlatform

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}
INERT = {"text", "json", "http", "csv", "toml", "yaml", "ini", "sql"}

# What each doc's reader sets (its inputs block names exactly these), and where the value comes from
# on the demo: the gateway's address, or a client's id or secret from var/demo-credentials.txt.
INPUTS: dict[str, dict[str, str]] = {
    "access.md": {},
    "alerts.md": {},
    "console.md": {
        "GATEWAY": "gateway",
        "ADMIN_USERNAME": "admin.username",
        "ADMIN_PASSWORD": "admin.password",
        "ADMIN_TOTP_SECRET": "admin.totp_secret",
    },
    "benchmarks.md": {},
    "development.md": {},
    "operations-gateway.md": {},
    "operations-replicas.md": {"GATEWAY": "gateway"},
    "la-reporting.md": {
        "LA_BASE_URL": "gateway",
        "LA_CLIENT_ID": "la.client_id",
        "LA_CLIENT_SECRET": "la.client_secret",
    },
    "mle-integration.md": {"GW": "gateway", "MLE_ID": "mle.client_id", "MLE_SECRET": "mle.client_secret"},
    "parents-and-pupils.md": {"GW": "gateway"},
    "sso-integration.md": {
        "GATEWAY": "gateway",
        "RP_CLIENT_ID": "console.client_id",
        "RP_CLIENT_SECRET": "console.client_secret",
        "DEMO_USERNAME": "teacher.username",
        "DEMO_PASSWORD": "teacher.password",
    },
    "webhooks.md": {"GW": "gateway", "MLE_ID": "mle.client_id", "MLE_SECRET": "mle.client_secret"},
    "office-integration.md": {
        "GATEWAY": "gateway",
        "OFFICE_CLIENT_ID": "office_system.client_id",
        "OFFICE_CLIENT_SECRET": "office_system.client_secret",
    },
    # issue 16 (operations): backups, retention, Kubernetes
    "operations-backup.md": {},
    "operations-kubernetes.md": {},
    "operations-retention.md": {},
}

# (doc, the block's first line) -> why a test does not run it. Keep it short.
NOT_RUN: dict[tuple[str, str], str] = {
    (
        "benchmarks.md",
        "flock /tmp/esafety-bench.lock .venv/bin/python bench/<name>.py [options]",
    ): "a pattern for every benchmark, not one command",
    (
        "benchmarks.md",
        "flock /tmp/esafety-bench.lock .venv/bin/python bench/load.py [--seconds 60] [--connections 16]",
    ): "drives the whole platform for a minute (bench/, not CI); tests/e2e covers the seeding it starts with",
}

NOT_RUN |= {
    (
        "operations-kubernetes.md",
        ".venv/bin/python -m scripts.kustomize infra/k8s/overlays/la > la.yaml     # or: kubectl kustomize infra/k8s/overlays/la",
    ): "needs a cluster; tests/test_kubernetes.py renders and validates both overlays",
    (
        "operations-kubernetes.md",
        ".venv/bin/python -m pytest tests/test_kubernetes.py tests/test_deployment.py -q",
    ): "the test suite itself (it runs these tests)",
    (
        "operations-backup.md",
        "export BACKUP_PASSPHRASE='a long passphrase the operator keeps'   # 16 characters at least",
    ): "the operator's databases; tests/test_backup.py runs backup and restore of a whole platform",
    (
        "operations-retention.md",
        "python3 manage.py retention                      # today's review, every service",
    ): "the operator's databases; tests/test_retention.py runs the command",
}

# What the doc's examples must print (stdout of the shell session, then of the Python script).
EXPECT: dict[str, tuple[list[str], list[str]]] = {
    "mle-integration.md": ([r'"decision"', r'"keys"'], [r"^(allow|deny) \['", r"^\d+ recorded "]),
    "office-integration.md": (
        [r'"status":\s*"returned"', r'"daily_handins_held"'],
        [
            r"^hand-in: returned \['received', 'returned'\]$",
            r"^to the pupil: 422 ",
            r"^confiscation: released \['received', 'released'\]$",
        ],
    ),
    "la-reporting.md": ([r"(?i)^x-next-cursor: ", r'"total"'], [r"^\d+ incidents$"]),
    "operations-backup.md": (
        [],
        [r"^backed up: \['backup.json', 'notes.db.enc'\]$", r"^restored: \{'notes': \{'audit_entry': 3\}\}$"],
    ),
    "operations-retention.md": ([], [r"^incidents:$", r"^  safeguarding \(incident: .*\): 0 due$"]),
    "parents-and-pupils.md": (
        [],
        [
            r"^no parental responsibility: 422 no-parental-responsibility$",
            r"^accepted: 200 True$",
            r"^second use: 410$",
            r"^linked to the carer: True \['parent'\]$",
            r"^reset: 200 True$",
            r"^parent signs in: 200$",
        ],
    ),
    "sso-integration.md": (
        [],
        [
            r"^signed in: \S+ \['teacher'\] \['pwd'\] ",
            r"^signed out: .*state=bye$",
            r"^refresh after sign-out: 400 invalid_grant$",
        ],
    ),
    "webhooks.md": (
        [r'"secret":\s*"whsec_'],
        [
            r"^registered ",
            r"^verified consent\.withdrawn pupil 00000000 seq 1$",
            r"^tampered: 400$",
            r"^rotated; ",
        ],
    ),
}

EXPORTS = re.compile(r"^export(\s+[A-Z][A-Z0-9_]*=\S*)+\s*(#.*)?$")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence
    lang: str
    code: str

    @property
    def first_line(self) -> str:
        return self.code.splitlines()[0].strip() if self.code.strip() else ""

    @property
    def is_inputs(self) -> bool:
        lines = [line for line in self.code.splitlines() if line.strip() and not line.startswith("#")]
        return self.lang in SHELL and bool(lines) and all(EXPORTS.match(line) for line in lines)


def blocks(doc: Path) -> list[Block]:
    found: list[Block] = []
    body: list[str] = []
    lang: str | None = None
    start = indent = 0
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        fence = line.lstrip().startswith("```")
        if lang is None and fence:  # also inside a list item: indented
            indent = len(line) - len(line.lstrip())
            lang, start, body = line.strip()[3:].strip().split(" ")[0], number, []
        elif lang is not None and fence:
            found.append(Block(doc.name, start, lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line[indent:])
    assert lang is None, f"{doc.name}:{start}: a block is not closed"
    return found


def exported_names(block: Block) -> set[str]:
    names: set[str] = set()
    for line in block.code.splitlines():
        code = line.split("#", 1)[0]
        names |= set(re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", code))
    return names


def runnable(doc: str) -> tuple[list[Block], list[Block]]:
    """The doc's shell blocks and Python blocks that the test runs, in order (not the inputs block)."""
    shell, python = [], []
    for block in blocks(DOCS / doc):
        if block.is_inputs or (doc, block.first_line) in NOT_RUN:
            continue
        if block.lang in SHELL:
            shell.append(block)
        elif block.lang in PYTHON:
            python.append(block)
    return shell, python


def test_every_doc_block_is_run_or_excused() -> None:
    assert {p.name for p in DOCS.glob("*.md")} == set(INPUTS), "every doc under docs/ is listed in INPUTS"
    seen_exceptions = set()
    for doc in INPUTS:
        inputs_blocks = []
        first_runnable: Block | None = None
        for block in blocks(DOCS / doc):
            where = f"docs/{doc}:{block.line}"
            assert block.lang, f"{where}: tag the block (`text` if it is not a command)"
            assert block.lang in SHELL | PYTHON | INERT, f"{where}: unknown tag {block.lang!r}"
            if block.lang in SHELL:
                assert not re.search(r"\bjq\b", block.code), f"{where}: parse JSON with python3, not jq"
            if (doc, block.first_line) in NOT_RUN:
                seen_exceptions.add((doc, block.first_line))
                continue
            if block.lang in SHELL | PYTHON and first_runnable is None:
                first_runnable = block
            if block.is_inputs:
                inputs_blocks.append(block)
        if INPUTS[doc]:
            assert len(inputs_blocks) == 1, f"docs/{doc}: one block of `export NAME=...` lines, the inputs"
            [inputs] = inputs_blocks
            assert inputs is first_runnable, f"docs/{doc}: the inputs block comes before the examples"
            assert exported_names(inputs) == set(INPUTS[doc]), (
                f"docs/{doc}: the inputs are {set(INPUTS[doc])}"
            )
        else:
            assert not inputs_blocks, f"docs/{doc}: an inputs block, but INPUTS lists none for this doc"
    assert seen_exceptions == set(NOT_RUN), "an exception no longer matches a block"


def credentials(text: str, gateway: str) -> dict[str, str]:
    """The values a reader takes from var/demo-credentials.txt (and the gateway's address)."""
    values = {"gateway": gateway}
    for key, client_id, secret in re.findall(
        r"^client (\w+): client_id=(\S+) client_secret=(\S+)$", text, re.M
    ):
        values[f"{key}.client_id"], values[f"{key}.client_secret"] = client_id, secret
    for role, username, password in re.findall(r"^(\w+): (\S+) / (\S+)", text, re.M):
        values[f"{role}.username"], values[f"{role}.password"] = username, password
    admin = re.search(r"^Platform admin: (\S+) / (\S+) \(TOTP secret (\S+)\)$", text, re.M)
    if admin:
        values["admin.username"], values["admin.password"], values["admin.totp_secret"] = admin.groups()
    return values


def reader_setup(
    doc: str, platform: RunningPlatform, demo_school: Path, tmp_path: Path
) -> tuple[Path, dict[str, str]]:
    """The reader's folder (var/ with the demo's files, .venv) and environment for `doc`."""
    folder = tmp_path / "checkout"
    (folder / "var").mkdir(parents=True)
    for name in ("demo-credentials.txt", "demo.json"):
        (folder / "var" / name).write_bytes((demo_school.parent / name).read_bytes())
    (folder / ".venv").symlink_to(Path(sys.prefix))
    values = credentials(demo_school.read_text(), str(platform.gateway.base_url).rstrip("/"))
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env |= {name: values[source] for name, source in INPUTS[doc].items()}
    return folder, env


def script(blocks_: list[Block], comment: str) -> str:
    return "".join(f"{comment} docs/{b.doc}:{b.line}\n{b.code}\n" for b in blocks_)


@pytest.mark.processes
@pytest.mark.parametrize("doc", sorted(doc for doc in INPUTS if any(runnable(doc))))
def test_the_doc_runs_as_written(
    doc: str, platform: RunningPlatform, demo_school: Path, tmp_path: Path
) -> None:
    folder, env = reader_setup(doc, platform, demo_school, tmp_path)
    platform.runner.sync_replicas()
    shell, python = runnable(doc)
    expect_shell, expect_python = EXPECT.get(doc, ([], []))
    outputs = []
    for blocks_, command, expected in (
        (shell, ["bash", "session.sh"], expect_shell),
        (python, [sys.executable, "session.py"], expect_python),
    ):
        if not blocks_:
            assert not expected
            continue
        path = folder / command[1]
        header = "set -euo pipefail\n" if command[0] == "bash" else ""
        path.write_text(header + script(blocks_, "#"))
        run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{path.name} ({doc}) failed:\n{run.stdout}\n{run.stderr}"
        for pattern in expected:
            assert re.search(pattern, run.stdout, re.M), f"{doc}: {pattern!r} not in\n{run.stdout}"
        outputs.append(run.stdout)
    assert outputs


@pytest.mark.processes
def test_the_la_loop_renews_its_token_before_it_expires(
    platform: RunningPlatform,
    demo_school: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pull that outlives its token: the guide's Python example takes a new one before `expires_in` ends.

    Its blocks run here in one namespace, in this process, so its clock can be moved (no sleeping).
    """
    folder, env = reader_setup("la-reporting.md", platform, demo_school, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(folder)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    issued: list[dict[str, object]] = []
    send = httpx.Client.send

    def recording_send(self: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        response = send(self, request, **kwargs)  # type: ignore[arg-type]
        if request.url.path == "/oauth/token":
            response.read()
            issued.append(response.json())
        return response

    monkeypatch.setattr(httpx.Client, "send", recording_send)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in runnable("la-reporting.md")[1]:
        exec(compile(block.code, f"docs/la-reporting.md:{block.line}", "exec"), namespace)
    assert re.fullmatch(r"\d+ incidents\n", capsys.readouterr().out)
    assert len(issued) == 1
    lifetime = int(str(issued[0]["expires_in"]))
    bearer = namespace.get("bearer")
    assert callable(bearer), "the example keeps its token in one place it can renew it from"
    with httpx.Client(base_url=env["LA_BASE_URL"], timeout=30) as http:
        now[0] += lifetime - 90  # still fresh: the same token
        assert bearer(http) == {"Authorization": f"Bearer {issued[0]['access_token']}"}
        assert len(issued) == 1
        now[0] += 60  # within the last minute of its life: a new one, which the platform takes
        headers = bearer(http)
        assert len(issued) == 2
        assert headers == {"Authorization": f"Bearer {issued[1]['access_token']}"}
        assert http.get("/v1/incidents/export", params={"limit": 1}, headers=headers).status_code == 200
