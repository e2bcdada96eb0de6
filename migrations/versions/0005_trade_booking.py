"""Trades remember whether the `orders` function has booked them into positions and money.

A trade is stored when the venue reports the fill and booked later, in one transaction that
also sets ``booked_at``: a worker killed halfway books nothing, and the next run books each
trade exactly once. A trade the books refuse (a close larger than the position) is set aside
with ``booking_error`` instead of blocking the account's later trades.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("booking_error", sa.Text(), nullable=True))
    # Trades stored before this revision were never booked by anyone: they stay unbooked.
    op.create_index("ix_trades_account_id_booked_at", "trades", ["account_id", "booked_at"])


def downgrade() -> None:
    op.drop_index("ix_trades_account_id_booked_at", "trades")
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("booking_error")
        batch.drop_column("booked_at")
