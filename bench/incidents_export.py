"""The LA export through the gateway, from one run: CSV rows per second against a raw SQL read of
the same rows, and the incidents service's peak memory while it streams 10k and 100k incidents.

    .venv/bin/python bench/incidents_export.py [--rows 100000]

Identity, incidents and the gateway run as real processes on loopback (SQLite by default,
PostgreSQL when TEST_DATABASE_URL is set). The incidents are written straight into the service's
database (creating 100k through the API would only measure creation), each with two pupils and,
for one in three, an action. Aims: export >= 0.25x the raw read's rows/s; peak RSS of the service
at 100k <= 1.2x at 10k (the body streams, a chunk of rows at a time). Peak RSS is sampled from
/proc/<pid>/status every 2 ms while each export runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLATFORM_SERVICES", "incidents")

from incidents.models import Incident, IncidentAction, IncidentPerson  # noqa: E402
from servicekit.db import sync_url  # noqa: E402
from servicekit.models import FeedCounter, ReplicaSchool  # noqa: E402
from tests.platform import start_platform  # noqa: E402

LA_CODE = "950"


def seed(url: str, rows: int) -> None:
    engine = create_engine(sync_url(url))
    school_id = uuid.uuid4()
    start = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
    categories = ["cyberbullying", "misuse_of_ict", "inappropriate_content", "grooming", "filtering_failure"]
    with engine.begin() as conn:
        conn.execute(
            insert(ReplicaSchool),
            [{"id": school_id, "name": "Bench Primary", "urn": "999999", "la_code": LA_CODE}],
        )
        for base in range(0, rows, 5000):
            incidents, people, actions = [], [], []
            for n in range(base, min(base + 5000, rows)):
                iid = uuid.uuid4()
                at = start + timedelta(minutes=n)
                incidents.append(
                    {
                        "id": iid,
                        "school_id": school_id,
                        "reference": f"ESI-2025-{n + 1:06d}",
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
                        "change_seq": n + 1,
                        "retention_class": "safeguarding",
                        "review_on": date(2040, 1, 1),
                        "has_legal_hold": False,
                    }
                )
                for role, year in (("affected", "4"), ("subject", "5")):
                    people.append(
                        {
                            "id": uuid.uuid4(),
                            "incident_id": iid,
                            "person_id": uuid.uuid4(),
                            "role": role,
                            "kind": "pupil",
                            "year_group": year,
                            "added_at": at,
                        }
                    )
                if n % 3 == 0:
                    actions.append(
                        {
                            "id": uuid.uuid4(),
                            "incident_id": iid,
                            "seq": n + 1,
                            "kind": "parents_informed",
                            "occurred_at": at,
                            "recorded_at": at,
                            "recorded_by": "user:bench",
                        }
                    )
            conn.execute(insert(Incident), incidents)
            conn.execute(insert(IncidentPerson), people)
            conn.execute(insert(IncidentAction), actions)
        conn.execute(insert(FeedCounter), [{"name": "incidents", "value": rows}])
    engine.dispose()


def raw_read(url: str, rows: int) -> float:
    """Rows per second of a plain SQL read of what the export sends (incidents, people, actions)."""
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        started = time.perf_counter()
        cursor = raw.cursor()
        cursor.execute(
            "SELECT id, reference, school_id, category, severity, status, location, occurred_at, "
            f"recorded_at, updated_at, change_seq FROM incident ORDER BY change_seq LIMIT {int(rows)}"
        )
        count = len(cursor.fetchall())
        cursor.execute("SELECT incident_id, person_id, role, year_group FROM incident_person")
        cursor.fetchall()
        cursor.execute("SELECT incident_id, kind, occurred_at FROM incident_action")
        cursor.fetchall()
        elapsed = time.perf_counter() - started
    engine.dispose()
    assert count == rows
    return rows / elapsed


class PeakRSS:
    """Samples a process's resident memory in a thread; `peak` is the highest seen (KiB)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def export(gateway: str, headers: dict[str, str], limit: int, pid: int) -> tuple[float, int, int]:
    """(rows/s, rows, peak RSS KiB) of one CSV export page of `limit` incidents through the gateway."""
    with PeakRSS(pid) as rss, httpx.Client(base_url=gateway, timeout=600) as client:
        started = time.perf_counter()
        lines = 0
        with client.stream(
            "GET", "/v1/incidents/export", params={"format": "csv", "limit": limit}, headers=headers
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
    rows = lines - 1
    return rows / elapsed, rows, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runner, tokens = start_platform(Path(tmp))
        try:
            url = runner.database_urls["incidents"]
            print(f"seeding {args.rows} incidents into {url.split('://')[0]} ...", flush=True)
            started = time.perf_counter()
            seed(url, args.rows)
            print(f"  seeded in {time.perf_counter() - started:.1f}s", flush=True)
            la = tokens.headers(
                scopes=["incidents:export"],
                la_code=LA_CODE,
                client_id="bench-la",
                lifetime=timedelta(minutes=10),
            )
            pid = runner.processes["incidents"].process.pid  # type: ignore[union-attr]
            gateway = runner.url("gateway")
            export(gateway, la, 1000, pid)  # warm up
            small_rate, small_rows, small_peak = export(gateway, la, 10_000, pid)
            big_rate, big_rows, big_peak = export(gateway, la, args.rows, pid)
            raw_rate = max(raw_read(url, args.rows) for _ in range(3))
        finally:
            runner.stop()
    print(f"export CSV via gateway: {big_rows} rows at {big_rate:,.0f} rows/s")
    print(f"  ({small_rows} rows: {small_rate:,.0f} rows/s)")
    print(f"raw SQL read of the same rows: {raw_rate:,.0f} rows/s")
    print(f"  ratio export/raw: {big_rate / raw_rate:.2f}x (aim >= 0.25x)")
    print(
        f"incidents service peak RSS: {small_rows} rows {small_peak / 1024:.1f} MiB, "
        f"{big_rows} rows {big_peak / 1024:.1f} MiB"
    )
    print(f"  ratio 100k/10k: {big_peak / small_peak:.2f}x (aim <= 1.2x)")


if __name__ == "__main__":
    main()
