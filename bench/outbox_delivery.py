"""The outbox (servicekit.outbox) at a steady 100 changes a second: delivery rate and latency from
"change committed" to "receiver got it", against a baseline measured in the same run: the same
commit followed by a direct POST from the writer (what a service would do without an outbox, losing
the call if it died between the two).

    .venv/bin/python bench/outbox_delivery.py [--rate 100] [--seconds 10]

A real HTTP receiver (aiohttp) on 127.0.0.1; the database is a SQLite file (PostgreSQL when
TEST_DATABASE_URL is set: a throw-away database made from it). Each change is a row of its own
plus its outbox message, in one transaction, as a consent withdrawal writes them. Three phases:
- direct: commit, then POST from the writer itself (the baseline);
- outbox, woken: a worker in the writer's process, woken by the commit (as in a service process);
- outbox, polled: a worker woken by nothing, finding messages at its poll (0.2 s here; a sibling
  replica's worker, or a message another process wrote);
then the drain: 2,000 messages written first, delivered as fast as one worker can, against direct
POSTs one after another. Prints rates, p50/p99/max latency and the outbox/direct ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiohttp import web
from sqlalchemy import String, create_engine, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit import outbox  # noqa: E402
from servicekit.db import KitBase, make_metadata, make_sessionmaker, sync_url  # noqa: E402
from servicekit.db import create_engine as create_async_engine  # noqa: E402
from servicekit.models import OutboxMessage  # noqa: E402
from servicekit.outbox import Message, OutboxWorker  # noqa: E402
from servicekit.testing import drop_test_database, fresh_database_url  # noqa: E402


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = make_metadata()


class Change(Base):
    __tablename__ = "bench_change"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))


class Receiver:
    def __init__(self) -> None:
        self.got: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            key = request.headers["webhook-id"]
            await request.read()
            self.got.setdefault(key, time.perf_counter())
            self.arrived.set()
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def summary(name: str, latencies: list[float], seconds: float, sent: int) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    result = {"rate": len(ms) / seconds, "p50": statistics.median(ms), "p99": p99, "max": ms[-1]}
    print(
        f"{name:<18} delivered {len(ms):>5}/{sent:<5} {result['rate']:7.1f}/s   "
        f"p50 {result['p50']:7.2f} ms   p99 {result['p99']:7.2f} ms   max {result['max']:7.2f} ms"
    )
    return result


async def run(url: str, rate: float, seconds: float) -> None:
    engine = create_async_engine(url, pool_size=4)
    receiver = Receiver()
    await receiver.start()
    http = httpx.AsyncClient(timeout=5, trust_env=False)

    async def post(message: Message) -> None:
        response = await http.post(receiver.url, content=b"{}", headers={"webhook-id": str(message.id)})
        response.raise_for_status()

    async def steady(
        sessions: async_sessionmaker[AsyncSession], *, direct: bool
    ) -> tuple[list[float], float, int]:
        committed: dict[str, float] = {}
        count = int(rate * seconds)
        start = time.perf_counter()
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with sessions() as session:
                change = Change(id=uuid.uuid4(), kind="withdrawn")
                session.add(change)
                message = await outbox.enqueue(session, "bench", {"change": str(change.id)}, now=utcnow())
                await session.commit()
            committed[str(message.id)] = time.perf_counter()
            if direct:
                await post(Message(message.id, "bench", {}, 1, message.created_at))
        deadline = time.perf_counter() + 10
        while len([k for k in committed if k in receiver.got]) < count and time.perf_counter() < deadline:
            receiver.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.arrived.wait(), 0.5)
        elapsed = time.perf_counter() - start
        return [receiver.got[k] - committed[k] for k in committed if k in receiver.got], elapsed, count

    results: dict[str, dict[str, float]] = {}
    print(f"{rate:.0f} changes/s for {seconds:.0f} s on {make_backend(url)}")

    plain = make_sessionmaker(engine)
    latencies, elapsed, sent = await steady(plain, direct=True)
    results["direct"] = summary("direct (baseline)", latencies, elapsed, sent)
    # The direct phase's messages are delivered already: mark them so no worker sends them again.
    async with plain() as session:
        await session.execute(update(OutboxMessage).values(status="delivered"))
        await session.commit()

    for name, woken, poll in (("outbox, woken", True, 1.0), ("outbox, polled", False, 0.2)):
        worker = OutboxWorker(make_sessionmaker(engine), {"bench": post}, poll_interval=poll)
        sessions = make_sessionmaker(engine)
        if woken:
            sessions.configure(info={outbox.WAKE_KEY: worker.wake})
        task = asyncio.create_task(worker.run_forever())
        latencies, elapsed, sent = await steady(sessions, direct=False)
        task.cancel()
        results[name] = summary(name, latencies, elapsed, sent)

    # Drain: what one worker delivers per second when there is a backlog, against direct POSTs.
    backlog = 2000
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        for _ in range(backlog):
            await outbox.enqueue(session, "bench", {}, now=utcnow())
        await session.commit()
    worker = OutboxWorker(sessions, {"bench": post}, batch_size=50)
    started = time.perf_counter()
    delivered = await worker.run_until_idle()
    drain = delivered / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(backlog):
        await post(Message(uuid.uuid4(), "bench", {}, 1, utcnow()))
    direct_rate = backlog / (time.perf_counter() - started)
    print(f"drain              outbox {drain:7.1f}/s   direct POSTs one by one {direct_rate:7.1f}/s")

    base = results["direct"]
    print("\nratios against the direct baseline (same run):")
    for name in ("outbox, woken", "outbox, polled"):
        r = results[name]
        print(
            f"  {name:<15} rate {r['rate'] / base['rate']:.2f}x   "
            f"p50 {r['p50'] / base['p50']:.1f}x (+{r['p50'] - base['p50']:.2f} ms)   "
            f"p99 {r['p99'] / base['p99']:.1f}x (+{r['p99'] - base['p99']:.2f} ms)"
        )
    print(f"  drain           {drain / direct_rate:.2f}x of direct POSTs one by one")
    await http.aclose()
    await receiver.stop()
    await engine.dispose()


def make_backend(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database_url("outbox_bench", Path(tmp))
        engine = create_engine(sync_url(url))
        Base.metadata.create_all(engine)
        KitBase.metadata.create_all(engine)
        engine.dispose()
        try:
            asyncio.run(run(url, args.rate, args.seconds))
        finally:
            drop_test_database(url)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
