"""one head: browser sign-in, invitations and reset codes, alert contacts

Revision ID: 2cbc7d7c3d88
Revises: 93126085d449, 2e5460bc95b6, e4b7a9c1d2f3, e4b7c1d2a3f6
Create Date: 2026-12-02 19:55:59.197695
"""

from collections.abc import Sequence

revision: str = "2cbc7d7c3d88"
down_revision: str | None = ("93126085d449", "2e5460bc95b6", "e4b7a9c1d2f3", "e4b7c1d2a3f6")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
