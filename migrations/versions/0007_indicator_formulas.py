"""Users save indicator formulas by name, to use them wherever a catalogue indicator goes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_formulas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_indicator_formulas_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_formulas"),
        sa.UniqueConstraint("user_id", "name", name="uq_indicator_formulas_user_id_name"),
    )
    op.create_index(
        "ix_indicator_formulas_user_id", "indicator_formulas", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_indicator_formulas_user_id", table_name="indicator_formulas")
    op.drop_table("indicator_formulas")
