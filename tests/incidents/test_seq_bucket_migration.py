"""Upgrading a deployment that already has incidents: the migration that adds the export's
per-school block counts (IncidentSeqBucket) fills them from the incidents there, so the first
X-Remaining after the upgrade is already exact."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, select

from incidents.incident.models import SEQ_BUCKET, Incident, IncidentSeqBucket
from servicekit.db import sync_url
from servicekit.migrations import upgrade
from servicekit.testing import drop_test_database, fresh_database_url
from tests.conftest import SERVICE_DIRS

BEFORE_BUCKETS = "624ea81e8a98"


def test_the_upgrade_counts_every_incident_in_its_block(tmp_path: Path) -> None:
    url = fresh_database_url("incidents", tmp_path)
    try:
        upgrade(SERVICE_DIRS["incidents"], url, BEFORE_BUCKETS)
        schools = [uuid.uuid4(), uuid.uuid4()]
        now = datetime(2026, 9, 1, tzinfo=UTC)
        seqs = [1, 2, SEQ_BUCKET - 1, SEQ_BUCKET, SEQ_BUCKET + 5, 3 * SEQ_BUCKET + 1]
        rows = [
            {
                "id": uuid.uuid4(),
                "school_id": schools[n % 2],
                "reference": f"ESI-2026-{n:04d}",
                "category": "misuse_of_ict",
                "severity": "low",
                "status": "open",
                "location": "on_site",
                "summary": "Shared a password",
                "occurred_at": now,
                "recorded_at": now,
                "reported_by": "teacher",
                "version": 1,
                "updated_at": now,
                "change_seq": seq,
                "retention_class": "standard",
                "review_on": date(2032, 9, 1),
                "has_legal_hold": False,
            }
            for n, seq in enumerate(seqs)
        ]
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(insert(Incident), rows)
        upgrade(SERVICE_DIRS["incidents"], url)
        with engine.connect() as conn:
            kept = {(s, b): n for s, b, n in conn.execute(select(IncidentSeqBucket.__table__))}
        engine.dispose()
        expected = Counter((schools[n % 2], seq // SEQ_BUCKET) for n, seq in enumerate(seqs))
        assert kept == expected
    finally:
        drop_test_database(url)
