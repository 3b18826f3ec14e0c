"""The sign-in throttle's counters, shared by every identity replica when there is no Redis.

Revision ID: d9a3c2e4f5b6
Revises: c8f2b1d3e4a5
Create Date: 2026-12-02 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "d9a3c2e4f5b6"
down_revision: str | None = "c8f2b1d3e4a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signin_throttle",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("window_started_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("blocked_until", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_signin_throttle")),
    )
    op.create_index(
        op.f("ix_signin_throttle_last_attempt_at"), "signin_throttle", ["last_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_signin_throttle_last_attempt_at"), table_name="signin_throttle")
    op.drop_table("signin_throttle")
