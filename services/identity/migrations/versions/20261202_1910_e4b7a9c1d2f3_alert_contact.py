"""alert contact: where a member of staff's alerts go (address, quiet hours, digest)

Revision ID: e4b7a9c1d2f3
Revises: d9a3c2e4f5b6
Create Date: 2026-12-02 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "e4b7a9c1d2f3"
down_revision: str | None = "d9a3c2e4f5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_contact",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("updated_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_alert_contact_person_id_person")),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_alert_contact")),
    )


def downgrade() -> None:
    op.drop_table("alert_contact")
