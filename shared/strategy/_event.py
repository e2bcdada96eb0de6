"""Event-driven strategies: one class that runs in the backtester and, later, live.

A strategy reacts to events (`on_start`, `on_bar`, `on_tick`, `on_order`, `on_trade`,
`on_stop`) and acts only through its `StrategyContext`: orders, positions, account and
streaming indicators. The backtester and the gateway each provide a context; the strategy
cannot tell them apart except by the clock and the venue behind it.

Bars reach `on_bar` as a `BarView`, one mutable object per series refreshed in place: a
backtest of ten million bars must not build ten million objects. Keep values, not the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

from shared.domain import Tick
from shared.strategy._params import Constraint, ParamSpec, ParamValue, resolve_params

_EPOCH_DAY = date(1970, 1, 1)
OrderKind = Literal["market", "limit", "stop"]


class BarView:
    """The latest bar of one series. `ts_ns` is the bar's start in UTC epoch nanoseconds;
    `day` the trading day in days since 1970-01-01; `index` its position in the series;
    `last_of_day` marks the last bar of its trading day."""

    __slots__ = (
        "close",
        "day",
        "high",
        "index",
        "last_of_day",
        "low",
        "open",
        "open_interest",
        "symbol",
        "ts_ns",
        "volume",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.index = -1
        self.ts_ns = 0
        self.day = 0
        self.open = self.high = self.low = self.close = 0.0
        self.volume = self.open_interest = 0.0
        # The session's last bar of its trading day (from the data in a backtest, from the
        # trading calendar live): day-end logic acts on it rather than after it.
        self.last_of_day = False

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ns / 1e9, tz=UTC)

    @property
    def trading_day(self) -> date:
        return _EPOCH_DAY + timedelta(days=self.day)


class OrderUpdate(Protocol):
    """An order's state as the strategy sees it (`on_order`)."""

    @property
    def order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def volume(self) -> float: ...  # signed: > 0 buys, < 0 sells
    @property
    def filled(self) -> float: ...
    @property
    def reason(self) -> str: ...


class TradeUpdate(Protocol):
    """One fill (`on_trade`)."""

    @property
    def order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def volume(self) -> float: ...  # signed
    @property
    def price(self) -> float: ...
    @property
    def commission(self) -> float: ...
    @property
    def ts_ns(self) -> int: ...


class IndicatorHandle(Protocol):
    """A streaming indicator kept up to date before each `on_bar` of its series: `value` is
    the latest output (a tuple for several outputs), `None` during the warm-up."""

    @property
    def value(self) -> Any: ...


class StrategyContext(Protocol):
    """What a strategy may do. `symbol=None` means the primary (first) series."""

    @property
    def equity(self) -> float: ...
    @property
    def cash(self) -> float: ...
    def position(self, symbol: str | None = None) -> float: ...
    def indicator(self, name: str, symbol: str | None = None, **params: Any) -> IndicatorHandle:
        """Declare a streaming indicator (only in `on_start`)."""
        ...

    def buy(
        self,
        volume: float,
        symbol: str | None = None,
        *,
        kind: OrderKind = "market",
        price: float | None = None,
    ) -> str: ...
    def sell(
        self,
        volume: float,
        symbol: str | None = None,
        *,
        kind: OrderKind = "market",
        price: float | None = None,
    ) -> str: ...
    def go_long(self, symbol: str | None = None) -> None:
        """Hold a long of the configured size (sized when filled); reverses a short."""
        ...

    def go_short(self, symbol: str | None = None) -> None: ...
    def go_flat(self, symbol: str | None = None) -> None: ...
    def cancel(self, order_id: str) -> None: ...


class Strategy:
    """Base class: declare `name`, `params` (and `constraints`), override the events needed.
    `self.p` holds the checked parameter values."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    constraints: ClassVar[tuple[Constraint, ...]] = ()

    def __init__(self, params: Mapping[str, object] | None = None) -> None:
        self.p: dict[str, ParamValue] = resolve_params(self.params, params or {}, self.constraints)

    def on_start(self, ctx: StrategyContext) -> None:
        """Declare indicators and set up state, before the first event."""

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        """A bar of one of the strategy's series has closed."""

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        """A tick arrived (tick-driven backtests and live)."""

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        """An order of this strategy changed state."""

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        """An order of this strategy was (partly) filled."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """The run ends (last bar processed, or the strategy is stopped live)."""
