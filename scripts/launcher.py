"""`python3 manage.py run`: the whole platform on its embedded default (SQLite files under var/).

Applies every service's migrations, starts identity, the services and the gateway as uvicorn
processes, seeds the demo school once, prints where everything is, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from servicekit.platform import PlatformRunner, PlatformSecrets, load_spec

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def make_runner() -> PlatformRunner:
    spec = load_spec(ROOT)
    VAR.mkdir(mode=0o700, exist_ok=True)
    secrets = PlatformSecrets.load_or_create(VAR / "platform-secrets.json", spec.services)
    urls = {s.name: f"sqlite+aiosqlite:///{VAR / (s.name + '.db')}" for s in spec.services}
    return PlatformRunner(spec=spec, var_dir=VAR, secrets=secrets, database_urls=urls)


def main(command: str, _args: list[str]) -> int:
    runner = make_runner()
    print("Applying migrations ...", flush=True)
    runner.migrate()
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
            path = demo.seed(runner)
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
