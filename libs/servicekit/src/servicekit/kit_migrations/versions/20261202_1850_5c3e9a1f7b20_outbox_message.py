"""outbox_message: the outbox (servicekit.outbox), in every service's database

Revision ID: 5c3e9a1f7b20
Revises: a2b0a23636de
Create Date: 2026-12-02 18:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "5c3e9a1f7b20"
down_revision: str | None = "a2b0a23636de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("finished_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_due", ["status", "available_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due")
    op.drop_table("outbox_message")
