"""One staff account per person: account.staff_person_id, unique.

A member of staff's account repeats its person_id there (null for everyone else), so the database
refuses a second staff account for the same person. Existing data: each staff person's oldest
account takes the column; any later one stays null (the service refuses new ones either way).

Revision ID: 93126085d449
Revises: c8f2b1d3e4a5
Create Date: 2026-12-02 15:36:28.420385
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "93126085d449"
down_revision: str | None = "c8f2b1d3e4a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_person_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE account SET staff_person_id = person_id"
        " WHERE person_id IN (SELECT id FROM person WHERE kind = 'staff')"
        " AND NOT EXISTS (SELECT 1 FROM account AS older WHERE older.person_id = account.person_id"
        " AND (older.created_at < account.created_at"
        " OR (older.created_at = account.created_at AND older.id < account.id)))"
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_account_staff_person_id"), ["staff_person_id"])


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_account_staff_person_id"), type_="unique")
        batch_op.drop_column("staff_person_id")
