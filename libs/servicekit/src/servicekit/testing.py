"""Test helpers: real tokens, migrated databases (SQLite or PostgreSQL), per-test rollback,
and services run as real processes on loopback.

`TEST_DATABASE_URL` (a PostgreSQL URL) switches every test database to PostgreSQL: each service
gets a throw-away database named after it; otherwise a SQLite file in the test's temp folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.clock import Clock, SystemClock
from servicekit.db import create_engine as create_async_db_engine
from servicekit.jwt import ACCESS_TOKEN_TYPE, SigningKey, generate_private_key_pem
from servicekit.migrations import upgrade

DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_AUDIENCE = "esafety-platform"


class TokenFactory:
    """Signs real ES256 access tokens, as identity would, for tests."""

    def __init__(
        self,
        signing_key: SigningKey | None = None,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        clock: Clock | None = None,
    ) -> None:
        self.key = signing_key or SigningKey(generate_private_key_pem(), kid=f"test-{uuid.uuid4().hex[:8]}")
        self.issuer = issuer
        self.audience = audience
        self.clock = clock or SystemClock()

    def jwks(self) -> list[dict[str, Any]]:
        return [self.key.public_jwk()]

    def token(
        self,
        *,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        school_id: uuid.UUID | str | None = None,
        subject: str | None = None,
        person_id: uuid.UUID | str | None = None,
        client_id: str | None = None,
        la_code: str | None = None,
        lifetime: timedelta = timedelta(minutes=10),
        issued_at: datetime | None = None,
        **claims: Any,
    ) -> str:
        iat = issued_at or self.clock.now()
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject or (f"client:{client_id}" if client_id else str(uuid.uuid4())),
            "iat": int(iat.timestamp()),
            "exp": int((iat + lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
        }
        if school_id is not None:
            body["school_id"] = str(school_id)
        if la_code is not None:
            body["la_code"] = la_code
        if client_id is not None:
            body["client_id"] = client_id
        else:
            body["roles"] = list(roles)
        if person_id is not None:
            body["person_id"] = str(person_id)
        body.update(claims)
        return self.key.sign(body, typ=ACCESS_TOKEN_TYPE)

    def headers(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kwargs)}"}


# --- databases -------------------------------------------------------------------------------


def fresh_database_url(service: str, tmp_dir: Path, base: str | None = None) -> str:
    """A fresh, empty database for `service`: on the PostgreSQL server of `base` (default
    TEST_DATABASE_URL) when there is one, else SQLite."""
    base = base or os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite+aiosqlite:///{tmp_dir / (service + '.db')}"
    parsed = make_url(base)
    name = f"{parsed.database}_{service}_{uuid.uuid4().hex[:6]}".replace("-", "_")
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def drop_test_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def migrated_database(service: str, service_dir: Path, tmp_dir: Path) -> Iterator[str]:
    """A database for `service` with its migrations applied; dropped afterwards."""
    url = fresh_database_url(service, tmp_dir)
    try:
        upgrade(service_dir, url)
        yield url
    finally:
        drop_test_database(url)


@contextlib.asynccontextmanager
async def rollback_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions joined to one outer transaction that is rolled back at the end (per-test isolation).

    Sessions' own commits become SAVEPOINT releases, so the code under test runs unchanged.
    """
    engine = create_async_db_engine(url, pool_size=1)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            )
        finally:
            await transaction.rollback()
    await engine.dispose()


# --- processes ----------------------------------------------------------------------------------


# Ports handed out by free_port, each held by a bound (not listening) socket until a process
# listens on it. Without the hold, the port is free again between free_port and the server's bind
# (seconds: migrations, imports), and on a busy machine another process's free_port, or an outgoing
# connection, can be given it; the "ready" check then talks to a stranger.
_reserved: dict[int, socket.socket] = {}


def hold_port(port: int = 0) -> int:
    """Hold a loopback port (0: any free one) for this process until `release_port`."""
    sock = socket.socket()
    # SO_REUSEADDR on both sides lets the server bind the held port (uvicorn, asyncio servers and
    # PostgreSQL set it); the kernel gives the port to no one else's bind(0) or connect meanwhile.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    port = int(sock.getsockname()[1])
    _reserved[port] = sock
    return port


def free_port() -> int:
    """A free loopback port, held for this process until `release_port` (or a ServiceProcess on it
    is ready). Servers that bind with SO_REUSEADDR can bind it while it is held."""
    return hold_port()


def release_port(port: int) -> None:
    sock = _reserved.pop(port, None)
    if sock is not None:
        sock.close()


@dataclass
class ServiceProcess:
    """A service run by uvicorn in a child process, on a loopback port."""

    name: str
    app: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_path: str = "/livez", timeout: float = 30.0) -> ServiceProcess:
        if self.port not in _reserved:  # a restart on the same port: hold it until the server has it
            with contextlib.suppress(OSError):
                hold_port(self.port)
        try:
            return self._start(ready_path, timeout)
        finally:
            release_port(self.port)

    def _start(self, ready_path: str, timeout: float) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                # servicekit decides whose X-Forwarded-For to believe (PLATFORM_TRUSTED_PROXIES).
                "--no-proxy-headers",
            ],
            # A real process runs as deployed: start-up objects frozen (the test process does not).
            env={**os.environ, "PLATFORM_GC_FREEZE": "true", **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(
                self.url + ready_path, timeout=timeout, process=self.process, log_path=self.log_path
            )
        except BaseException:
            self.stop(kill=True)  # not left running, unowned, when it never became ready
            raise
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_until_ready(
    url: str,
    *,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll `url` until it answers 200 (waiting on a starting process, not a sleep in a test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not become ready in {timeout}s")
