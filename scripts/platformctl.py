"""Runs inside the project's virtual environment; `python3 manage.py ...` hands over to it.

run                    start every service and the gateway on SQLite with demo data
test [pytest args]     ruff, mypy and the whole pytest suite (--skip-checks: pytest only)
migrate                apply every service's migrations to its configured database
backup [--out DIR]     an encrypted backup of every service's database and keys (BACKUP_PASSPHRASE)
restore DIR            a backup into empty databases and key folders (BACKUP_PASSPHRASE)
retention [--on DAY]   the records due for review by retention class, legal holds left out;
                       --expire-idempotency deletes idempotency records past their expiry
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_checks(pytest_args: list[str]) -> int:
    skip_checks = "--skip-checks" in pytest_args
    pytest_args = [a for a in pytest_args if a != "--skip-checks"]
    steps = (
        []
        if skip_checks
        else [
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy", "libs", "services", "gateway", "console", "tests", "bench", "scripts"],
        ]
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    bindir = Path(sys.executable).parent
    for step in steps:
        print(f"== {' '.join(step)}", flush=True)
        code = subprocess.call([str(bindir / step[0]), *step[1:]], cwd=ROOT, env=env)
        if code != 0:
            return code
    from scripts.browsers import ensure_chromium

    ensure_chromium()
    print("== pytest", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)


def main() -> None:
    args = sys.argv[1:]
    command = args[0] if args else "help"
    if command == "test":
        sys.exit(run_checks(args[1:]))
    if command in ("run", "migrate"):
        from scripts import launcher

        sys.exit(launcher.main(command, args[1:]))
    if command in ("backup", "restore", "retention"):
        from scripts import ops

        sys.exit(ops.main(command, args[1:]))
    print(__doc__)
    sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
