"""The backtester's `StrategyContext`: what a strategy's calls do inside `EventBacktest`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.backtest._config import BacktestError
from shared.backtest._event_orders import OrderState
from shared.indicators import IndicatorError, checked_params, find, streaming
from shared.strategy import BarView, OrderKind

if TYPE_CHECKING:
    from shared.backtest._event_engine import EventBacktest

# Session indicators take the trading day as a proleptic ordinal (date.toordinal()).
_ORDINAL_OF_EPOCH = 719_163


class IndicatorSlot:
    """A streaming indicator fed from one series' bars; `value` as `IndicatorHandle` says."""

    __slots__ = ("_fields", "_indicator", "_single", "close_update", "value")

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        info = find(name).info
        checked = checked_params(info, params)
        try:
            # Any: the streaming classes differ in their inputs, chosen by `_fields`.
            indicator: Any = streaming(info.name, **checked)
        except KeyError as exc:
            raise IndicatorError(str(exc), "name") from None
        self._indicator = indicator
        self._fields = tuple(i.default for i in info.inputs)
        self._single = self._fields == ("close",)
        # The streaming update itself for a close-only indicator (the engine's fast path).
        update: Callable[[float], Any] = indicator.update
        self.close_update: Callable[[float], Any] | None = update if self._single else None
        self.value: Any = None

    def update(self, bar: BarView) -> None:
        if self._single:
            self.value = self._indicator.update(bar.close)
            return
        args = [
            float(bar.day + _ORDINAL_OF_EPOCH) if f == "trading_day" else getattr(bar, f)
            for f in self._fields
        ]
        self.value = self._indicator.update(*args)


class EngineContext:
    """Satisfies `shared.strategy.StrategyContext` for a backtest."""

    def __init__(self, engine: EventBacktest, own: int) -> None:
        self._engine = engine
        self._own = own  # the series `symbol=None` means
        self.agent = own
        self._index = {s.symbol: j for j, s in enumerate(engine.series)}
        self.started = False

    def _series(self, symbol: str | None) -> int:
        if symbol is None:
            return self._own
        try:
            return self._index[symbol]
        except KeyError:
            known = ", ".join(self._index)
            raise BacktestError(f"unknown symbol {symbol!r} (series: {known})", "symbol") from None

    @property
    def equity(self) -> float:
        return self._engine.equity()

    @property
    def cash(self) -> float:
        return self._engine.ledger.cash

    def position(self, symbol: str | None = None) -> float:
        return self._engine.ledger.holdings[self._series(symbol)].units

    def indicator(self, name: str, symbol: str | None = None, **params: Any) -> IndicatorSlot:
        if self.started:
            raise BacktestError("declare indicators in on_start", "indicator")
        slot = IndicatorSlot(name, params)
        self._engine.indicators[self._series(symbol)].append(slot)
        return slot

    def _order(
        self, volume: float, symbol: str | None, kind: OrderKind, price: float | None
    ) -> str:
        if kind not in ("market", "limit", "stop"):
            raise BacktestError(f"order kind is market, limit or stop, got {kind!r}", "kind")
        if kind != "market" and (price is None or not price > 0.0):
            raise BacktestError(f"a {kind} order needs a price > 0", "price")
        if not (abs(volume) >= 1.0 and float(volume).is_integer()):
            raise BacktestError(f"order volume must be whole units >= 1, got {volume}", "volume")
        order = OrderState(
            order_id=self._engine.next_order_id(),
            symbol=symbol or self._engine.series[self._own].symbol,
            owner=self.agent,
            index=self._series(symbol),
            volume=volume,
            kind=kind,
            price=price if kind != "market" else None,
        )
        self._engine.submit(order)
        return order.order_id

    def buy(
        self,
        volume: float,
        symbol: str | None = None,
        *,
        kind: OrderKind = "market",
        price: float | None = None,
    ) -> str:
        return self._order(abs(volume), symbol, kind, price)

    def sell(
        self,
        volume: float,
        symbol: str | None = None,
        *,
        kind: OrderKind = "market",
        price: float | None = None,
    ) -> str:
        return self._order(-abs(volume), symbol, kind, price)

    def go_long(self, symbol: str | None = None) -> None:
        self._engine.set_intent(self._series(symbol), 1)

    def go_short(self, symbol: str | None = None) -> None:
        self._engine.set_intent(self._series(symbol), -1)

    def go_flat(self, symbol: str | None = None) -> None:
        self._engine.set_intent(self._series(symbol), 0)

    def cancel(self, order_id: str) -> None:
        self._engine.cancel(order_id)
