"""Orders keep the ids of the fills they counted and, for stops and conditional orders, what
they watch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        # Existing orders counted no fill by id yet: an empty list, not NULL.
        batch.add_column(
            sa.Column("trade_ids", _JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("trigger_source", sa.String(8), nullable=True))
        batch.add_column(sa.Column("trigger_condition", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("trigger_condition")
        batch.drop_column("trigger_source")
        batch.drop_column("trade_ids")
