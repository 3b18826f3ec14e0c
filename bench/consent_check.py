"""The consent check under load, from one run:

1. checks of 1 and of 30 pupils per second through the gateway, p50/p99 at 32 connections, each
   against a bare FastAPI endpoint behind the same gateway (aims: the 30-pupil check >= 0.35x the
   bare endpoint's throughput, p99 <= 2x its p99);
2. the check's read path alone, in-process, against a bare asyncpg read of the same rows
   (PostgreSQL only): what the check runs on PostgreSQL (checks/pg.py: asyncpg pool) and the
   SQLAlchemy session path it runs on SQLite (checks/service.py: load_facts).

    flock /tmp/esafety-bench.lock .venv/bin/python bench/consent_check.py [--seconds 3] [--rounds 3] \
        [--generator wrk|python] [--sqlite]

Fair and repeatable: one load generator for every phase (wrk, as bench/gateway_throughput.py runs
it, or with --generator python 32 closed-loop aiohttp connections in this process), the same
gateway in front of both backends, and all four phases (bare and check, 1 and 30 pupils) in every
round, in the order ABCD then DCBA (drift cancels). Each phase also reports its backend's CPU per
request (from /proc), which drifts less than req/s on a shared machine.

The database is PostgreSQL at BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/
esafety_bench; a throw-away database is made from it), or SQLite with --sqlite. Ratios from the
same run, phases interleaved, are what to read.
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "libs" / "servicekit" / "src"),
    str(ROOT / "gateway" / "src"),
    str(ROOT / "services" / "media-consent" / "src"),
]

from sqlalchemy import create_engine, insert  # noqa: E402

from bench.gateway_throughput import (  # noqa: E402
    Generator,
    Run,
    cpu_seconds,
    ensure_wrk,
    paced,
    pct,
    start,
)
from media_consent.checks import pg  # noqa: E402
from media_consent.checks.service import load_facts  # noqa: E402
from media_consent.consent.models import ConsentCurrent  # noqa: E402
from media_consent.consent.rules import all_none  # noqa: E402
from servicekit.db import create_engine as create_async_engine  # noqa: E402
from servicekit.db import make_sessionmaker, sync_url  # noqa: E402
from servicekit.migrations import upgrade  # noqa: E402
from servicekit.models import ReplicaPerson, ReplicaSchool  # noqa: E402
from servicekit.testing import TokenFactory, drop_test_database, free_port  # noqa: E402

SERVICE_DIR = ROOT / "services" / "media-consent"
# The baseline read: the same rows and columns, the consent record's JSON as text, nothing decoded.
BARE_SQL = (
    "SELECT p.id, p.school_id, p.kind, p.is_on_roll, p.given_name, p.family_name,"
    " c.version, c.grants, c.withdrawn_purposes, c.valid_until, n.is_active FROM replica_person p"
    " LEFT OUTER JOIN consent_current c ON c.pupil_id = p.id"
    " LEFT OUTER JOIN never_publish n ON n.pupil_id = p.id WHERE p.id = ANY($1::uuid[])"
)


def make_database(args: argparse.Namespace, tmp: Path) -> str:
    if args.sqlite:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    else:
        os.environ.setdefault("TEST_DATABASE_URL", args.database_url)
        from servicekit.testing import fresh_database_url

        os.environ["TEST_DATABASE_URL"] = args.database_url
        url = fresh_database_url("media_consent_bench", tmp)
    upgrade(SERVICE_DIR, url)
    return url


def seed(url: str, school_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    grants = all_none() | {"website/photo": "individual", "mle/photo": "group"}
    ids = [uuid.uuid4() for _ in range(count)]
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(
            insert(ReplicaSchool).values(id=school_id, name="Bench Primary", urn="100000", la_code="202")
        )
        conn.execute(
            insert(ReplicaPerson),
            [
                {
                    "id": i,
                    "school_id": school_id,
                    "kind": "pupil",
                    "given_name": f"Kid{n}",
                    "family_name": "Bench",
                    "year_group": "3",
                    "is_on_roll": True,
                    "roles": [],
                }
                for n, i in enumerate(ids)
            ],
        )
        conn.execute(
            insert(ConsentCurrent),
            [
                {
                    "pupil_id": i,
                    "school_id": school_id,
                    "version": 1,
                    "grants": grants,
                    "withdrawn_purposes": [],
                    "valid_until": date(2099, 1, 1),
                    "updated_at": datetime.now(UTC),
                }
                for i in ids
            ],
        )
    engine.dispose()
    return ids


def check_body(pupil_ids: list[uuid.UUID]) -> bytes:
    """A group website photo of these pupils: the check both phases ask."""
    return json.dumps(
        {
            "purpose": "website",
            "media_type": "photo",
            "framing": "group",
            "pupil_ids": [str(i) for i in pupil_ids],
        }
    ).encode()


async def compare(
    gen: Generator,
    gateway: str,
    ids: list[uuid.UUID],
    headers: dict[str, str],
    pids: dict[str, int],
    args: argparse.Namespace,
) -> None:
    """Bare and check, 1 and 30 pupils, interleaved in every round (ABCD, then DCBA)."""
    phases = []
    for count in (1, 30):
        body = check_body(ids[:count])
        phases.append((count, "bare", f"{gateway}/v1/bare/checks", body))
        phases.append((count, "check", f"{gateway}/v1/media-consent/checks", body))
    for _, _, url, body in phases:  # warm up pools, caches, key loads
        await gen.run(url, headers, 1.0, args.connections, body)
    runs: dict[tuple[int, str], list[Run]] = {(c, k): [] for c, k, _, _ in phases}
    cpu = dict.fromkeys(runs, 0.0)
    for n in range(args.rounds):
        for count, kind, url, body in phases if n % 2 == 0 else list(reversed(phases)):
            cpu0 = cpu_seconds(pids[kind])
            runs[(count, kind)].append(await gen.run(url, headers, args.seconds, args.connections, body))
            cpu[(count, kind)] += cpu_seconds(pids[kind]) - cpu0
    for count in (1, 30):
        rates, p99s = {}, {}
        print(
            f"\n== {count}-pupil check through the gateway"
            f" ({args.connections} connections, {args.rounds}x{args.seconds}s interleaved)"
        )
        for kind, label in (("bare", "bare FastAPI "), ("check", "consent check")):
            done = runs[(count, kind)]
            total = sum(r.requests for r in done)
            rates[kind] = total / sum(r.seconds for r in done)
            p99s[kind] = statistics.median(r.p99_ms for r in done)
            print(
                f"{label} {rates[kind]:7.0f} req/s"
                f"  p50 {statistics.median(r.p50_ms for r in done):7.2f} ms  p99 {p99s[kind]:7.2f} ms"
                f"  backend CPU {cpu[(count, kind)] / total * 1e6:5.0f} us/req"
            )
        print(
            f"throughput ratio {rates['check'] / rates['bare']:.2f} (aim >= 0.35)   "
            f"p99 ratio {p99s['check'] / p99s['bare']:.2f} (aim <= 2)"
        )


async def at_a_fixed_rate(
    gateway: str, ids: list[uuid.UUID], headers: dict[str, str], args: argparse.Namespace
) -> None:
    """Tail latency at the same offered load for both (open loop, below either's capacity): what a
    caller waits for at a given rate, which the closed loop above cannot show (there, latency is
    connections divided by throughput)."""
    print(
        f"\n== latency at a fixed {args.rate:.0f} requests/s, open loop, up to {args.connections} connections"
    )
    for count in (1, 30):
        body = check_body(ids[:count])
        urls = {"bare": f"{gateway}/v1/bare/checks", "check": f"{gateway}/v1/media-consent/checks"}
        done: dict[str, list[float]] = {"bare": [], "check": []}
        for n in range(args.rounds):
            for kind in ("bare", "check") if n % 2 == 0 else ("check", "bare"):
                done[kind] += await paced(
                    urls[kind], headers, args.rate, args.seconds, args.connections, body
                )
        bare, check = done["bare"], done["check"]
        print(
            f"{count:2d} pupils: bare p50 {pct(bare, 0.5):6.2f} ms p99 {pct(bare, 0.99):6.2f} ms;"
            f" check p50 {pct(check, 0.5):6.2f} ms p99 {pct(check, 0.99):6.2f} ms;"
            f" p99 ratio {pct(check, 0.99) / pct(bare, 0.99):.2f}"
        )


async def read_path(url: str, ids: list[uuid.UUID], seconds: float, concurrency: int) -> None:
    """The check's read in-process, each way, against bare asyncpg reading the same rows; interleaved."""
    engine = create_async_engine(url, pool_size=10)
    sessionmaker = make_sessionmaker(engine)

    async def session_read() -> None:
        async with sessionmaker() as session:
            facts = await load_facts(session, ids)
            assert len(facts) == len(ids)

    async def run(fn: Any, length: float = seconds) -> tuple[float, float]:
        done = 0
        deadline = time.perf_counter() + length

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await fn()
                done += 1

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t0), (time.process_time() - c0) / max(done, 1) * 1e6

    ways: dict[str, Any] = {"session (SQLite path)": session_read}
    pools: list[Any] = []
    if not url.startswith("sqlite"):
        import asyncpg  # type: ignore[import-untyped]
        from sqlalchemy.engine import make_url

        check_pool = await pg.open_pool(url, 10)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        bare_pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        pools += [check_pool, bare_pool]

        async def check_read() -> None:
            async with check_pool.acquire() as conn:
                facts = await pg.load_facts(conn, ids, purpose="website", media_type="photo")
                assert len(facts) == len(ids)

        async def asyncpg_read() -> None:
            async with bare_pool.acquire() as conn:
                rows = await conn.fetch(BARE_SQL, ids)
                assert len(rows) == len(ids)

        ways = {"check (asyncpg pool)": check_read, **ways, "bare asyncpg": asyncpg_read}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for fn in ways.values():  # warm up: connections, prepared statements, compiled SQL
        await run(fn, 0.5)
    for n in range(2):
        for name, fn in ways.items() if n % 2 == 0 else reversed(list(ways.items())):
            results[name].append(await run(fn))
    print(f"\n== the check's read path alone, {len(ids)} pupils, {concurrency} concurrent, in-process")
    for name, values in results.items():
        rps = sum(v[0] for v in values) / len(values)
        cpu = sum(v[1] for v in values) / len(values)
        print(f"{name:24s} {rps:7.0f} reads/s  {cpu:6.0f} us CPU/read  (mean of {len(values)})")
    if pools:
        check = sum(v[0] for v in results["check (asyncpg pool)"])
        bare = sum(v[0] for v in results["bare asyncpg"])
        print(f"ratio check read/bare asyncpg: {check / bare:.2f}")
        for p in pools:
            await p.close()
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    parser.add_argument(
        "--rate", type=float, default=300, help="requests/s of the fixed-rate latency phase (0: skip it)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/esafety_bench"
        ),
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-"))
    url = make_database(args, tmp)
    school_id = uuid.uuid4()
    ids = seed(url, school_id, 30)
    tokens = TokenFactory()
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps({"keys": tokens.jwks()}))
    headers = tokens.headers(
        client_id="bench-mle",
        scopes=["consent:check"],
        school_id=school_id,
        lifetime=__import__("datetime").timedelta(hours=1),
    )
    bare_port, service_port, gateway_port = free_port(), free_port(), free_port()
    bare = f"http://127.0.0.1:{bare_port}"
    procs = [
        start("bench.gateway_backend:create_app", bare_port, {"BENCH_JWKS_FILE": str(jwks)}, tmp / "bare.log")
    ]
    try:
        procs.append(
            start(
                "media_consent.main:create_app",
                service_port,
                {
                    "MEDIA_CONSENT_DATABASE_URL": url,
                    "MEDIA_CONSENT_KEYS_DIR": str(tmp / "keys"),
                    "MEDIA_CONSENT_LOG_LEVEL": "WARNING",
                    "PLATFORM_JWKS_URL": f"{bare}/.well-known/jwks.json",
                    "PYTHONPATH": os.pathsep.join(sys.path[:4]),
                },
                tmp / "service.log",
            )
        )
        procs.append(
            start(
                "gateway.main:create_app",
                gateway_port,
                {
                    "GATEWAY_UPSTREAMS": json.dumps(
                        [
                            {"name": "bare", "url": bare, "prefixes": ["/v1/bare", "/.well-known"]},
                            {
                                "name": "media_consent",
                                "url": f"http://127.0.0.1:{service_port}",
                                "prefixes": ["/v1/media-consent"],
                            },
                        ]
                    ),
                    "PLATFORM_JWKS_URL": f"{bare}/.well-known/jwks.json",
                    "GATEWAY_LOG_LEVEL": "WARNING",
                    "GATEWAY_RATE_LIMIT_PER_CLIENT": "1000000000",
                    # The same (unreachable) quota on both routes: the gateway does the same work for each.
                    "GATEWAY_CLIENT_QUOTAS": json.dumps(
                        [
                            {"prefix": "/v1/media-consent/checks", "limit": 1_000_000_000},
                            {"prefix": "/v1/bare/checks", "limit": 1_000_000_000},
                        ]
                    ),
                },
                tmp / "gateway.log",
                "--no-proxy-headers",
            )
        )
        gateway = f"http://127.0.0.1:{gateway_port}"
        gen = Generator(ensure_wrk() if args.generator == "wrk" else None)
        # The in-process generators' own full collections would stall every request in flight.
        gc.collect()
        gc.freeze()
        print(f"database: {'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}; generator: {gen.name}")
        await compare(gen, gateway, ids, headers, {"bare": procs[0].pid, "check": procs[1].pid}, args)
        if args.rate:
            await at_a_fixed_rate(gateway, ids, headers, args)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)
    await read_path(url, ids, args.seconds, args.connections)
    drop_test_database(url)


if __name__ == "__main__":
    asyncio.run(main())
