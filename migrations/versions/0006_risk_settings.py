"""Risk limits and trading states survive a restart: an admin's limits per account and per
strategy, and each account's trading state (the kill switch) with the reason it was set.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "risk_limits",
        sa.Column("account_id", sa.String(64), nullable=False),
        # "" is the account's own limits: a primary key column cannot be NULL.
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("limits", _JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name="fk_risk_limits_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_risk_limits_updated_by_users"
        ),
        sa.PrimaryKeyConstraint("account_id", "strategy_id", name="pk_risk_limits"),
    )
    # Accounts stored before this revision were never halted by anyone: they stay active.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("trading_state", sa.String(16), nullable=False, server_default="active")
        )
        batch.add_column(
            sa.Column("trading_state_reason", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("trading_state_reason")
        batch.drop_column("trading_state")
    op.drop_table("risk_limits")
