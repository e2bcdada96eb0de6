"""Initial schema: users, instruments, trading records, market data, backtests, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Constraint and index names follow ``shared.store.tables.NAMING_CONVENTION``. On PostgreSQL with
the TimescaleDB extension available, ``ticks`` and ``bars`` become hypertables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a revision must not change when the application's types do.
_TIMESTAMP = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, _TIMESTAMP, nullable=nullable)


def _double(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def _string(name: str, length: int, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        _string("username", 64),
        _string("password_hash", 255),
        _string("role", 16),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _string("trading_password_hash", 255, nullable=True),
        _string("totp_secret", 64, nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('viewer', 'trader', 'admin')", name="ck_users_role"),
        sa.CheckConstraint("length(username) BETWEEN 3 AND 64", name="ck_users_username_length"),
    )

    op.create_table(
        "instruments",
        _string("exchange", 8),
        _string("symbol", 32),
        _string("product", 16),
        _string("name", 64),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        _double("price_tick"),
        sa.Column("min_volume", sa.Integer(), nullable=False),
        _double("long_margin_ratio"),
        _double("short_margin_ratio"),
        _double("commission_open_by_volume"),
        _double("commission_open_by_money"),
        _double("commission_close_by_volume"),
        _double("commission_close_by_money"),
        _double("commission_close_today_by_volume"),
        _double("commission_close_today_by_money"),
        sa.Column("expires_on", sa.Date(), nullable=True),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("exchange", "symbol", name="pk_instruments"),
    )

    op.create_table(
        "accounts",
        _string("account_id", 64),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        _double("balance"),
        _double("available"),
        _double("margin"),
        _double("frozen_margin"),
        _double("commission"),
        _double("realized_pnl"),
        _double("unrealized_pnl"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_accounts_user_id_users"),
    )
    op.create_index("ix_accounts_user_id", "accounts", ["user_id"])

    op.create_table(
        "orders",
        _string("id", 64),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _string("account_id", 64),
        _string("client_order_id", 64),
        _string("symbol", 32),
        _string("exchange", 8),
        _string("side", 8),
        _string("offset", 16),
        _string("type", 16),
        _string("time_in_force", 8),
        _double("price", nullable=True),
        _double("trigger_price", nullable=True),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("filled_volume", sa.Integer(), nullable=False),
        _double("average_fill_price", nullable=True),
        _string("status", 16),
        _string("venue_order_id", 64, nullable=True),
        _string("strategy_id", 64, nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_orders_user_id_users"),
        sa.UniqueConstraint(
            "account_id", "client_order_id", name="uq_orders_account_id_client_order_id"
        ),
    )
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    op.create_index("ix_orders_venue_order_id", "orders", ["venue_order_id"])
    op.create_index("ix_orders_account_id_status", "orders", ["account_id", "status"])

    op.create_table(
        "order_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        _string("order_id", 64),
        _timestamp("ts"),
        _string("kind", 32),
        sa.Column("payload", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])

    op.create_table(
        "trades",
        _string("id", 64),
        _string("order_id", 64),
        _string("account_id", 64),
        _string("venue_trade_id", 64, nullable=True),
        _string("symbol", 32),
        _string("exchange", 8),
        _string("side", 8),
        _string("offset", 16),
        _double("price"),
        sa.Column("volume", sa.Integer(), nullable=False),
        _double("commission"),
        _timestamp("ts"),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_trades_order_id_orders"),
        sa.UniqueConstraint(
            "account_id", "venue_trade_id", name="uq_trades_account_id_venue_trade_id"
        ),
    )
    op.create_index("ix_trades_order_id", "trades", ["order_id"])
    op.create_index("ix_trades_account_id_trading_day", "trades", ["account_id", "trading_day"])

    op.create_table(
        "positions",
        _string("account_id", 64),
        _string("exchange", 8),
        _string("symbol", 32),
        _string("direction", 8),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("today_volume", sa.Integer(), nullable=False),
        sa.Column("yesterday_volume", sa.Integer(), nullable=False),
        _double("average_price"),
        _double("realized_pnl"),
        _double("unrealized_pnl"),
        _double("margin"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint(
            "account_id", "exchange", "symbol", "direction", name="pk_positions"
        ),
    )

    op.create_table(
        "ticks",
        _string("exchange", 8),
        _string("symbol", 32),
        _timestamp("ts"),
        sa.Column("trading_day", sa.Date(), nullable=False),
        _double("last_price"),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        _double("turnover"),
        _double("open_interest"),
        _double("bid_price", nullable=True),
        sa.Column("bid_volume", sa.Integer(), nullable=False),
        _double("ask_price", nullable=True),
        sa.Column("ask_volume", sa.Integer(), nullable=False),
        _double("upper_limit", nullable=True),
        _double("lower_limit", nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", "ts", name="pk_ticks"),
    )

    op.create_table(
        "bars",
        _string("exchange", 8),
        _string("symbol", 32),
        _string("interval", 8),
        _timestamp("start"),
        sa.Column("trading_day", sa.Date(), nullable=False),
        _double("open"),
        _double("high"),
        _double("low"),
        _double("close"),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        _double("turnover"),
        _double("open_interest"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "interval", "start", name="pk_bars"),
    )

    op.create_table(
        "backtest_runs",
        _string("id", 64),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _string("status", 16),
        _string("strategy", 128),
        sa.Column("params", _JSON, nullable=False),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.Column("metrics", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _string("artifacts_prefix", 512, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_runs"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_backtest_runs_user_id_users"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'finished', 'failed', 'cancelled')",
            name="ck_backtest_runs_status",
        ),
    )
    op.create_index("ix_backtest_runs_user_id", "backtest_runs", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        _timestamp("ts"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        _string("action", 64),
        _string("target", 256),
        sa.Column("detail", _JSON, nullable=False),
        _string("client_ip", 45, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_audit_log_user_id_users"),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_user_id", "audit_log", ["user_id"])

    if _timescaledb_usable():
        _make_hypertables()


def _timescaledb_usable() -> bool:
    """The extension is installed on the server and preloaded (CREATE EXTENSION needs both)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or op.get_context().as_sql:
        # An offline SQL script (`alembic upgrade --sql`) cannot ask the server: plain tables.
        return False
    found = bind.execute(
        sa.text(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb' "
            "AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        )
    ).first()
    return found is not None


def _make_hypertables() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    # No default time index: the primary keys already end in the time column, and extra indexes
    # would make the schema differ from the models.
    op.execute(
        "SELECT create_hypertable('ticks', 'ts', chunk_time_interval => INTERVAL '1 day', "
        "create_default_indexes => FALSE)"
    )
    op.execute(
        "SELECT create_hypertable('bars', 'start', chunk_time_interval => INTERVAL '30 days', "
        "create_default_indexes => FALSE)"
    )


def downgrade() -> None:
    # Dependants first. The timescaledb extension, if created, stays: it belongs to the database
    # and other schemas may use it.
    for table in (
        "audit_log",
        "backtest_runs",
        "bars",
        "ticks",
        "positions",
        "trades",
        "order_events",
        "orders",
        "accounts",
        "instruments",
        "users",
    ):
        op.drop_table(table)
