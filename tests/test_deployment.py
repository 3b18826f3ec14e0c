"""docker-compose.yml (no Docker engine runs here, so it is checked by reading): every service of
platform.toml is there, built from the shared Dockerfile with its own folder and package, on its
port, on its own PostgreSQL database, in production mode; so is the console (its own Dockerfile,
for GOV.UK Frontend's assets), with its sessions in Redis; the gateway routes to each of them, and
is the only container with a published port."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PLATFORM = tomllib.loads((ROOT / "platform.toml").read_text())
INIT_SQL = (ROOT / "infra" / "postgres" / "init.sql").read_text()


def compose_name(name: str) -> str:
    return name.replace("_", "-")


@pytest.mark.parametrize("service", PLATFORM["services"], ids=lambda s: s["name"])
def test_every_service_is_in_compose(service: dict) -> None:
    entry = COMPOSE["services"][compose_name(service["name"])]
    build = entry["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    assert build["args"] == {"SERVICE_DIR": service["dir"], "PACKAGE": service["package"]}
    assert (ROOT / service["dir"] / "src" / service["package"]).is_dir()
    port = service["port"]
    env = entry["environment"]
    assert env["PORT"] == str(port)
    assert env["ENVIRONMENT"] == "production"
    url = env[f"{service['env_prefix']}DATABASE_URL"]
    database = re.fullmatch(r"postgresql\+psycopg://esafety:\$\{POSTGRES_PASSWORD\}@postgres:5432/(\w+)", url)
    assert database, url
    assert f"CREATE DATABASE {database.group(1)};" in INIT_SQL
    assert "postgres" in entry["depends_on"]


def test_each_service_has_a_database_of_its_own() -> None:
    urls = [
        COMPOSE["services"][compose_name(s["name"])]["environment"][f"{s['env_prefix']}DATABASE_URL"]
        for s in PLATFORM["services"]
    ]
    assert len(set(urls)) == len(urls)


def test_the_gateway_routes_to_every_service() -> None:
    gateway = COMPOSE["services"]["gateway"]
    assert gateway["ports"] == [f"{PLATFORM['gateway']['port']}:{PLATFORM['gateway']['port']}"]
    upstreams = {u["name"]: u for u in json.loads(gateway["environment"]["GATEWAY_UPSTREAMS"])}
    assert set(upstreams) == {s["name"] for s in PLATFORM["services"]} | {PLATFORM["console"]["name"]}
    for service in PLATFORM["services"]:
        upstream = upstreams[service["name"]]
        assert upstream["url"] == f"http://{compose_name(service['name'])}:{service['port']}"
        assert upstream["prefixes"] == service["prefixes"]
        assert not upstream.get("signs_in_itself")
        assert compose_name(service["name"]) in gateway["depends_on"]


CONSOLE = PLATFORM["console"]
CONSOLE_DOCKERFILE = (ROOT / "infra" / "docker" / "console.Dockerfile").read_text()


def test_the_console_is_in_compose_behind_the_gateway() -> None:
    """Built with its assets, on its port, calling the API through the gateway, its sessions in
    Redis sealed with a key the operator sets; the gateway sends it `/` (it signs people in itself)."""
    entry = COMPOSE["services"][CONSOLE["name"]]
    assert entry["build"] == {"context": ".", "dockerfile": "infra/docker/console.Dockerfile"}
    assert "ports" not in entry
    env = entry["environment"]
    assert env["PORT"] == str(CONSOLE["port"])
    assert env["ENVIRONMENT"] == "production"
    assert env["CONSOLE_GATEWAY_URL"] == f"http://gateway:{PLATFORM['gateway']['port']}"
    assert env["CONSOLE_REDIS_URL"].startswith("redis://redis:6379/")
    assert env["CONSOLE_SESSION_KEY"] == "${CONSOLE_SESSION_KEY:?set CONSOLE_SESSION_KEY}"
    assert env["CONSOLE_OIDC_CLIENT_SECRET"].startswith("${CONSOLE_OIDC_CLIENT_SECRET")
    assert env["PLATFORM_ISSUER"] == COMPOSE["services"]["identity"]["environment"]["PLATFORM_ISSUER"]
    assert "redis" in entry["depends_on"]
    # Every variable it is given is the console's own (its prefix) or the platform's.
    for variable in env:
        assert variable.startswith((CONSOLE["env_prefix"], "PLATFORM_")) or variable in (
            "PORT",
            "ENVIRONMENT",
        )
    gateway = COMPOSE["services"]["gateway"]
    upstreams = {u["name"]: u for u in json.loads(gateway["environment"]["GATEWAY_UPSTREAMS"])}
    assert upstreams[CONSOLE["name"]] == {
        "name": CONSOLE["name"],
        "url": f"http://{CONSOLE['name']}:{CONSOLE['port']}",
        "prefixes": CONSOLE["prefixes"],
        "signs_in_itself": True,
    }
    assert CONSOLE["name"] in gateway["depends_on"]


def test_the_console_image_builds_its_assets_and_runs_like_the_services() -> None:
    """GOV.UK Frontend from the lock file by npm in a build stage (never a CDN, never node in the
    image that runs); then the services' recipe: runtime requirements only, uid 10001, a HEALTHCHECK."""
    lines = [line for line in CONSOLE_DOCKERFILE.splitlines() if not line.startswith("#")]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].startswith("FROM node:") and stages[1] == "FROM python:3.11-slim"
    assert "COPY console/package.json console/package-lock.json ./" in lines
    assert "RUN npm ci --ignore-scripts" in CONSOLE_DOCKERFILE
    assert "COPY --from=assets /govuk console/src/console/static/govuk" in lines
    assert (ROOT / "console" / "package-lock.json").is_file()
    assert "http" not in "".join(line for line in lines if "npm" in line or "cp " in line)
    installs = [line for line in lines if "pip install" in line]
    assert any("-r requirements.txt -c constraints.txt" in line for line in installs)
    assert "requirements-dev" not in CONSOLE_DOCKERFILE
    users = re.findall(r"^USER (\S+)$", CONSOLE_DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "\nRUN " not in CONSOLE_DOCKERFILE[CONSOLE_DOCKERFILE.rindex("\nUSER ") :]
    assert (
        f"PORT={CONSOLE['port']}" in CONSOLE_DOCKERFILE
        and f"PACKAGE={CONSOLE['package']}" in CONSOLE_DOCKERFILE
    )
    joined = "\n".join(lines).replace("\\\n", " ")
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*?CMD (\[[^\n]*\])$", joined, re.MULTILINE)
    assert healthcheck and "/livez" in healthcheck.group(1)
    cmd = re.search(r"^CMD (\[.*\])$", CONSOLE_DOCKERFILE, re.MULTILINE)
    assert cmd and "uvicorn" in cmd.group(1)
    # What the installed package ships: the templates and static files it serves from its own folder.
    package_data = tomllib.loads((ROOT / "console" / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = package_data["package-data"]["console"]
    assert {"templates/*.html", "static/govuk/assets/**/*"} <= set(shipped)
    # The build context leaves out a checkout's own copy, so the image's assets are the lock file's.
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"console/node_modules", "console/src/console/static/govuk", ".venv"} <= set(ignored)


def test_only_the_gateway_is_published() -> None:
    """Attack: a client going round the gateway (no token check at the edge, no rate limit, a
    service's operations routes) finds nothing listening but the gateway."""
    published = {name: entry["ports"] for name, entry in COMPOSE["services"].items() if entry.get("ports")}
    port = PLATFORM["gateway"]["port"]
    assert published == {"gateway": [f"{port}:{port}"]}
    assert not any(entry.get("network_mode") == "host" for entry in COMPOSE["services"].values())


def test_services_believe_forwarded_addresses_from_the_gateway_only() -> None:
    """The services trust X-Forwarded-For from the gateway's fixed address on the compose network,
    and every service's links point at the public URL, not at the service."""
    subnet = ipaddress.ip_network(COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"])
    gateway = COMPOSE["services"]["gateway"]
    address = ipaddress.ip_address(gateway["networks"]["default"]["ipv4_address"])
    assert address in subnet
    assert gateway["environment"]["PLATFORM_TRUSTED_PROXIES"] == "${EDGE_TRUSTED_PROXIES:-}"
    for service in PLATFORM["services"]:
        env = COMPOSE["services"][compose_name(service["name"])]["environment"]
        assert env["PLATFORM_TRUSTED_PROXIES"] == f"{address}/32"
        assert env["PLATFORM_PUBLIC_BASE_URL"] == env["PLATFORM_ISSUER"]


def test_no_secret_is_written_into_compose() -> None:
    for name, entry in COMPOSE["services"].items():
        for key, value in (entry.get("environment") or {}).items():
            if any(word in key for word in ("SECRET", "PASSWORD", "_KEY")) and not key.endswith("KEYS_DIR"):
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"


@pytest.mark.parametrize("service", PLATFORM["services"], ids=lambda s: s["name"])
def test_each_services_migrations_find_servicekits_branch(service: dict) -> None:
    """alembic.ini's version_locations (also used by the image's `alembic upgrade heads`) exist."""
    ini = (ROOT / service["dir"] / "alembic.ini").read_text()
    match = re.search(r"^version_locations = (.*)$", ini, re.MULTILINE)
    assert match, "no version_locations"
    here = ROOT / service["dir"]
    folders = [Path(p.replace("%(here)s", str(here))).resolve() for p in match.group(1).split(":")]
    assert all(folder.is_dir() for folder in folders), folders
    assert any(folder.parts[-2:] == ("kit_migrations", "versions") for folder in folders)


# --- images and the migration step (issue 16) -----------------------------------------------------

DOCKERFILE = (ROOT / "infra" / "docker" / "Dockerfile").read_text()
INSTRUCTIONS = "\n".join(line for line in DOCKERFILE.splitlines() if not line.startswith("#"))
DEV_TOOLS = {"pytest", "pytest-asyncio", "mypy", "ruff", "schemathesis", "hypothesis", "aiohttp"}


def pins(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            package, version = line.split("==")
            out[re.sub(r"\[.*\]", "", package).lower().replace("_", "-")] = version
    return out


def test_runtime_requirements_hold_no_development_tool() -> None:
    runtime = pins("requirements.txt")
    assert not DEV_TOOLS & set(runtime), DEV_TOOLS & set(runtime)
    assert set(pins("requirements-dev.txt")) >= DEV_TOOLS


def test_constraints_pin_every_requirement_at_the_same_version() -> None:
    constraints = pins("constraints.txt")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, version in pins(name).items():
            assert constraints.get(package) == version, f"{name}: {package}=={version} not in constraints.txt"


def test_the_image_installs_the_runtime_requirements_only() -> None:
    installs = [line for line in DOCKERFILE.splitlines() if "pip install" in line]
    assert installs
    assert any("-r requirements.txt -c constraints.txt" in line for line in installs)
    assert "requirements-dev" not in INSTRUCTIONS
    copied = [line for line in INSTRUCTIONS.splitlines() if line.startswith("COPY")]
    assert not any("tests" in line or "bench" in line for line in copied), copied
    assert DOCKERFILE.startswith("#") and "FROM python:3.11-slim" in DOCKERFILE


def test_the_image_runs_as_an_unprivileged_user_with_a_healthcheck() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The last USER comes after every RUN: nothing after it runs as root.
    last_user = DOCKERFILE.rindex("\nUSER ")
    assert "\nRUN " not in DOCKERFILE[last_user:]
    joined = INSTRUCTIONS.replace("\\\n", " ")
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*?CMD (\[[^\n]*\])$", joined, re.MULTILINE)
    assert healthcheck and "/livez" in healthcheck.group(1)
    json.loads(healthcheck.group(1))  # exec form: no shell needed in the image


def test_the_image_does_not_migrate_at_start() -> None:
    """Migrations are their own step (run once per release), not run by every replica's start."""
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert cmd
    assert "alembic" not in cmd.group(1) and "uvicorn" in cmd.group(1)


@pytest.mark.parametrize("service", PLATFORM["services"], ids=lambda s: s["name"])
def test_compose_migrates_each_database_once_before_its_service(service: dict) -> None:
    name = compose_name(service["name"])
    migrate = COMPOSE["services"][f"{name}-migrate"]
    assert migrate["command"] == ["alembic", "-c", f"{service['dir']}/alembic.ini", "upgrade", "heads"]
    assert migrate["build"] == COMPOSE["services"][name]["build"]
    assert migrate["restart"] == "no"
    url_key = f"{service['env_prefix']}DATABASE_URL"
    assert migrate["environment"][url_key] == COMPOSE["services"][name]["environment"][url_key]
    assert COMPOSE["services"][name]["depends_on"][f"{name}-migrate"] == {
        "condition": "service_completed_successfully"
    }


@pytest.mark.parametrize("service", PLATFORM["services"], ids=lambda s: s["name"])
def test_the_migration_command_needs_only_the_database_url(service: dict, tmp_path: Path) -> None:
    """What the migration Job and compose run (`alembic -c <dir>/alembic.ini upgrade heads`, from the
    image's /app) migrates an empty database given nothing but the service's database URL."""
    import os
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "service.db"
    env = {
        "PATH": os.environ["PATH"],
        f"{service['env_prefix']}DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    alembic = Path(sys.executable).parent / "alembic"
    subprocess.run(
        [str(alembic), "-c", f"{service['dir']}/alembic.ini", "upgrade", "heads"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "audit_entry", "idempotency_record"} <= tables
