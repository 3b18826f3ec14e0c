"""docker-compose.yml (no Docker engine runs here, so it is checked by reading): every service of
platform.toml is there, built from the shared Dockerfile with its own folder and package, on its
port, on its own PostgreSQL database, in production mode; the gateway routes to each of them, and
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
    assert set(upstreams) == {s["name"] for s in PLATFORM["services"]}
    for service in PLATFORM["services"]:
        upstream = upstreams[service["name"]]
        assert upstream["url"] == f"http://{compose_name(service['name'])}:{service['port']}"
        assert upstream["prefixes"] == service["prefixes"]
        assert compose_name(service["name"]) in gateway["depends_on"]


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
