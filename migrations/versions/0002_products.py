"""Products: the instrument catalogue's product table (multiplier, tick, margins, fees, limits).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _double(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Double(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("exchange", sa.String(8), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("name_en", sa.String(64), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        _double("price_tick"),
        sa.Column("min_volume", sa.Integer(), nullable=False),
        _double("long_margin_ratio"),
        _double("short_margin_ratio"),
        _double("limit_ratio"),
        _double("commission_open_by_volume"),
        _double("commission_open_by_money"),
        _double("commission_close_by_volume"),
        _double("commission_close_by_money"),
        _double("commission_close_today_by_volume"),
        _double("commission_close_today_by_money"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("last_trading_day", sa.String(32), nullable=True),
        sa.Column("earlier_ticks", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "code", name="pk_products"),
    )


def downgrade() -> None:
    op.drop_table("products")
