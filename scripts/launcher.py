"""`python3 manage.py run`: the whole platform on its embedded default (SQLite files under var/).

Applies every service's migrations (unless PLATFORM_SKIP_MIGRATIONS is true: then they ran as
their own step, `python3 manage.py migrate`, and each service refuses to start if its schema is
behind), starts identity, the services and the gateway as uvicorn
processes, seeds the demo school once, prints where everything is, and stops them all on Ctrl-C.

The first platform administrator is the operator's when BOOTSTRAP_ADMIN_USERNAME, _PASSWORD or
_TOTP_SECRET are set (CONTRACT.md, "Identity and tokens"); only what is unset is generated (and
kept in var/platform-secrets.json). A value identity could not use stops the command before
anything starts, and what the operator supplied is never printed back.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from identity.accounts.bootstrap import BootstrapError, check_admin_settings, normalise_seed
from servicekit.platform import PlatformRunner, PlatformSecrets, load_spec

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ADMIN_ENV = ("BOOTSTRAP_ADMIN_USERNAME", "BOOTSTRAP_ADMIN_PASSWORD", "BOOTSTRAP_ADMIN_TOTP_SECRET")


def with_operator_admin(generated: PlatformSecrets, environ: Mapping[str, str]) -> PlatformSecrets:
    """The generated secrets with the administrator the operator set in BOOTSTRAP_ADMIN_*, checked.

    Raises BootstrapError (naming the variable, never echoing its value) when identity would
    refuse the result. The supplied values stay in memory: they are not written to var/.
    """
    username = environ.get("BOOTSTRAP_ADMIN_USERNAME", generated.admin_username).strip()
    password = environ.get("BOOTSTRAP_ADMIN_PASSWORD", generated.admin_password)
    seed = normalise_seed(environ.get("BOOTSTRAP_ADMIN_TOTP_SECRET", generated.admin_totp_secret))
    check_admin_settings(username, password, seed)
    return dataclasses.replace(
        generated, admin_username=username, admin_password=password, admin_totp_secret=seed
    )


def operator_supplied(environ: Mapping[str, str]) -> frozenset[str]:
    """The BOOTSTRAP_ADMIN_* variables set in `environ` (their values are not to be shown)."""
    return frozenset(name for name in ADMIN_ENV if name in environ)


def make_runner(
    environ: Mapping[str, str] = os.environ, var_dir: Path | None = None, ports: dict[str, int] | None = None
) -> PlatformRunner:
    """The run command's platform (SQLite files under `var_dir`); BootstrapError for bad BOOTSTRAP_ADMIN_*."""
    var_dir = var_dir or VAR
    spec = load_spec(ROOT)
    var_dir.mkdir(mode=0o700, exist_ok=True)
    generated = PlatformSecrets.load_or_create(var_dir / "platform-secrets.json", spec.services)
    secrets = with_operator_admin(generated, environ)
    urls = {s.name: f"sqlite+aiosqlite:///{var_dir / (s.name + '.db')}" for s in spec.services}
    return PlatformRunner(spec=spec, var_dir=var_dir, secrets=secrets, database_urls=urls, ports=ports or {})


def skip_migrations(environ: Mapping[str, str]) -> bool:
    """PLATFORM_SKIP_MIGRATIONS=true: `run` starts without migrating (they ran as their own step)."""
    return environ.get("PLATFORM_SKIP_MIGRATIONS", "").strip().lower() in ("1", "true", "yes")


def main(command: str, _args: list[str]) -> int:
    try:
        runner = make_runner()
    except BootstrapError as exc:
        print(f"manage.py {command}: {exc} Unset it to have one generated.", file=sys.stderr)
        return 2
    if command == "migrate" or not skip_migrations(os.environ):
        print("Applying migrations ...", flush=True)
        runner.migrate()
    else:
        print("Migrations skipped (PLATFORM_SKIP_MIGRATIONS): each service checks its schema at start.")
    if command == "migrate":
        return 0
    stop = threading.Event()
    failed = False
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(
            "Starting " + ", ".join(s.name for s in runner.spec.services) + " and the gateway ...", flush=True
        )
        runner.start()
        marker = VAR / ".demo-seeded"
        if not marker.exists():
            from scripts import demo

            print("Seeding the demo school (first start only) ...", flush=True)
            path = demo.seed(runner, hidden=operator_supplied(os.environ))
            marker.touch()
            print("\n" + path.read_text(), flush=True)
            print(f"(kept in {path.relative_to(ROOT)}, mode 600)")
        print(f"\nThe platform is up: gateway {runner.url('gateway')} (docs at /docs).", flush=True)
        for name, process in runner.processes.items():
            print(f"  {name:<14} {process.url}   log: var/logs/{name}.log")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            for name, process in runner.processes.items():
                if process.process is not None and process.process.poll() is not None:
                    print(f"{name} stopped unexpectedly; see var/logs/{name}.log", file=sys.stderr)
                    failed = True
                    stop.set()
            stop.wait(1.0)
    finally:
        print("\nStopping ...", flush=True)
        runner.stop()
    return 1 if failed else 0
