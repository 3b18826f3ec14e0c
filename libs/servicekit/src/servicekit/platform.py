"""The platform's processes, as `platform.toml` describes them: who listens where, what each needs
in its environment, and starting them in order (identity, then the services, then the gateway).

Used by the run command (scripts/launcher.py) and by the tests that run the real platform on
loopback (tests/platform.py), so both start it the same way.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from servicekit.app import REPLICA_SYNC_SCOPE
from servicekit.migrations import upgrade
from servicekit.settings import DEVELOPMENT_SECRET_PREFIX
from servicekit.testing import ServiceProcess

# The services' feed clients follow identity's feed, may make a service catch up at once, and look up
# staff alert addresses (servicekit.alerts).
FEED_CLIENT_SCOPES = ["identity:feed", REPLICA_SYNC_SCOPE, "alerts:contacts"]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    dir: Path
    env_prefix: str
    port: int
    prefixes: tuple[str, ...]

    @property
    def app(self) -> str:
        return f"{self.package}.main:create_app"

    @property
    def follows_people(self) -> bool:
        return self.name != "identity"


@dataclass(frozen=True)
class PlatformSpec:
    root: Path
    gateway_port: int
    gateway_app: str
    services: tuple[ServiceSpec, ...]
    # The console (platform.toml [console]): started after the services, routed to by "/".
    console: ServiceSpec | None = None

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.name == name)


def load_spec(root: Path) -> PlatformSpec:
    """platform.toml, keeping only the services whose code exists in this checkout."""
    data = tomllib.loads((root / "platform.toml").read_text())
    services = []
    for entry in data["services"]:
        service_dir = root / entry["dir"]
        if not (service_dir / "src" / entry["package"] / "main.py").exists():
            continue
        services.append(
            ServiceSpec(
                name=entry["name"],
                package=entry["package"],
                dir=service_dir,
                env_prefix=entry["env_prefix"],
                port=int(entry["port"]),
                prefixes=tuple(entry["prefixes"]),
            )
        )
    gateway = data["gateway"]
    console = None
    entry = data.get("console")
    if entry is not None and (root / entry["dir"] / "src" / entry["package"] / "main.py").exists():
        console = ServiceSpec(
            name=entry["name"],
            package=entry["package"],
            dir=root / entry["dir"],
            env_prefix=entry["env_prefix"],
            port=int(entry["port"]),
            prefixes=tuple(entry["prefixes"]),
        )
    return PlatformSpec(
        root=root,
        gateway_port=int(gateway["port"]),
        gateway_app=f"{gateway['package']}.main:create_app",
        services=tuple(services),
        console=console,
    )


@dataclass
class PlatformSecrets:
    """The secrets a development platform generates once and keeps in var/ (mode 600)."""

    admin_username: str
    admin_password: str
    admin_totp_secret: str
    feed_secrets: dict[str, str]

    @classmethod
    def load_or_create(cls, path: Path, services: tuple[ServiceSpec, ...]) -> PlatformSecrets:
        data = json.loads(path.read_text()) if path.exists() else {}
        secrets_ = cls(
            admin_username=data.get("admin_username", "admin"),
            admin_password=data.get("admin_password", secrets.token_urlsafe(18)),
            admin_totp_secret=data.get(
                "admin_totp_secret", base64.b32encode(secrets.token_bytes(20)).decode()
            ),
            feed_secrets=dict(data.get("feed_secrets", {})),
        )
        for service in services:
            if service.follows_people and service.name not in secrets_.feed_secrets:
                secrets_.feed_secrets[service.name] = DEVELOPMENT_SECRET_PREFIX + secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(secrets_.__dict__, handle, indent=2)
        return secrets_


@dataclass
class PlatformRunner:
    """Starts the platform's processes on loopback and stops them again."""

    spec: PlatformSpec
    var_dir: Path
    secrets: PlatformSecrets
    database_urls: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    environment: str = "development"
    follow_interval: float = 2.0
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # Several replicas of a process: their own ports, by name ("gateway" too). `ports[name]` is
    # then the address the others reach it at (a load balancer the caller runs in front of them).
    # The first replica is `processes[name]`, the others `processes["<name>@2"]`, ...
    replica_ports: dict[str, list[int]] = field(default_factory=dict)
    # More upstreams for the gateway ({"name", "url", "prefixes"}): a benchmark's own backends.
    extra_upstreams: list[dict[str, object]] = field(default_factory=list)
    # How long a process may take to answer /livez (a busy machine, many replicas, takes longer).
    start_timeout: float = 30.0
    # The replica:sync token and when to fetch a new one (time.monotonic()).
    sync_auth: tuple[float, dict[str, str]] | None = field(default=None, repr=False)

    def port(self, name: str) -> int:
        if name == "gateway":
            return self.ports.get("gateway", self.spec.gateway_port)
        if self.spec.console is not None and name == self.spec.console.name:
            return self.ports.get(name, self.spec.console.port)
        return self.ports.get(name, self.spec.service(name).port)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    @property
    def issuer(self) -> str:
        return self.url("gateway")

    def common_env(self) -> dict[str, str]:
        return {
            "ENVIRONMENT": self.environment,
            "PLATFORM_ISSUER": self.issuer,
            "PLATFORM_JWKS_URL": self.url("identity") + "/.well-known/jwks.json",
            "PLATFORM_IDENTITY_URL": self.url("identity"),
            "PLATFORM_PUBLIC_BASE_URL": self.url("gateway"),
        }

    def service_env(self, service: ServiceSpec) -> dict[str, str]:
        prefix = service.env_prefix
        env = {**self.common_env(), f"{prefix}DATABASE_URL": self.database_urls[service.name]}
        if service.name == "identity":
            env.update(
                IDENTITY_KEYS_DIR=str(self.var_dir / "keys"),
                IDENTITY_SERVICE_CLIENTS=json.dumps(
                    [
                        {"client_id": f"{name}-feed", "client_secret": secret, "scopes": FEED_CLIENT_SCOPES}
                        for name, secret in sorted(self.secrets.feed_secrets.items())
                    ]
                ),
                BOOTSTRAP_ADMIN_USERNAME=self.secrets.admin_username,
                BOOTSTRAP_ADMIN_PASSWORD=self.secrets.admin_password,
                BOOTSTRAP_ADMIN_TOTP_SECRET=self.secrets.admin_totp_secret,
            )
        else:
            env.update(
                {
                    f"{prefix}FEED_CLIENT_ID": f"{service.name}-feed",
                    f"{prefix}FEED_CLIENT_SECRET": self.secrets.feed_secrets[service.name],
                    f"{prefix}FOLLOW_INTERVAL_SECONDS": str(self.follow_interval),
                    f"{prefix}KEYS_DIR": str(self.var_dir / f"keys-{service.name}"),
                }
            )
        env.update(self.extra_env)
        return env

    def gateway_env(self) -> dict[str, str]:
        upstreams: list[dict[str, object]] = [
            {"name": s.name, "url": self.url(s.name), "prefixes": list(s.prefixes)}
            for s in self.spec.services
        ]
        upstreams += self.extra_upstreams
        if self.spec.console is not None:
            console = self.spec.console
            upstreams.append(
                {
                    "name": console.name,
                    "url": self.url(console.name),
                    "prefixes": list(console.prefixes),
                    "signs_in_itself": True,
                }
            )
        # The gateway sets X-Forwarded-For itself; uvicorn must not take a caller's at its word.
        env = {
            **self.common_env(),
            "GATEWAY_UPSTREAMS": json.dumps(upstreams),
            "UVICORN_PROXY_HEADERS": "false",
        }
        env.update(self.extra_env)
        return env

    def console_env(self) -> dict[str, str]:
        """The console calls the API through the gateway, like any client; its sessions live in memory
        unless CONSOLE_REDIS_URL (with CONSOLE_SESSION_KEY) is in `extra_env`."""
        env = {
            **self.common_env(),
            "CONSOLE_GATEWAY_URL": self.url("gateway"),
            "CONSOLE_OIDC_CLIENT_FILE": str(self.var_dir / "console-client.json"),
        }
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        for service in self.spec.services:
            upgrade(service.dir, self.database_urls[service.name])

    def start(self) -> None:
        """Identity first (the others fetch its keys and follow its feed), then the rest, then the gateway."""
        logs = self.var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for service in sorted(self.spec.services, key=lambda s: s.name != "identity"):
            self.start_service(service.name)
        if self.spec.console is not None:
            self.start_console()
        for key, port in self._replicas("gateway"):
            self.processes[key] = ServiceProcess(
                "gateway", self.spec.gateway_app, port, self.gateway_env(), logs / f"{key}.log"
            ).start(timeout=self.start_timeout)

    def start_console(self) -> ServiceProcess:
        """Start the console (every replica of it: they share sessions only through CONSOLE_REDIS_URL)."""
        assert self.spec.console is not None
        console = self.spec.console
        for key, port in self._replicas(console.name):
            self.processes[key] = ServiceProcess(
                console.name, console.app, port, self.console_env(), self.var_dir / "logs" / f"{key}.log"
            ).start(timeout=self.start_timeout)
        return self.processes[console.name]

    def _replicas(self, name: str) -> list[tuple[str, int]]:
        """(process key, port) of each replica of `name`: one on its own port unless replica_ports says."""
        ports = self.replica_ports.get(name) or [self.port(name)]
        return [(name if i == 0 else f"{name}@{i + 1}", port) for i, port in enumerate(ports)]

    def replicas(self, name: str) -> list[ServiceProcess]:
        """The running processes of `name` (every replica)."""
        return [self.processes[key] for key, _ in self._replicas(name) if key in self.processes]

    def start_service(self, name: str) -> ServiceProcess:
        """Start `name` (every replica of it); returns the first."""
        service = self.spec.service(name)
        for key, port in self._replicas(name):
            self.processes[key] = ServiceProcess(
                name, service.app, port, self.service_env(service), self.var_dir / "logs" / f"{key}.log"
            ).start(timeout=self.start_timeout)
        return self.processes[name]

    def sync_replicas(self) -> None:
        """Make every service follow identity's feed up to now."""
        for service in self.spec.services:
            if service.follows_people and service.name in self.processes:
                headers = self._sync_headers(service.name)
                for process in self.replicas(service.name):
                    response = httpx.post(process.url + "/internal/replica/sync", headers=headers, timeout=30)
                    response.raise_for_status()

    def _sync_headers(self, name: str) -> dict[str, str]:
        """A `replica:sync` token from identity (for a service's feed client), kept while it is valid."""
        if self.sync_auth is not None and time.monotonic() < self.sync_auth[0]:
            return self.sync_auth[1]
        response = httpx.post(
            self.url("identity") + "/oauth/token",
            data={"grant_type": "client_credentials", "scope": REPLICA_SYNC_SCOPE},
            auth=(f"{name}-feed", self.secrets.feed_secrets[name]),
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        self.sync_auth = (time.monotonic() + int(body["expires_in"]) - 30, headers)
        return headers

    def stop(self) -> None:
        console = [self.spec.console.name] if self.spec.console is not None else []
        for name in ["gateway", *console, *[s.name for s in reversed(self.spec.services)]]:
            for key, _ in self._replicas(name):
                process = self.processes.pop(key, None)
                if process is not None:
                    process.stop()
