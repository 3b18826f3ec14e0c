"""incident seq buckets: per school, how many incidents have their latest change in each block of
8,192 feed numbers (the LA export's X-Remaining reads these instead of counting every change left)

Revision ID: b7e4c1d2a9f3
Revises: 624ea81e8a98
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e4c1d2a9f3"
down_revision: str | None = "624ea81e8a98"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# incidents.incident.models.SEQ_BUCKET as of this revision.
SEQ_BUCKET = 8192


def upgrade() -> None:
    op.create_table(
        "incident_seq_bucket",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "bucket", name=op.f("pk_incident_seq_bucket")),
    )
    # The incidents there are now, each in the block of its latest change.
    op.execute(
        sa.text(
            "INSERT INTO incident_seq_bucket (school_id, bucket, incidents) "
            "SELECT school_id, change_seq / :block, count(*) FROM incident "
            "WHERE change_seq > 0 GROUP BY 1, 2"
        ).bindparams(block=SEQ_BUCKET)
    )


def downgrade() -> None:
    op.drop_table("incident_seq_bucket")
