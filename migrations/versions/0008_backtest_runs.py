"""Backtest runs record optimisations too, with their progress, request and result.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("backtest_runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="backtest")
        )
        batch.add_column(
            sa.Column("progress", sa.Double(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("request", _JSON, nullable=True))
        batch.add_column(sa.Column("result", _JSON, nullable=True))
        batch.create_check_constraint(
            "ck_backtest_runs_kind", "kind IN ('backtest', 'optimization')"
        )
    op.create_index(
        "ix_backtest_runs_user_id_created_at", "backtest_runs", ["user_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_backtest_runs_user_id_created_at", table_name="backtest_runs")
    with op.batch_alter_table("backtest_runs") as batch:
        batch.drop_constraint("ck_backtest_runs_kind", type_="check")
        batch.drop_column("result")
        batch.drop_column("request")
        batch.drop_column("progress")
        batch.drop_column("kind")
