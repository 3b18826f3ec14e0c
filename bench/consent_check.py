"""The consent check under load, from one run:

1. checks of 1 and of 30 pupils per second through the gateway, p50/p99 at 32 connections, each
   against a bare FastAPI endpoint behind the same gateway (aims: the 30-pupil check >= 0.35x the
   bare endpoint's throughput, p99 <= 2x its p99);
2. the check's read path alone (media_consent.checks.service.load_facts, SQLAlchemy async Core),
   in-process, against a bare asyncpg read of the same rows (PostgreSQL only).

    .venv/bin/python bench/consent_check.py [--seconds 5] [--rounds 2] [--connections 32]

The database is PostgreSQL at BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/
esafety_bench; a throw-away database is made from it), or SQLite with --sqlite. The load generator is
an asyncio/aiohttp client in this process; ratios from the same run, phases interleaved, are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "libs" / "servicekit" / "src"),
    str(ROOT / "gateway" / "src"),
    str(ROOT / "services" / "media-consent" / "src"),
]

from sqlalchemy import create_engine, insert  # noqa: E402

from bench.gateway_throughput import pct, start  # noqa: E402
from media_consent.checks.service import load_facts  # noqa: E402
from media_consent.consent.models import ConsentCurrent  # noqa: E402
from media_consent.consent.rules import all_none  # noqa: E402
from servicekit.db import create_engine as create_async_engine  # noqa: E402
from servicekit.db import make_sessionmaker, sync_url  # noqa: E402
from servicekit.migrations import upgrade  # noqa: E402
from servicekit.models import ReplicaPerson, ReplicaSchool  # noqa: E402
from servicekit.testing import TokenFactory, drop_test_database, free_port  # noqa: E402

SERVICE_DIR = ROOT / "services" / "media-consent"


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


async def load(
    url: str, headers: dict[str, str], body: bytes, seconds: float, connections: int
) -> list[float]:
    """Closed-loop load of POSTs: each connection sends the next request when the last returns."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {**headers, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url}: {response.status} {await response.text()}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


async def compare(
    name: str, check_url: str, bare_url: str, headers: dict[str, str], body: bytes, args: argparse.Namespace
) -> None:
    await load(check_url, headers, body, 1.0, args.connections)  # warm up pools, caches, key loads
    await load(bare_url, headers, body, 1.0, args.connections)
    bare: list[float] = []
    check: list[float] = []
    bare_time = check_time = 0.0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        bare += await load(bare_url, headers, body, args.seconds, args.connections)
        bare_time += time.perf_counter() - t0
        t0 = time.perf_counter()
        check += await load(check_url, headers, body, args.seconds, args.connections)
        check_time += time.perf_counter() - t0
    b_rps, c_rps = len(bare) / bare_time, len(check) / check_time
    print(f"\n== {name} through the gateway ({args.connections} connections, {args.rounds}x{args.seconds}s)")
    print(f"bare FastAPI  {b_rps:7.0f} req/s  p50 {pct(bare, 0.5):7.2f} ms  p99 {pct(bare, 0.99):7.2f} ms")
    print(f"consent check {c_rps:7.0f} req/s  p50 {pct(check, 0.5):7.2f} ms  p99 {pct(check, 0.99):7.2f} ms")
    print(
        f"throughput ratio {c_rps / b_rps:.2f} (aim >= 0.35)   "
        f"p99 ratio {pct(check, 0.99) / pct(bare, 0.99):.2f}"
        " (aim <= 2)"
    )


async def read_path(url: str, ids: list[uuid.UUID], seconds: float, concurrency: int) -> None:
    """load_facts (what the check reads) against asyncpg reading the same rows, in-process."""
    engine = create_async_engine(url, pool_size=10)
    sessionmaker = make_sessionmaker(engine)

    async def sqlalchemy_read() -> None:
        async with sessionmaker() as session:
            facts = await load_facts(session, ids)
            assert len(facts) == len(ids)

    async def run(fn: Any) -> float:
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await fn()
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t0)

    results: dict[str, list[float]] = {"load_facts": []}
    pool = None
    if not url.startswith("sqlite"):
        import asyncpg  # type: ignore[import-untyped]
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        pool = await asyncpg.create_pool(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
            min_size=10,
            max_size=10,
        )
        sql = (
            "SELECT p.id, p.school_id, p.kind, p.is_on_roll, p.given_name, p.family_name,"
            " c.version, c.grants,"
            " c.withdrawn_purposes, c.valid_until, n.is_active FROM replica_person p"
            " LEFT OUTER JOIN consent_current c ON c.pupil_id = p.id"
            " LEFT OUTER JOIN never_publish n ON n.pupil_id = p.id WHERE p.id = ANY($1::uuid[])"
        )

        async def asyncpg_read() -> None:
            async with pool.acquire() as conn:
                rows = await conn.fetch(sql, ids)
                assert len(rows) == len(ids)

        results["asyncpg"] = []
    for _ in range(2):
        results["load_facts"].append(await run(sqlalchemy_read))
        if pool is not None:
            results["asyncpg"].append(await run(asyncpg_read))
    print(f"\n== the check's read path alone, {len(ids)} pupils, {concurrency} concurrent, in-process")
    for name, values in results.items():
        print(f"{name:10s} {max(values):7.0f} reads/s  (best of {len(values)})")
    if pool is not None:
        print(f"ratio load_facts/asyncpg: {max(results['load_facts']) / max(results['asyncpg']):.2f}")
        await pool.close()
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sqlite", action="store_true")
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
        start("bench.consent_bare:create_app", bare_port, {"BENCH_JWKS_FILE": str(jwks)}, tmp / "bare.log")
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
                },
                tmp / "gateway.log",
                "--no-proxy-headers",
            )
        )
        gateway = f"http://127.0.0.1:{gateway_port}"
        print(f"database: {'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}")
        for count in (1, 30):
            body = json.dumps(
                {
                    "purpose": "website",
                    "media_type": "photo",
                    "framing": "group",
                    "pupil_ids": [str(i) for i in ids[:count]],
                }
            ).encode()
            await compare(
                f"{count}-pupil check",
                f"{gateway}/v1/media-consent/checks",
                f"{gateway}/v1/bare/checks",
                headers,
                body,
                args,
            )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)
    await read_path(url, ids, args.seconds, args.connections)
    drop_test_database(url)


if __name__ == "__main__":
    asyncio.run(main())
