"""Parents' invitations, password-reset codes (both stored as SHA-256), and account.email.

Revision ID: 2e5460bc95b6
Revises: d9a3c2e4f5b6
Create Date: 2026-12-02 18:45:27.253773
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "2e5460bc95b6"
down_revision: str | None = "d9a3c2e4f5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation",
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("carer_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("expires_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_invitation_account_id_account")
        ),
        sa.ForeignKeyConstraint(["carer_id"], ["person.id"], name=op.f("fk_invitation_carer_id_person")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_invitation_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_invitation_code_digest")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_carer_id"), ["carer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_school_id"), ["school_id"], unique=False)

    op.create_table(
        "password_reset_code",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=True),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_password_reset_code_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_password_reset_code_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_code")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_password_reset_code_code_digest")),
    )
    with op.batch_alter_table("password_reset_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_reset_code_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_password_reset_code_school_id"), ["school_id"], unique=False)

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("email_key", sa.String(length=254), nullable=True))
        batch_op.create_index(batch_op.f("ix_account_email_key"), ["email_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_email_key"))
        batch_op.drop_column("email_key")
        batch_op.drop_column("email")

    with op.batch_alter_table("password_reset_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_code_school_id"))
        batch_op.drop_index(batch_op.f("ix_password_reset_code_account_id"))

    op.drop_table("password_reset_code")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_school_id"))
        batch_op.drop_index(batch_op.f("ix_invitation_created_at"))
        batch_op.drop_index(batch_op.f("ix_invitation_carer_id"))

    op.drop_table("invitation")
