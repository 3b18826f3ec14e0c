"""staff alerts: staff_alert (in-app alerts and their e-mail) and scheduled_run (once per period)

Revision ID: 5a1e7c3b9d20
Revises: 5c3e9a1f7b20
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "5a1e7c3b9d20"
down_revision: str | None = "5c3e9a1f7b20"  # the outbox
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_alert",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=True),
        sa.Column("target_id", sa.String(length=100), nullable=True),
        sa.Column("period_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("is_digest", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_alert")),
        sa.UniqueConstraint(
            "person_id", "kind", "period_key", name=op.f("uq_staff_alert_person_id_kind_period_key")
        ),
    )
    op.create_index(op.f("ix_staff_alert_person_id"), "staff_alert", ["person_id"], unique=False)
    op.create_index("ix_staff_alert_status_due", "staff_alert", ["status", "due_at"], unique=False)
    op.create_table(
        "scheduled_run",
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("period_key", sa.String(length=100), nullable=False),
        sa.Column("ran_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "school_id", "period_key", name=op.f("pk_scheduled_run")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_run")
    op.drop_index("ix_staff_alert_status_due", table_name="staff_alert")
    op.drop_index(op.f("ix_staff_alert_person_id"), table_name="staff_alert")
    op.drop_table("staff_alert")
