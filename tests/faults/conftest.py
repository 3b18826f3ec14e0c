"""Fixtures for the fault tests: a platform of their own (so processes can be killed without
disturbing the shared `platform` fixture), a private PostgreSQL server that can be stopped and
started, client loops that run while a fault happens, and bounded polling instead of sleeps."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.testing import drop_test_database, free_port, hold_port, release_port
from tests.platform import RunningPlatform, start_platform

# The gateway's breaker opens after 5 failures and stays open 10 s by default: shorter here, so a
# restarted service is tried again within the test's bounded waits.
FAST_BREAKER = {"GATEWAY_BREAKER_COOLDOWN_SECONDS": "0.5"}


def eventually(check: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `check` until it holds (bounded; the wait is on a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


@contextlib.contextmanager
def own_platform(
    var_dir: Path, *, services: tuple[str, ...] = ("devices", "media_consent"), **extra_env: str
) -> Iterator[RunningPlatform]:
    """The platform on loopback for one test (identity, `services`, the gateway), stopped and its
    databases dropped afterwards. Fewer services start faster; the fault tests need two besides
    identity."""
    runner, tokens = start_platform(
        var_dir, services=",".join(services), extra_env={**FAST_BREAKER, **extra_env}
    )
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        yield RunningPlatform(runner, tokens, gateway)
    finally:
        gateway.close()
        runner.stop()
        for url in runner.database_urls.values():
            with contextlib.suppress(Exception):
                drop_test_database(url)


@pytest.fixture(scope="session")
def faults_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """One platform shared by the fault tests that kill a process: each test restarts what it
    killed before it ends, so the next finds the platform whole (one start saves ~20 s of CI)."""
    with own_platform(tmp_path_factory.mktemp("faults")) as platform:
        yield platform


@dataclass
class ClientLoop:
    """Calls `step` over and over in a thread (at most `limit` times) until stopped.

    `step(i, client)` returns the response's status code; the loop counts them (0: no answer, -1:
    the step's own assertion failed, its message kept in `failures`).
    """

    step: Callable[[int, httpx.Client], int]
    base_url: str
    limit: int = 400
    statuses: Counter[int] = field(default_factory=Counter)
    calls: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ClientLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15) as client:
            for i in range(self.limit):
                if self._stop.is_set():
                    return
                try:
                    status = self.step(i, client)
                except httpx.HTTPError as exc:  # a connection cut by the fault counts as status 0
                    self.failures.append(type(exc).__name__)
                    status = 0
                except AssertionError as exc:  # a step's own check failed: status -1, kept for the test
                    self.failures.append(f"assertion: {exc}")
                    status = -1
                self.statuses[status] += 1
                self.calls += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "the client loop did not stop"

    def count(self, *statuses: int) -> int:
        return sum(self.statuses[s] for s in statuses)


# --- a private PostgreSQL ---------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test alone (its own data folder and port), run with pg_ctl."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # run as this user (initdb refuses root)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/esafety_faults"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data_dir / "data"), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data_dir / "data"), "-o", options,
            "-l", str(self.data_dir / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip
        release_port(self.port)  # held until now (PostgreSQL binds with SO_REUSEADDR)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "data"), "-m", "fast", "-w", "-t", "30", "stop")
        with contextlib.suppress(OSError):
            hold_port(self.port)  # nobody else is given it until the server starts again


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run initdb as")
        user = "postgres"
    data_dir = Path(tempfile.mkdtemp(prefix=f"esafety-pg-{uuid.uuid4().hex[:6]}-"))
    if user is not None:
        shutil.chown(data_dir, user, user)
    server = PrivatePostgres(bin_dir, data_dir, free_port(), user)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return dict(response.json())
