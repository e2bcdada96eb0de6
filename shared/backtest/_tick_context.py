"""The tick backtester's `StrategyContext`: what a strategy's calls do inside `TickBacktest`.

`symbol=` selects one of the run's instruments by its symbol, None meaning the context's own
(the first instrument for a strategy hearing them all), as in the bar engine's context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.backtest._config import BacktestError
from shared.backtest._event_context import IndicatorSlot
from shared.backtest._event_orders import OrderState
from shared.strategy import OrderKind

if TYPE_CHECKING:
    from shared.backtest._tick_engine import TickBacktest


def checked_order(volume: float, kind: OrderKind, price: float | None) -> None:
    """The bar engine's rules for an order a strategy places, so a strategy errs alike in both."""
    if kind not in ("market", "limit", "stop"):
        raise BacktestError(f"order kind is market, limit or stop, got {kind!r}", "kind")
    if kind != "market" and (price is None or not price > 0.0):
        raise BacktestError(f"a {kind} order needs a price > 0", "price")
    if not (abs(volume) >= 1.0 and float(volume).is_integer()):
        raise BacktestError(f"order volume must be whole units >= 1, got {volume}", "volume")


class TickContext:
    """Satisfies `shared.strategy.StrategyContext` for a tick-driven backtest."""

    def __init__(self, engine: TickBacktest, own: int = 0, agent: int = 0) -> None:
        self._engine = engine
        self._own = own  # the instrument `symbol=None` means
        self.agent = agent  # the strategy whose orders this context places
        self._index = {leg.instrument.symbol: leg.index for leg in engine.legs}
        self.started = False

    def _series(self, symbol: str | None) -> int:
        if symbol is None:
            return self._own
        j = self._index.get(symbol)
        if j is None:
            known = ", ".join(self._index)
            raise BacktestError(f"unknown symbol {symbol!r} (the run trades {known})", "symbol")
        return j

    @property
    def equity(self) -> float:
        return self._engine.equity()

    @property
    def cash(self) -> float:
        return self._engine.ledger.cash

    def position(self, symbol: str | None = None) -> float:
        return self._engine.ledger.holdings[self._series(symbol)].units

    def indicator(self, name: str, symbol: str | None = None, **params: Any) -> IndicatorSlot:
        j = self._series(symbol)
        if self.started:
            raise BacktestError("declare indicators in on_start", "indicator")
        if self._engine.bar_interval is None:
            # Indicators are fed from bars; without bars a handle would stay None for ever.
            raise BacktestError("indicators need bars: run with a bar_interval", "indicator")
        slot = IndicatorSlot(name, params)
        self._engine.legs[j].indicators.append(slot)
        return slot

    def _order(
        self, volume: float, symbol: str | None, kind: OrderKind, price: float | None
    ) -> str:
        j = self._series(symbol)
        checked_order(volume, kind, price)
        order = OrderState(
            order_id=self._engine.next_order_id(),
            symbol=self._engine.legs[j].instrument.symbol,
            index=j,
            owner=self.agent,
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
        self._engine.go(self._series(symbol), 1, self.agent)

    def go_short(self, symbol: str | None = None) -> None:
        self._engine.go(self._series(symbol), -1, self.agent)

    def go_flat(self, symbol: str | None = None) -> None:
        self._engine.go(self._series(symbol), 0, self.agent)

    def cancel(self, order_id: str) -> None:
        self._engine.cancel(order_id)
