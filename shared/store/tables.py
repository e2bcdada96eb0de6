"""The relational schema: one declarative model per table, the single source for migrations.

Prices and money are double precision floats, like the domain (float64): prices are checked
against the instrument's tick grid in the domain, never compared for equality here, so an exact
decimal type would buy nothing but conversions on every read.

Enumerations are stored as their string values (see ``StrEnumText``); only the roles and the
backtest states carry a CHECK constraint, because the other value sets follow the venue and grow.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.domain import (
    Direction,
    Exchange,
    Interval,
    Offset,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TriggerCondition,
    TriggerSource,
)
from shared.risk import TradingState
from shared.store.roles import Role
from shared.store.types import BigIdentity, JSONDocument, StrEnumText, UTCDateTime

# Every constraint and index gets a predictable name, so that the migration can name them and
# later migrations can drop them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}


class BacktestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _one_of(column: str, values: type[StrEnum]) -> str:
    listed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({listed})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012  (read by SQLAlchemy at class creation)
        datetime: UTCDateTime(),
        date: Date(),
        float: Double(),
        int: Integer(),
        dict[str, Any]: JSONDocument,
    }


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", Role), name="role"),
        CheckConstraint("length(username) BETWEEN 3 AND 64", name="username_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(StrEnumText(Role, 16))
    is_active: Mapped[bool]
    trading_password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContractTerms:
    """The trading terms a product gives its contracts, which a contract row repeats (an
    operator may set a contract's margins or fees apart from its product's)."""

    multiplier: Mapped[int]
    price_tick: Mapped[float]
    min_volume: Mapped[int]
    long_margin_ratio: Mapped[float]
    short_margin_ratio: Mapped[float]
    # CommissionRates, field by field.
    commission_open_by_volume: Mapped[float]
    commission_open_by_money: Mapped[float]
    commission_close_by_volume: Mapped[float]
    commission_close_by_money: Mapped[float]
    commission_close_today_by_volume: Mapped[float]
    commission_close_today_by_money: Mapped[float]


class InstrumentRow(ContractTerms, Base):
    __tablename__ = "instruments"

    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    product: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    expires_on: Mapped[date | None]
    updated_at: Mapped[datetime]


class AccountRow(Base):
    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    trading_day: Mapped[date]
    balance: Mapped[float]
    available: Mapped[float]
    margin: Mapped[float]
    frozen_margin: Mapped[float]
    commission: Mapped[float]
    realized_pnl: Mapped[float]
    unrealized_pnl: Mapped[float]
    updated_at: Mapped[datetime]
    # The kill switch, kept so that a halted account is still halted after a restart.
    trading_state: Mapped[TradingState] = mapped_column(
        StrEnumText(TradingState, 16), server_default=TradingState.ACTIVE.value
    )
    trading_state_reason: Mapped[str] = mapped_column(Text, server_default="")


class RiskLimitsRow(Base):
    """An admin's risk limits of an account, or of one strategy trading on it."""

    __tablename__ = "risk_limits"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    # "" is the account's own limits (a primary key column cannot be NULL).
    strategy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    limits: Mapped[dict[str, Any]]  # the `RiskLimits` fields; absent ones take the defaults
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        # The idempotency key of order submission.
        UniqueConstraint("account_id", "client_order_id"),
        # "Working orders of this account", asked on every reconnect and risk check.
        Index(None, "account_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8))
    side: Mapped[Side] = mapped_column(StrEnumText(Side, 8))
    offset: Mapped[Offset] = mapped_column(StrEnumText(Offset, 16))
    type: Mapped[OrderType] = mapped_column(StrEnumText(OrderType, 16))
    time_in_force: Mapped[TimeInForce] = mapped_column(StrEnumText(TimeInForce, 8))
    price: Mapped[float | None]
    trigger_price: Mapped[float | None]
    volume: Mapped[int]
    filled_volume: Mapped[int]
    average_fill_price: Mapped[float | None]
    status: Mapped[OrderStatus] = mapped_column(StrEnumText(OrderStatus, 16))
    venue_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    strategy_id: Mapped[str | None] = mapped_column(String(64))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The venue's ids of the fills counted in filled_volume (a JSON list).
    trade_ids: Mapped[list[str]] = mapped_column(JSONDocument, server_default=text("'[]'"))
    trigger_source: Mapped[TriggerSource | None] = mapped_column(StrEnumText(TriggerSource, 8))
    trigger_condition: Mapped[TriggerCondition | None] = mapped_column(
        StrEnumText(TriggerCondition, 16)
    )


class OrderEventRow(Base):
    """Every venue callback for an order, as received: the audit trail behind ``orders``."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigIdentity, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    ts: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]


class TradeRow(Base):
    __tablename__ = "trades"
    __table_args__ = (
        # NULLs are distinct in a UNIQUE constraint on both backends, so this binds only the
        # trades that carry a venue id: a replayed venue callback cannot book a fill twice.
        UniqueConstraint("account_id", "venue_trade_id"),
        Index(None, "account_id", "trading_day"),
        # "This account's trades not yet booked", asked by every booking run.
        Index(None, "account_id", "booked_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    venue_trade_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8))
    side: Mapped[Side] = mapped_column(StrEnumText(Side, 8))
    offset: Mapped[Offset] = mapped_column(StrEnumText(Offset, 16))
    price: Mapped[float]
    volume: Mapped[int]
    commission: Mapped[float]
    ts: Mapped[datetime]
    trading_day: Mapped[date]
    # Set by the booking run that moved the trade into positions and money (None: not yet).
    booked_at: Mapped[datetime | None]
    booking_error: Mapped[str | None] = mapped_column(Text)


class PositionRow(Base):
    __tablename__ = "positions"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[Direction] = mapped_column(StrEnumText(Direction, 8), primary_key=True)
    volume: Mapped[int]
    today_volume: Mapped[int]
    yesterday_volume: Mapped[int]
    average_price: Mapped[float]
    realized_pnl: Mapped[float]
    unrealized_pnl: Mapped[float]
    margin: Mapped[float]
    updated_at: Mapped[datetime]


class TickRow(Base):
    """A TimescaleDB hypertable on ``ts`` when the extension exists (see the migration)."""

    __tablename__ = "ticks"

    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    trading_day: Mapped[date]
    last_price: Mapped[float]
    volume: Mapped[int] = mapped_column(BigInteger)  # cumulative for the day
    turnover: Mapped[float]
    open_interest: Mapped[float]
    bid_price: Mapped[float | None]
    bid_volume: Mapped[int]
    ask_price: Mapped[float | None]
    ask_volume: Mapped[int]
    upper_limit: Mapped[float | None]
    lower_limit: Mapped[float | None]


class BarRow(Base):
    """A TimescaleDB hypertable on ``start`` when the extension exists (see the migration)."""

    __tablename__ = "bars"

    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[Interval] = mapped_column(StrEnumText(Interval, 8), primary_key=True)
    start: Mapped[datetime] = mapped_column(primary_key=True)
    trading_day: Mapped[date]
    open: Mapped[float]
    high: Mapped[float]
    low: Mapped[float]
    close: Mapped[float]
    volume: Mapped[int] = mapped_column(BigInteger)
    turnover: Mapped[float]
    open_interest: Mapped[float]


class BacktestRunRow(Base):
    __tablename__ = "backtest_runs"
    __table_args__ = (
        CheckConstraint(_one_of("status", BacktestStatus), name="status"),
        CheckConstraint("kind IN ('backtest', 'optimization')", name="kind"),
        Index("ix_backtest_runs_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[BacktestStatus] = mapped_column(StrEnumText(BacktestStatus, 16))
    strategy: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    metrics: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    artifacts_prefix: Mapped[str | None] = mapped_column(String(512))
    # A single backtest, or an optimisation (many runs; `result` holds its best and heatmap).
    kind: Mapped[str] = mapped_column(String(16), server_default="backtest")
    progress: Mapped[float] = mapped_column(server_default="0")
    request: Mapped[dict[str, Any] | None]  # the request as accepted, to show and to rerun
    result: Mapped[dict[str, Any] | None]


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIdentity, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]]
    client_ip: Mapped[str | None] = mapped_column(String(45))  # the longest textual IPv6


class ProductRow(ContractTerms, Base):
    """A futures product: the terms its contracts share (``shared.instruments.Product``)."""

    __tablename__ = "products"

    exchange: Mapped[Exchange] = mapped_column(StrEnumText(Exchange, 8), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    limit_ratio: Mapped[float]  # limit up/down, fraction of the previous settlement
    currency: Mapped[str] = mapped_column(String(3))
    last_trading_day: Mapped[str | None] = mapped_column(String(32))
    earlier_ticks: Mapped[str] = mapped_column(String(256))  # "0.05<2019-12-10;..."
    updated_at: Mapped[datetime]


class HolidayKind(StrEnum):
    HOLIDAY = "holiday"  # a weekday on which the exchanges do not trade
    NIGHT_SUSPENSION = "night_suspension"  # an evening with no night session (next day trades)


class HolidayRow(Base):
    """The exchange calendar an admin can update (``shared.store.holidays``).

    One row per date: an evening worth suspending is always a trading weekday, so it can never
    also be a holiday.
    """

    __tablename__ = "holidays"
    __table_args__ = (CheckConstraint(_one_of("kind", HolidayKind), name="kind"),)

    date: Mapped[date] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[HolidayKind] = mapped_column(StrEnumText(HolidayKind, 16))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))  # username; None: shipped file


class FormulaRow(Base):
    """A user's saved indicator formula."""

    __tablename__ = "indicator_formulas"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    expression: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
