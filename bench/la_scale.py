"""The platform at a local authority's size, from one run, against PERFORMANCE.md's aims
("Aims that replace the earlier consent-check ratio").

    flock /tmp/esafety-bench.lock .venv/bin/python bench/la_scale.py [--scale 1.0] [--seconds 4]

Two replicas of every service and two gateways, each behind a round-robin balancer
(tests/balancer.py), on PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/
la_scale: throw-away databases are made on that server). Data goes straight into the services'
tables after their migrations (multi-row INSERTs, not the API): at --scale 1.0, 90 schools with 500
pupils each (45,000), one carer per pupil with parental responsibility, every pupil's consent, and
500,000 incidents (two people each). `--scale` shrinks the number of schools (each keeps its
500 pupils and 5,556 incidents): --scale 0.2 is 18 schools, 9,000 pupils, 100,000 incidents.

1. One school loaded (the baseline): consent-check p99 at a fixed rate, and the CSV export's rows/s.
2. The other schools loaded (VACUUM ANALYZEd, as after a real bulk import, and checkpointed): the same two
   figures (aim: within 1.5x of 1), then
   - the 30-pupil check against a minimal endpoint behind the same gateways that does the same
     database work (bench/minimal_check.py), closed loop, interleaved (aim: >= 0.6x), then both
     at a fixed rate (--fixed-rate, 300/s), their p99s (aim: <= 2x);
   - phone registrations, each returned to its pupil next, and 1-pupil checks at once (the
     office's and the MLE's mix): the registration's and the return's p50 against the check's
     (aim: <= 3x each).

Prints every figure and ratio. Not a test: CI does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.gateway_throughput import Generator, Run, paced, pct  # noqa: E402
from incidents.incident.models import SEQ_BUCKET  # noqa: E402
from incidents.models import Incident, IncidentPerson  # noqa: E402
from media_consent.consent.models import ConsentCurrent  # noqa: E402
from media_consent.consent.rules import all_none  # noqa: E402
from servicekit.db import sync_url  # noqa: E402
from servicekit.models import ReplicaCarerLink, ReplicaPerson, ReplicaSchool  # noqa: E402
from servicekit.testing import ServiceProcess, free_port  # noqa: E402
from tests.balancer import RoundRobin  # noqa: E402
from tests.platform import ReplicatedPlatform, RunningPlatform, start_replicated_platform  # noqa: E402

LA_CODE = "950"
FOLLOWING = ("incidents", "devices", "media_consent")
BATCH = 5000
CHECKS = "/v1/media-consent/checks"
MINIMAL = "/v1/minimal/checks"


class World:
    """What was loaded: schools, and per school its pupils (ids)."""

    def __init__(self, schools: int, pupils: int, incidents: int) -> None:
        self.school_ids = [uuid.uuid4() for _ in range(schools)]
        self.pupils = {s: [uuid.uuid4() for _ in range(pupils)] for s in self.school_ids}
        self.incidents_per_school = incidents
        self.incident_no = 0


def _batches(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def load_schools(runner_urls: dict[str, str], world: World, schools: list[uuid.UUID]) -> None:
    """Straight into the tables: the people replica of every following service, consent, incidents."""
    grants = all_none() | {"website/photo": "individual", "mle/photo": "group"}
    now = datetime.now(UTC)
    engines = {name: create_engine(sync_url(runner_urls[name])) for name in FOLLOWING}
    try:
        for n, school in enumerate(schools):
            pupils = world.pupils[school]
            carers = [uuid.uuid4() for _ in pupils]
            people = [
                {
                    "id": p,
                    "school_id": school,
                    "kind": "pupil",
                    "given_name": f"Pupil{i}",
                    "family_name": "Bench",
                    "year_group": str(i % 7 + 1),
                    "is_on_roll": True,
                    "roles": [],
                }
                for i, p in enumerate(pupils)
            ] + [
                {
                    "id": c,
                    "school_id": school,
                    "kind": "parent",
                    "given_name": f"Carer{i}",
                    "family_name": "Bench",
                    "year_group": None,
                    "is_on_roll": True,
                    "roles": [],
                }
                for i, c in enumerate(carers)
            ]
            links = [
                {
                    "id": uuid.uuid4(),
                    "pupil_id": p,
                    "carer_id": c,
                    "relationship": "mother",
                    "has_parental_responsibility": True,
                    "is_active": True,
                }
                for p, c in zip(pupils, carers, strict=True)
            ]
            school_row = {
                "id": school,
                "name": f"Bench School {n}",
                "urn": f"{900000 + n}",
                "la_code": LA_CODE,
            }
            for engine in engines.values():
                with engine.begin() as conn:
                    conn.execute(insert(ReplicaSchool), [school_row])
                    for batch in _batches(people):
                        conn.execute(insert(ReplicaPerson), batch)
                    for batch in _batches(links):
                        conn.execute(insert(ReplicaCarerLink), batch)
            with engines["media_consent"].begin() as conn:
                rows = [
                    {
                        "pupil_id": p,
                        "school_id": school,
                        "version": 1,
                        "grants": grants,
                        "withdrawn_purposes": [],
                        "valid_until": date(2099, 1, 1),
                        "updated_at": now,
                    }
                    for p in pupils
                ]
                for batch in _batches(rows):
                    conn.execute(insert(ConsentCurrent), batch)
            _load_incidents(engines["incidents"], world, school, pupils)
    finally:
        for engine in engines.values():
            engine.dispose()


def _load_incidents(engine: Any, world: World, school: uuid.UUID, pupils: list[uuid.UUID]) -> None:
    start = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
    categories = ["cyberbullying", "misuse_of_ict", "inappropriate_content", "grooming", "filtering_failure"]
    with engine.begin() as conn:
        for base in range(0, world.incidents_per_school, BATCH):
            incidents, people = [], []
            for _ in range(base, min(base + BATCH, world.incidents_per_school)):
                world.incident_no += 1
                n = world.incident_no
                iid = uuid.uuid4()
                at = start + timedelta(seconds=n * 7)
                incidents.append(
                    {
                        "id": iid,
                        "school_id": school,
                        "reference": f"ESI-2025-{n:07d}",
                        "category": categories[n % 5],
                        "severity": "medium",
                        "status": "open",
                        "location": "on_site",
                        "summary": "Bench incident",
                        "occurred_at": at,
                        "recorded_at": at,
                        "reported_by_person_id": None,
                        "reported_by": "user:bench",
                        "version": 1,
                        "updated_at": at,
                        "change_seq": n,
                        "retention_class": "safeguarding",
                        "review_on": date(2040, 1, 1),
                        "has_legal_hold": False,
                    }
                )
                for role, pupil in (
                    ("affected", pupils[n % len(pupils)]),
                    ("subject", pupils[(n * 7) % len(pupils)]),
                ):
                    people.append(
                        {
                            "id": uuid.uuid4(),
                            "incident_id": iid,
                            "person_id": pupil,
                            "role": role,
                            "kind": "pupil",
                            "year_group": "4",
                            "added_at": at,
                        }
                    )
            conn.execute(insert(Incident), incidents)
            conn.execute(insert(IncidentPerson), people)
        conn.execute(
            text(
                "INSERT INTO feed_counter (name, value) VALUES ('incidents', :n) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            {"n": world.incident_no},
        )
        # What the service keeps beside each change (incidents.incident.models.IncidentSeqBucket).
        conn.execute(text("DELETE FROM incident_seq_bucket"))
        conn.execute(
            text(
                "INSERT INTO incident_seq_bucket (school_id, bucket, incidents) "
                "SELECT school_id, change_seq / :block, count(*) FROM incident "
                "WHERE change_seq > 0 GROUP BY 1, 2"
            ),
            {"block": SEQ_BUCKET},
        )


def vacuum_analyze(urls: dict[str, str]) -> float:
    """VACUUM (ANALYZE) every loaded database, as an operator would after a bulk import; its seconds.

    Without it the measurements straight after the load pay for the load: the first reads of the
    new rows set their hint bits (writing the pages again), autovacuum's workers start on the new
    tables while the figures are taken, and with no visibility map an index-only scan (the
    export's `X-Remaining` count) cannot skip the heap, so the planner takes a sequential scan
    instead (docs/benchmarks.md, the la_scale notes). Then a CHECKPOINT: otherwise the load's
    dirty pages are written out during the measurements (the timed checkpoint spreads them over
    minutes), and the p99s measure that instead of the platform.
    """
    started = time.perf_counter()
    for name in FOLLOWING:
        engine = create_engine(sync_url(urls[name]), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            if name == FOLLOWING[-1]:
                conn.execute(text("CHECKPOINT"))  # server-wide: once
        engine.dispose()
    return time.perf_counter() - started


def check_body(pupils: list[uuid.UUID], purpose: str = "website") -> bytes:
    return json.dumps(
        {"purpose": purpose, "media_type": "photo", "framing": "group", "pupil_ids": [str(p) for p in pupils]}
    ).encode()


async def export_rate(front: str, headers: dict[str, str], limit: int) -> tuple[float, int]:
    """(rows/s, rows) of one CSV export page of up to `limit` incidents through the gateways."""
    async with httpx.AsyncClient(base_url=front, timeout=900) as client:
        started = time.perf_counter()
        lines = 0
        async with client.stream(
            "GET", "/v1/incidents/export", params={"format": "csv", "limit": limit}, headers=headers
        ) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                lines += chunk.count(b"\n")
        return (lines - 1) / (time.perf_counter() - started), lines - 1


async def best_export(front: str, headers: dict[str, str], limit: int) -> tuple[float, int]:
    """The median of three exports' rows/s (the machine is shared: one export can be unlucky)."""
    runs = [await export_rate(front, headers, limit) for _ in range(3)]
    return statistics.median(r[0] for r in runs), runs[0][1]


async def consent_p99(
    front: str, headers: dict[str, str], pupils: list[uuid.UUID], args: argparse.Namespace
) -> dict[str, float]:
    """p50/p99 of 1- and 30-pupil checks at a fixed rate (open loop), spread over the school's pupils."""
    out: dict[str, float] = {}
    await paced(front + CHECKS, headers, args.rate, 1.0, 16, check_body(pupils[:30]))  # warm up
    for count in (1, 30):
        latencies: list[float] = []
        for r in range(args.rounds):
            offset = (r * 97) % max(1, len(pupils) - count)
            body = check_body(pupils[offset : offset + count])
            latencies += await paced(front + CHECKS, headers, args.rate, args.seconds, 16, body)
        out[f"p50_{count}"] = pct(latencies, 0.5)
        out[f"p99_{count}"] = pct(latencies, 0.99)
    return out


async def check_vs_minimal(
    front: str, headers: dict[str, str], pupils: list[uuid.UUID], args: argparse.Namespace
) -> dict[str, Any]:
    gen = Generator(None)
    body = check_body(pupils[:30])
    phases = [("check", front + CHECKS), ("minimal", front + MINIMAL)]
    for _, url in phases:
        await gen.run(url, headers, 1.0, args.connections, body)
    runs: dict[str, list[Run]] = {"check": [], "minimal": []}
    for n in range(args.rounds):
        for kind, url in phases if n % 2 == 0 else list(reversed(phases)):
            runs[kind].append(await gen.run(url, headers, args.seconds, args.connections, body))
    rates = {k: sum(r.requests for r in v) / sum(r.seconds for r in v) for k, v in runs.items()}
    p99 = {k: statistics.median(r.p99_ms for r in v) for k, v in runs.items()}
    # PERFORMANCE.md's second half of the aim: p99 at a fixed rate (open loop), the two interleaved.
    fixed: dict[str, list[float]] = {"check": [], "minimal": []}
    for n in range(args.rounds):
        for kind, url in phases if n % 2 == 0 else list(reversed(phases)):
            fixed[kind] += await paced(url, headers, args.fixed_rate, args.seconds, 64, body)
    fixed_p99 = {k: pct(v, 0.99) for k, v in fixed.items()}
    return {
        "rates": rates,
        "p99": p99,
        "ratio": rates["check"] / rates["minimal"],
        "fixed_p99": fixed_p99,
        "fixed_ratio": fixed_p99["check"] / fixed_p99["minimal"],
    }


async def mix(
    front: str, mle: dict[str, str], office: dict[str, str], pupils: list[uuid.UUID], args: argparse.Namespace
) -> dict[str, list[float]]:
    """Phone registrations (each returned to its pupil next) and 1-pupil checks at once, closed
    loop: 3 office and 5 MLE clients."""
    latencies: dict[str, list[float]] = {"register": [], "return": [], "check_1": []}
    deadline = time.perf_counter() + args.seconds * args.rounds
    errors: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def registrar(k: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                body = {
                    "pupil_id": str(pupils[(k * 1000 + i) % len(pupils)]),
                    "kind": "daily_handin",
                    "description": f"Phone {k}-{i}",
                    "storage_location": "Reception",
                }
                headers = {**office, "Idempotency-Key": uuid.uuid4().hex}
                t0 = time.perf_counter()
                async with session.post(front + "/v1/devices/phone-custody", json=body, headers=headers) as r:
                    if r.status != 201:
                        errors.append(f"register {r.status}: {await r.text()}")
                        return
                    record = (await r.json())["id"]
                latencies["register"].append(time.perf_counter() - t0)
                headers = {**office, "Idempotency-Key": uuid.uuid4().hex}
                back = {"to_person_id": body["pupil_id"]}
                t0 = time.perf_counter()
                path = f"{front}/v1/devices/phone-custody/{record}/return"
                async with session.post(path, json=back, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(f"return {r.status}: {await r.text()}")
                        return
                latencies["return"].append(time.perf_counter() - t0)

        async def checker(k: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                body = check_body([pupils[(k * 331 + i) % len(pupils)]])
                t0 = time.perf_counter()
                headers = {**mle, "Content-Type": "application/json"}
                async with session.post(front + CHECKS, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(f"check {r.status}: {await r.text()}")
                        return
                latencies["check_1"].append(time.perf_counter() - t0)

        await asyncio.gather(*(registrar(k) for k in range(3)), *(checker(k) for k in range(5)))
    if errors:
        raise RuntimeError(errors[0])
    return latencies


def print_checks(args: argparse.Namespace, figures: dict[str, float]) -> None:
    print(
        f"consent check at {args.rate:.0f}/s: 1 pupil p50 {figures['p50_1']:.1f} ms"
        f" p99 {figures['p99_1']:.1f} ms; 30 pupils p50 {figures['p50_30']:.1f} ms"
        f" p99 {figures['p99_30']:.1f} ms",
        flush=True,
    )


def start_minimal(platform: ReplicatedPlatform, ports: list[int], tmp: Path) -> list[ServiceProcess]:
    url = platform.runner.database_urls["media_consent"]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    env = {"BENCH_CHECK_DSN": dsn, "PYTHONPATH": str(ROOT), "PLATFORM_GC_FREEZE": "true"}
    return [
        ServiceProcess(
            "minimal", "bench.minimal_check:create_app", port, env, tmp / f"minimal-{port}.log"
        ).start()
        for port in ports
    ]


async def run(args: argparse.Namespace) -> None:
    # A school keeps its size (500 pupils, 5,556 incidents); --scale shrinks how many schools.
    schools = max(2, round(90 * args.scale))
    pupils = 500
    incidents = round(500_000 / 90)
    world = World(schools, pupils, incidents)
    tmp = Path(tempfile.mkdtemp(prefix="la-scale-"))
    minimal_ports = [free_port(), free_port()]
    minimal_lb = RoundRobin(minimal_ports).start()
    quiet = {
        "PLATFORM_LOG_LEVEL": "WARNING",
        "GATEWAY_LOG_LEVEL": "WARNING",
        **{f"{p}_LOG_LEVEL": "WARNING" for p in ("IDENTITY", "INCIDENTS", "DEVICES", "MEDIA_CONSENT")},
        # The scheduled staff alerts (end of the school day, weekly) off: in a fresh deployment
        # the week's run is due at once for every school, so the first scheduler tick after the
        # bulk load ran it for 89 schools in the middle of the LA-scale measurements.
        **{f"{p}_ALERT_SCHEDULER_SECONDS": "0" for p in ("INCIDENTS", "DEVICES", "MEDIA_CONSENT")},
    }
    head_key = f"la-scale-{uuid.uuid4().hex[:10]}:people-feed:head"
    if args.feed_head:
        # The people feed's head in Redis (servicekit.replica.FeedHead), as an LA deployment has it.
        quiet["PLATFORM_PEOPLE_FEED_HEAD_URL"] = args.redis_url
        quiet["PLATFORM_PEOPLE_FEED_HEAD_KEY"] = head_key
    print(
        f"LA scale x{args.scale}: {schools} schools, {schools * pupils:,} pupils with carers, "
        f"{schools * incidents:,} incidents; 2 replicas per service, 2 gateways, PostgreSQL;"
        f" feed head {'in Redis' if args.feed_head else 'off (every catch-up pulls)'}",
        flush=True,
    )
    started = time.perf_counter()
    platform = start_replicated_platform(
        tmp,
        database=args.database_url,
        follow_interval=30.0,
        start_timeout=180.0,
        extra_env=quiet,
        extra_upstreams=[{"name": "minimal", "url": minimal_lb.url, "prefixes": ["/v1/minimal"]}],
    )
    minimal: list[ServiceProcess] = []
    try:
        print(f"  platform up in {time.perf_counter() - started:.0f}s", flush=True)
        minimal = start_minimal(platform, minimal_ports, tmp)
        # One write through identity, as a school's day has them: it announces the feed head
        # (the bench's own rows go straight into the replicas, past identity's feed).
        with httpx.Client(base_url=platform.front, timeout=30) as client:
            RunningPlatform(platform.runner, platform.tokens, client).new_school(la_code="999")
        urls = platform.runner.database_urls
        front = platform.front
        tokens = platform.tokens
        first = world.school_ids[0]
        life = timedelta(hours=2)
        mle = tokens.headers(
            scopes=["consent:check"], school_id=str(first), client_id="bench-mle", lifetime=life
        )
        office = tokens.headers(
            scopes=["phones:read", "phones:write", "people:read"],
            school_id=str(first),
            client_id="bench-mis",
            lifetime=life,
        )
        la = tokens.headers(scopes=["incidents:export"], la_code=LA_CODE, client_id="bench-la", lifetime=life)
        gc.collect()
        gc.freeze()

        t0 = time.perf_counter()
        load_schools(urls, world, world.school_ids[:1])
        vacuumed = vacuum_analyze(urls)
        print(
            f"\n== one school loaded in {time.perf_counter() - t0:.1f}s (VACUUM ANALYZE {vacuumed:.1f}s)",
            flush=True,
        )
        await export_rate(front, la, 1000)  # warm up
        rows = args.export_rows or world.incidents_per_school  # the same page size at both sizes
        one_export, one_rows = await best_export(front, la, rows)
        one = await consent_p99(front, mle, world.pupils[first], args)
        print(f"export CSV: {one_rows:,} rows at {one_export:,.0f} rows/s")
        print_checks(args, one)

        t0 = time.perf_counter()
        load_schools(urls, world, world.school_ids[1:])
        vacuumed = vacuum_analyze(urls)
        print(
            f"\n== {schools} schools loaded in {time.perf_counter() - t0:.1f}s more "
            f"({world.incident_no:,} incidents; VACUUM ANALYZE {vacuumed:.1f}s)",
            flush=True,
        )
        la_export, la_rows = await best_export(front, la, rows)
        big = await consent_p99(front, mle, world.pupils[first], args)
        print(f"export CSV: {la_rows:,} rows at {la_export:,.0f} rows/s")
        print_checks(args, big)

        versus = await check_vs_minimal(front, mle, world.pupils[first], args)
        print(
            "\n== 30-pupil check vs the minimal endpoint (same database work),"
            f" {args.connections} connections, {args.rounds}x{args.seconds}s interleaved"
        )
        for kind in ("check", "minimal"):
            print(
                f"{kind:8s} {versus['rates'][kind]:7.0f} req/s  p99 {versus['p99'][kind]:7.1f} ms;"
                f" at a fixed {args.fixed_rate:.0f}/s p99 {versus['fixed_p99'][kind]:7.1f} ms"
            )

        mixed = await mix(front, mle, office, world.pupils[first], args)
        register_p50, check_p50 = pct(mixed["register"], 0.5), pct(mixed["check_1"], 0.5)
        return_p50 = pct(mixed["return"], 0.5)
        print(
            f"\n== the mix: {len(mixed['register'])} phone registrations p50 {register_p50:.1f} ms"
            f" p99 {pct(mixed['register'], 0.99):.1f} ms; {len(mixed['return'])} returns"
            f" p50 {return_p50:.1f} ms p99 {pct(mixed['return'], 0.99):.1f} ms;"
            f" {len(mixed['check_1'])} 1-pupil checks"
            f" p50 {check_p50:.1f} ms p99 {pct(mixed['check_1'], 0.99):.1f} ms"
        )

        print("\n== against the aims")
        print(f"30-pupil check / minimal endpoint throughput: {versus['ratio']:.2f}x (aim >= 0.6x)")
        fixed = f"30-pupil check / minimal p99 at {args.fixed_rate:.0f}/s:"
        print(f"{fixed:46s}{versus['fixed_ratio']:.2f}x (aim <= 2x)")
        print(f"phone registration p50 / 1-pupil check p50:   {register_p50 / check_p50:.2f}x (aim <= 3x)")
        print(f"phone return p50 / 1-pupil check p50:         {return_p50 / check_p50:.2f}x (aim <= 3x)")
        for count in (1, 30):
            ratio = big[f"p99_{count}"] / one[f"p99_{count}"]
            print(f"LA / one school, {count:2d}-pupil check p99:     {ratio:.2f}x (aim <= 1.5x)")
        print(f"one school / LA export rows/s:                {one_export / la_export:.2f}x (aim <= 1.5x)")
        print(f"\ntotal {time.perf_counter() - started:.0f}s")
    finally:
        for process in minimal:
            process.stop()
        minimal_lb.stop()
        platform.stop()
        if args.feed_head:
            with redis.Redis.from_url(args.redis_url) as client:
                client.delete(head_key)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the LA's sizes (1.0: 90 schools)"
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--feed-head",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the people feed's head in Redis (--no-feed-head: every catch-up pulls)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0, help="checks/s of the fixed-rate p99 phase")
    parser.add_argument(
        "--fixed-rate", type=float, default=300.0, help="checks/s of the check-vs-minimal p99 phase"
    )
    parser.add_argument(
        "--export-rows", type=int, default=0, help="incidents per export page measured (0: one school's)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/la_scale"),
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
