"""image use: each use of a permitted staff device to take images

Revision ID: a31a8ff8d385
Revises: 86a0576f0d5d
Create Date: 2026-11-29 12:35:12.126328
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "a31a8ff8d385"
down_revision: str | None = "86a0576f0d5d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_use",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("permission_id", sa.Uuid(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("pupils_count", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["staff_device.id"], name=op.f("fk_image_use_device_id_staff_device")
        ),
        sa.ForeignKeyConstraint(
            ["permission_id"],
            ["image_permission.id"],
            name=op.f("fk_image_use_permission_id_image_permission"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_use")),
    )
    with op.batch_alter_table("image_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_use_device_id"), ["device_id"], unique=False)
        batch_op.create_index("ix_image_use_school_taken_on", ["school_id", "taken_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("image_use", schema=None) as batch_op:
        batch_op.drop_index("ix_image_use_school_taken_on")
        batch_op.drop_index(batch_op.f("ix_image_use_device_id"))

    op.drop_table("image_use")
