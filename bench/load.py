"""The three outside systems' mix through the gateway, for a while, from one run.

    flock /tmp/esafety-bench.lock .venv/bin/python bench/load.py [--seconds 60] [--connections 16]

Starts the whole platform on loopback (identity, the services, the gateway; PostgreSQL when
TEST_DATABASE_URL is set, else SQLite), seeds the demo school (scripts/demo.py: users, pupils,
carers, the MLE, office and LA clients, each service's demo records) plus 28 more pupils with
carers and consent and 120 more incidents, takes real tokens with the clients' credentials
(`POST /oauth/token`, client credentials), then drives this mix for `--seconds`:

    MLE            consent check of 1 pupil (30%), of 30 pupils (15%), a page of the consent
                   change feed (5%, following next_cursor)
    office (MIS)   phone hand-in registered (20%, with an Idempotency-Key), a held phone returned (15%)
    LA scripts     a page of the incident export, JSON (7.5%) and CSV (7.5%), following the cursor
                   (X-Next-Cursor for CSV) from the start again once has_more is false

Prints throughput, p50 and p99 per operation and the error count (any answer other than the
operation's success status, or no answer), and exits 1 if there was any error. The gateway's rate
limits are off for the run: they would hold one client to 600 requests a minute, and this measures
the platform, not the limiter. Not a test: CI does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import seed as seed_demo  # noqa: E402
from servicekit.testing import drop_test_database  # noqa: E402
from tests.platform import RunningPlatform, SchoolKit, start_platform  # noqa: E402

MIX: dict[str, float] = {
    "mle_check_1": 30,
    "mle_check_30": 15,
    "mle_changes_page": 5,
    "office_phone_register": 20,
    "office_phone_return": 15,
    "la_export_json_page": 7.5,
    "la_export_csv_page": 7.5,
}
EXTRA_PUPILS = 28
EXTRA_INCIDENTS = 120
EXPORT_PAGE = 25


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.text}")
    return response.json()


@dataclass
class World:
    gateway: str
    mle: dict[str, str]
    office: dict[str, str]
    la: dict[str, str]
    pupils: list[str]
    held: list[tuple[str, str]] = field(default_factory=list)  # (record, pupil) phones still held


def client_tokens(gateway: httpx.Client, credentials: Path) -> dict[str, dict[str, str]]:
    """A real access token for each demo client, from its id and secret (client credentials)."""
    headers = {}
    for key, client_id, secret in re.findall(
        r"^client (\w+): client_id=(\S+) client_secret=(\S+)$", credentials.read_text(), re.M
    ):
        token = _ok(
            gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        )["access_token"]
        headers[key] = {"Authorization": f"Bearer {token}"}
    return headers


def seed_more(platform: RunningPlatform, school: SchoolKit, pupils: list[str]) -> None:
    """More pupils with consent (so a check can name 30) and incidents (so an export has pages)."""
    gateway = platform.gateway
    carers = []
    for n in range(EXTRA_PUPILS):
        pupil = school.pupil(year_group=str(1 + n % 6), given_name=f"Bench{n}", family_name="Pupil")
        carers.append((pupil["id"], school.carer(pupil)["id"]))
        pupils.append(pupil["id"])
    teacher = school.headers("teacher")
    office = school.headers("office")
    school.sync()
    for pupil_id, carer_id in carers:
        _ok(
            gateway.post(
                "/v1/media-consent/records",
                json={
                    "pupil_id": pupil_id,
                    "given_by": carer_id,
                    "grants": [
                        {"purpose": "mle", "media_type": "photo", "level": "individual"},
                        {"purpose": "website", "media_type": "photo", "level": "group"},
                    ],
                    "form_dated_on": date.today().isoformat(),
                },
                headers=office,
            )
        )
    categories = ["cyberbullying", "misuse_of_ict", "inappropriate_content", "stranger_contact"]
    for n in range(EXTRA_INCIDENTS):
        occurred = datetime.now(UTC) - timedelta(days=1 + n % 90)
        _ok(
            gateway.post(
                "/v1/incidents",
                json={
                    "category": categories[n % len(categories)],
                    "severity": ["low", "medium", "high"][n % 3],
                    "occurred_at": occurred.isoformat(),
                    "location": "on_site" if n % 2 else "off_site",
                    "summary": f"Bench incident {n}",
                    "people": [{"person_id": pupils[n % len(pupils)], "role": "affected"}],
                },
                headers=teacher,
            )
        )


Operation = Callable[[aiohttp.ClientSession, World, random.Random], Awaitable[bool]]


async def mle_check(session: aiohttp.ClientSession, world: World, rng: random.Random, size: int) -> bool:
    body = {
        "purpose": "mle",
        "media_type": "photo",
        "framing": "group" if size > 1 else "individual",
        "pupil_ids": rng.sample(world.pupils, size),
    }
    async with session.post("/v1/media-consent/checks", json=body, headers=world.mle) as r:
        await r.read()
        return r.status == 200


class Follower:
    """One reader of a change feed: keeps its cursor, starts again at the end (so every call reads)."""

    def __init__(self) -> None:
        self.cursor: str | None = None

    async def page(
        self, session: aiohttp.ClientSession, path: str, headers: dict[str, str], csv: bool
    ) -> bool:
        params = {"limit": str(EXPORT_PAGE)} | ({"format": "csv"} if csv else {})
        if self.cursor:
            params["cursor"] = self.cursor
        async with session.get(path, params=params, headers=headers) as r:
            body = await r.read()
            if r.status != 200:
                return False
            if csv:
                cursor, more = r.headers.get("X-Next-Cursor"), r.headers.get("X-Has-More") == "true"
            else:
                data = await r.json(content_type=None) if body else {}
                cursor, more = data.get("next_cursor"), bool(data.get("has_more"))
        if not cursor:
            return False  # the contract: next_cursor is always set
        self.cursor = cursor if more else None
        return True


async def phone_register(session: aiohttp.ClientSession, world: World, rng: random.Random) -> bool:
    body = {
        "pupil_id": rng.choice(world.pupils),
        "kind": "daily_handin",
        "description": "Black Samsung A15",
        "storage_location": "Reception, tray 5",
    }
    headers = {**world.office, "Idempotency-Key": f"bench-{uuid.uuid4()}"}
    async with session.post("/v1/devices/phone-custody", json=body, headers=headers) as r:
        data = await r.json(content_type=None)
        if r.status != 201:
            return False
    world.held.append((data["id"], body["pupil_id"]))
    return True


async def phone_return(session: aiohttp.ClientSession, world: World, rng: random.Random) -> bool:
    record, pupil = world.held.pop(rng.randrange(len(world.held)))
    path = f"/v1/devices/phone-custody/{record}/return"
    async with session.post(path, json={"to_person_id": pupil}, headers=world.office) as r:
        await r.read()
        return r.status == 200


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def worker(world: World, results: Results, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    names, weights = list(MIX), list(MIX.values())
    changes, export_json, export_csv = Follower(), Follower(), Follower()
    connector = aiohttp.TCPConnector(limit=1)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(world.gateway, connector=connector, timeout=timeout) as session:
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            if name == "office_phone_return" and not world.held:
                name = "office_phone_register"
            start = time.perf_counter()
            try:
                if name == "mle_check_1":
                    ok = await mle_check(session, world, rng, 1)
                elif name == "mle_check_30":
                    ok = await mle_check(session, world, rng, 30)
                elif name == "mle_changes_page":
                    ok = await changes.page(session, "/v1/media-consent/changes", world.mle, csv=False)
                elif name == "office_phone_register":
                    ok = await phone_register(session, world, rng)
                elif name == "office_phone_return":
                    ok = await phone_return(session, world, rng)
                elif name == "la_export_json_page":
                    ok = await export_json.page(session, "/v1/incidents/export", world.la, csv=False)
                else:
                    ok = await export_csv.page(session, "/v1/incidents/export", world.la, csv=True)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                print(f"  {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                ok = False
            results.latencies[name].append(time.perf_counter() - start)
            if not ok:
                results.errors[name] += 1


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def report(results: Results, seconds: float, connections: int, database: str) -> int:
    total = sum(len(v) for v in results.latencies.values())
    errors = sum(results.errors.values())
    print(
        f"\n{seconds:.0f} s, {connections} connections, {database}: "
        f"{total / seconds:.0f} requests/s, {errors} errors"
    )
    print("| operation | requests | per second | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in MIX:
        lat = results.latencies.get(name, [])
        print(
            f"| {name} | {len(lat)} | {len(lat) / seconds:.1f} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} "
            f"| {results.errors.get(name, 0)} |"
        )
    return 1 if errors else 0


async def drive(world: World, seconds: float, connections: int) -> Results:
    results = Results()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(worker(world, results, deadline, n) for n in range(connections)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    database = "PostgreSQL" if os.environ.get("TEST_DATABASE_URL") else "SQLite"
    with tempfile.TemporaryDirectory(prefix="esafety-load-") as tmp:
        var_dir = Path(tmp)
        began = time.monotonic()
        print(f"starting the platform ({database}) ...", flush=True)
        runner, tokens = start_platform(var_dir, extra_env={"GATEWAY_RATE_LIMIT_ENABLED": "false"})
        try:
            credentials = seed_demo(runner)
            gateway = httpx.Client(base_url=runner.url("gateway"), timeout=60)
            platform = RunningPlatform(runner, tokens, gateway)
            demo = json.loads((var_dir / "demo.json").read_text())
            school = SchoolKit(platform, demo["school_id"], "202")
            pupils = [p["id"] for p in demo["pupils"]]
            print("seeding more pupils and incidents ...", flush=True)
            seed_more(platform, school, pupils)
            clients = client_tokens(gateway, credentials)
            world = World(
                gateway=runner.url("gateway"),
                mle=clients["mle"],
                office=clients["office_system"],
                la=clients["la"],
                pupils=pupils,
            )
            gateway.close()
            print(f"set up in {time.monotonic() - began:.0f} s; driving the mix for {args.seconds:.0f} s ...")
            started = time.monotonic()
            results = asyncio.run(drive(world, args.seconds, args.connections))
            return report(results, time.monotonic() - started, args.connections, database)
        finally:
            runner.stop()
            for url in runner.database_urls.values():
                drop_test_database(url)


if __name__ == "__main__":
    sys.exit(main())
