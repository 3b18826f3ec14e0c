"""OpenID Connect: clients' grant types and redirect URIs, browser sessions, sign-ins, codes.

Existing clients keep the password grant (flagged deprecated in the admin API); new ones never get it.

Revision ID: e4b7c1d2a3f6
Revises: d9a3c2e4f5b6
Create Date: 2026-12-02 19:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.db

revision: str = "e4b7c1d2a3f6"
down_revision: str | None = "d9a3c2e4f5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXISTING_GRANTS = '["client_credentials", "password", "refresh_token"]'


def upgrade() -> None:
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(
            sa.Column(
                "grant_types", sa.JSON(), nullable=False, server_default=sa.text(f"'{EXISTING_GRANTS}'")
            )
        )
        batch.add_column(
            sa.Column("redirect_uris", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(
            sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("is_confidential", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("backchannel_logout_uri", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("refresh_token") as batch:
        batch.add_column(sa.Column("oauth_client_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("browser_session_id", sa.Uuid(), nullable=True))
        batch.create_index("ix_refresh_token_browser_session", ["browser_session_id"])
    op.create_table(
        "browser_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cookie_digest", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("auth_time", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_browser_session_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_session")),
        sa.UniqueConstraint("cookie_digest", name=op.f("uq_browser_session_cookie_digest")),
    )
    op.create_index(op.f("ix_browser_session_account_id"), "browser_session", ["account_id"])
    op.create_table(
        "pending_signin",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("handle_digest", sa.String(length=64), nullable=False),
        sa.Column("binding_digest", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=100), nullable=False),
        sa.Column("oauth_client_id", sa.Uuid(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_pending_signin_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["oauth_client_id"],
            ["oauth_client.id"],
            name=op.f("fk_pending_signin_oauth_client_id_oauth_client"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_signin")),
        sa.UniqueConstraint("handle_digest", name=op.f("uq_pending_signin_handle_digest")),
    )
    op.create_index(op.f("ix_pending_signin_created_at"), "pending_signin", ["created_at"])
    op.create_table(
        "authorization_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("oauth_client_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("browser_session_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.String(length=2000), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", servicekit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", servicekit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refresh_chain_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_authorization_code_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["browser_session_id"],
            ["browser_session.id"],
            name=op.f("fk_authorization_code_browser_session_id_browser_session"),
        ),
        sa.ForeignKeyConstraint(
            ["oauth_client_id"],
            ["oauth_client.id"],
            name=op.f("fk_authorization_code_oauth_client_id_oauth_client"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_code")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_authorization_code_code_digest")),
    )
    op.create_index(
        op.f("ix_authorization_code_browser_session_id"), "authorization_code", ["browser_session_id"]
    )
    op.create_index(
        "uq_authorization_code_client_nonce", "authorization_code", ["oauth_client_id", "nonce"], unique=True
    )


def downgrade() -> None:
    op.drop_table("authorization_code")
    op.drop_table("pending_signin")
    op.drop_table("browser_session")
    with op.batch_alter_table("refresh_token") as batch:
        batch.drop_index("ix_refresh_token_browser_session")
        batch.drop_column("browser_session_id")
        batch.drop_column("oauth_client_id")
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_column("backchannel_logout_uri")
        batch.drop_column("is_confidential")
        batch.drop_column("post_logout_redirect_uris")
        batch.drop_column("redirect_uris")
        batch.drop_column("grant_types")
