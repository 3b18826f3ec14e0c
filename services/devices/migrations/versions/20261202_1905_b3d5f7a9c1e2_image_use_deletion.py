"""image use deletion: the confirmation that a use's images were deleted from the device

Revision ID: b3d5f7a9c1e2
Revises: a31a8ff8d385
Create Date: 2026-12-02 19:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "b3d5f7a9c1e2"
down_revision: str | None = "a31a8ff8d385"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_use_deletion",
        sa.Column("image_use_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("confirmed_by", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_use_id"], ["image_use.id"], name=op.f("fk_image_use_deletion_image_use_id_image_use")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_use_deletion")),
        sa.UniqueConstraint("image_use_id", name=op.f("uq_image_use_deletion_image_use_id")),
    )
    op.create_index(
        op.f("ix_image_use_deletion_school_id"), "image_use_deletion", ["school_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_image_use_deletion_school_id"), table_name="image_use_deletion")
    op.drop_table("image_use_deletion")
