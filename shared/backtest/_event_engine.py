"""The event-driven engine: a `Strategy` meets the paper exchange, bar by bar.

Per bar time, per series with a bar there:
1. At the open: `go_long`/`go_short`/`go_flat` intents and market orders from the previous
   close fill (next_open mode); limit orders placed then start resting; then the bar's path
   (see `_event_orders`) runs through the resting limit and stop orders.
2. The bar is published: streaming indicators update, then `on_bar`.
3. (close mode) intents and market orders placed in `on_bar` fill at this close.
4. Equity is recorded: cash plus open P&L at the closes.

Intents are sized when they fill, exactly as the vectorized engine sizes them, and a change of
side closes the old position before the new one is sized, so the two engines agree trade for
trade on the built-in strategies. Explicit orders (`buy`/`sell`) trade the units asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import count
from typing import Any

import numpy as np

from shared.analytics import EquitySeries, Settings, compute_metrics_arrays
from shared.backtest._collections import rare_collections
from shared.backtest._config import BacktestConfig, BacktestError, InstrumentTerms
from shared.backtest._data import BarSeries
from shared.backtest._event_context import EngineContext, IndicatorSlot
from shared.backtest._event_orders import OrderState, TradeEvent, bar_path, quote, utc
from shared.backtest._grid import Grid
from shared.backtest._ledger import Ledger
from shared.backtest._result import BacktestResult, OpenPosition, in_market
from shared.backtest._row_view import RowView
from shared.domain import (
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
    price_to_ticks,
    round_to_tick,
)
from shared.matching import MatchingEngine, slipped
from shared.orders import Filled, Rejected
from shared.strategy import BarView, Strategy

_NO_INTENT = 9
_CHUNK = 65_536


def _on_grid(values: np.ndarray, step: float) -> bool:
    units = values / step
    return bool(np.allclose(units, np.round(units), rtol=0.0, atol=1e-6))


def _price_tick(series: BarSeries, terms: InstrumentTerms) -> float:
    """The grid the paper exchange prices this series on: the instrument's tick when the bars
    lie on it. Bars off that grid (history from before a tick change: gold traded in 0.05
    steps before today's 0.02) get the coarsest decimal step both fit, so a fill stays at a
    price that traded, as in the vectorized engine. Without a tick, the prices' own step."""
    sample = np.concatenate([series.open[:2000], series.close[:2000]])
    sample = sample[np.isfinite(sample)]
    tick = terms.price_tick
    if tick > 0.0 and _on_grid(sample, tick):
        return tick
    for decimals in range(9):
        step = float(10.0**-decimals)
        if _on_grid(sample, step) and (tick <= 0.0 or _on_grid(np.array([tick]), step)):
            return step
    return 1e-8


def _slippage_on_grid(terms: InstrumentTerms, grid: float) -> int:
    """The slippage, given in the instrument's ticks, in ticks of the grid priced on."""
    if terms.price_tick <= 0.0:
        return round(terms.slippage_ticks)
    return round(terms.slippage_ticks * terms.price_tick / grid)


class EventBacktest:
    def __init__(
        self,
        strategies: Strategy | Sequence[Strategy],
        series: Sequence[BarSeries],
        config: BacktestConfig,
        terms: Sequence[InstrumentTerms] | None = None,
        *,
        exchange: Exchange = Exchange.SHFE,
    ) -> None:
        config.validate()
        if not series:
            raise BacktestError("give at least one series", "data")
        self.series = list(series)
        self.config = config
        self.terms = list(terms) if terms is not None else [config.terms] * len(series)
        for series_terms in self.terms:
            series_terms.validate()
        self.grid = Grid(self.series)
        self.ledger = Ledger(config.cash, self.terms)
        self.views = [BarView(s.symbol) for s in self.series]
        self.indicators: list[list[IndicatorSlot]] = [[] for _ in self.series]
        self.marks = [math.nan] * len(self.series)
        self.intent = [_NO_INTENT] * len(self.series)
        self.market_orders: list[list[OrderState]] = [[] for _ in self.series]
        self.new_limits: list[list[OrderState]] = [[] for _ in self.series]
        self.stops: list[list[OrderState]] = [[] for _ in self.series]
        self.working: dict[str, OrderState] = {}
        # Ids of the limit orders resting in each series' paper exchange.
        self.resting: list[set[str]] = [set() for _ in self.series]
        self.rejected = 0
        self.bar = -1
        self._ids = count(1)
        self._trade_ids = count(1)
        self._exchange = exchange
        self._instruments: list[Instrument] = []
        self._slippage: list[int] = []
        self._matchers: list[MatchingEngine] = []
        for item, item_terms in zip(self.series, self.terms, strict=True):
            instrument = Instrument(
                symbol=item.symbol or "series",
                exchange=exchange,
                product=item.symbol or "series",
                multiplier=max(1, round(item_terms.multiplier)),
                price_tick=_price_tick(item, item_terms),
            )
            self._instruments.append(instrument)
            self._slippage.append(_slippage_on_grid(item_terms, instrument.price_tick))
            self._matchers.append(
                MatchingEngine(
                    {instrument.key: instrument},
                    market_slippage_ticks=self._slippage[-1],
                    trade_ids=lambda: f"T{next(self._trade_ids)}",
                )
            )
        # One strategy watching every series (its default symbol the first), or one per
        # series (each defaulting to its own), all trading the same account.
        if isinstance(strategies, Strategy):
            self.agents = [(strategies, EngineContext(self, 0))]
            self.listeners = [[0] for _ in self.series]
        else:
            if len(strategies) != len(self.series):
                raise BacktestError("give one strategy, or one per series", "strategy")
            self.agents = [(item, EngineContext(self, j)) for j, item in enumerate(strategies)]
            self.listeners = [[j] for j in range(len(self.series))]

    # Called by the context -------------------------------------------------------------------

    def next_order_id(self) -> str:
        return f"O{next(self._ids)}"

    def equity(self) -> float:
        return self.ledger.cash + self.ledger.open_pnl(self.marks)

    def submit(self, order: OrderState) -> None:
        self.working[order.order_id] = order
        if order.kind == "market":
            self.market_orders[order.index].append(order)
            if self.config.fill == "close" and self._in_bar:
                self._fill_market_orders(order.index, self.marks[order.index])
        elif order.kind == "limit":
            self.new_limits[order.index].append(order)
        else:
            self.stops[order.index].append(order)

    def cancel(self, order_id: str) -> None:
        order = self.working.pop(order_id, None)
        if order is None:
            return
        j = order.index
        for queue in (self.market_orders[j], self.new_limits[j], self.stops[j]):
            if order in queue:
                queue.remove(order)
        if order_id in self.resting[j]:
            self.resting[j].discard(order_id)
            self._matchers[j].cancel(order_id, utc(int(self.grid.ts_ns[max(self.bar, 0)])))
        order.status = "cancelled"
        self._tell_order(order)

    def set_intent(self, j: int, side: int) -> None:
        self.intent[j] = side
        if self.config.fill == "close" and self._in_bar:
            self._fill_intent(j, self.marks[j])

    # The loop --------------------------------------------------------------------------------

    _in_bar = False

    def run(self) -> BacktestResult:
        grid = self.grid
        bars, symbols = grid.closes.shape
        equity = np.empty(bars)
        positions = np.empty((bars, symbols))
        for strategy, ctx in self.agents:
            strategy.on_start(ctx)
            ctx.started = True
        matrices = self._matrices()
        # Python floats from lists are several times cheaper per read than numpy scalars; a
        # chunk at a time keeps the lists small however long the series.
        with rare_collections():
            for start in range(0, bars, _CHUNK):
                stop = min(start + _CHUNK, bars)
                rows = [m[start:stop].tolist() for m in matrices]
                if symbols == 1:
                    self._run_single(start, rows, equity, positions)
                else:
                    self._run_rows(start, rows, equity, positions)
        for strategy, ctx in self.agents:
            strategy.on_stop(ctx)
        return self._result(equity, positions)

    def _open_bar(self, j: int, open_: float) -> None:
        """Fills due at the bar's open."""
        if self.intent[j] != _NO_INTENT or self.market_orders[j]:
            self.marks[j] = open_
            self._fill_intent(j, open_)
            self._fill_market_orders(j, open_)

    def _run_single(
        self, start: int, rows: list[list[Any]], equity: np.ndarray, positions: np.ndarray
    ) -> None:
        """One series: the hot loop of most backtests, kept to the essentials."""
        opens, highs, lows, closes = rows[2], rows[3], rows[4], rows[5]
        strategy, ctx = self.agents[0]
        view = self.views[0]
        if not isinstance(view, RowView):
            view = self.views[0] = RowView(self.series[0].symbol)
        view.bind(rows)
        slots = self.indicators[0]
        # Most indicators read the close alone: called directly, without the slot's dispatch.
        closes_only = [(slot, slot.close_update) for slot in slots if slot.close_update]
        others = [slot for slot in slots if slot.close_update is None]
        held = self.ledger.holdings[0]
        ledger, marks = self.ledger, self.marks
        multiplier = self.terms[0].multiplier
        next_open = self.config.fill == "next_open"
        market_orders, new_limits, stops, resting = (
            self.market_orders[0], self.new_limits[0], self.stops[0], self.resting[0],
        )  # fmt: skip
        equity_values: list[float] = []
        position_values: list[float] = []
        intent = self.intent
        for i, close in enumerate(closes):
            t = start + i
            self.bar = t
            open_ = opens[i]
            if next_open and (intent[0] != _NO_INTENT or market_orders):
                self._open_bar(0, open_)
            if new_limits or stops or resting:
                self._run_path(0, open_, highs[i], lows[i], close)
            marks[0] = close
            view.index = t
            view._i = i
            for slot, update in closes_only:
                slot.value = update(close)
            for slot in others:
                slot.update(view)
            if next_open:
                # Nothing fills inside on_bar in this mode: no need to mark being in it.
                strategy.on_bar(ctx, view)
            else:
                self._in_bar = True
                strategy.on_bar(ctx, view)
                self._in_bar = False
            units = held.units
            equity_values.append(ledger.cash + units * (close - held.entry_price) * multiplier)
            position_values.append(units)
        # One bulk copy per chunk: cheaper than a numpy item write per bar.
        equity[start : start + len(closes)] = equity_values
        positions[start : start + len(closes), 0] = position_values

    def _run_rows(
        self, start: int, rows: list[list[Any]], equity: np.ndarray, positions: np.ndarray
    ) -> None:
        ts_list, days, opens, highs, lows, closes, volumes, interests, lasts = rows
        agents, listeners = self.agents, self.listeners
        holdings = self.ledger.holdings
        symbols = len(self.series)
        next_open = self.config.fill == "next_open"
        for i, row in enumerate(closes):
            t = start + i
            self.bar = t
            for j in range(symbols):
                close = row[j]
                if math.isnan(close):  # no bar for this series now
                    continue
                open_, high, low = opens[i][j], highs[i][j], lows[i][j]
                if next_open:
                    self._open_bar(j, open_)
                if self.new_limits[j] or self.stops[j] or self.resting[j]:
                    self._run_path(j, open_, high, low, close)
                self.marks[j] = close
                view = self.views[j]
                view.index = t
                view.ts_ns = ts_list[i]
                view.day = days[i]
                view.open, view.high, view.low, view.close = open_, high, low, close
                view.volume = volumes[i][j]
                view.open_interest = interests[i][j]
                view.last_of_day = lasts[i][j]
                for slot in self.indicators[j]:
                    slot.update(view)
                self._in_bar = True
                for agent in listeners[j]:
                    strategy, ctx = agents[agent]
                    strategy.on_bar(ctx, view)
                self._in_bar = False
            equity[t] = self.ledger.cash + self.ledger.open_pnl(self.marks)
            for j in range(symbols):
                positions[t, j] = holdings[j].units

    # Fills -----------------------------------------------------------------------------------

    def _matrices(self) -> list[np.ndarray]:
        """Per bar time: start, trading day, then per series open, high, low, close, volume,
        open interest and whether the bar is its trading day's last."""
        grid = self.grid
        if len(self.series) == 1:
            only = self.series[0]
            return [
                only.ts_ns, only.trading_days, only.open, only.high, only.low, only.close,
                only.volume, only.open_interest, self._last_of_day(only.trading_days),
            ]  # fmt: skip
        lasts = np.zeros(grid.closes.shape, dtype=np.bool_)
        for j, item in enumerate(self.series):
            lasts[grid.rows[j], j] = self._last_of_day(item.trading_days)
        return [
            grid.ts_ns, grid.days, grid.opens, self._spread("high"), self._spread("low"),
            grid.closes, self._spread("volume"), self._spread("open_interest"), lasts,
        ]  # fmt: skip

    def _spread(self, name: str) -> np.ndarray:
        out = np.full(self.grid.closes.shape, np.nan)
        for j, item in enumerate(self.series):
            out[self.grid.rows[j], j] = getattr(item, name)
        return out

    @staticmethod
    def _last_of_day(days: np.ndarray) -> np.ndarray:
        flags = np.zeros(days.size, dtype=np.bool_)
        flags[:-1] = days[1:] != days[:-1]
        flags[-1] = True
        return flags

    def _fill_intent(self, j: int, price: float) -> None:
        side = self.intent[j]
        if side == _NO_INTENT:
            return
        self.intent[j] = _NO_INTENT
        held = self.ledger.holdings[j].units
        current = 1 if held > 0.0 else -1 if held < 0.0 else 0
        if side == current:
            return
        if current != 0:
            self._trade(j, -held, price, None)
        if side != 0:
            units = self._intent_units(j, side, price)
            if units < 1.0:
                self.rejected += 1
                return
            self._trade(j, units * side, price, None)

    def _intent_units(self, j: int, side: int, price: float) -> float:
        terms = self.terms[j]
        slip = terms.slippage_ticks * terms.price_tick
        entry = price + slip * side
        rate = 1.0 if terms.margin_rate is None else terms.margin_rate
        unit_cost = entry * terms.multiplier * rate + self.ledger.commission(
            j, 1.0, entry, closing_today=False
        )
        available = self.equity() - self.ledger.used_margin(self.marks)
        size = self.config.size
        units = (
            math.floor(size.value * available / unit_cost) if size.mode == "equity" else size.value
        )
        if available <= 0.0 or units * unit_cost > available * (1.0 + 1e-12):
            return 0.0
        return float(units)

    def _fill_market_orders(self, j: int, price: float) -> None:
        queue = self.market_orders[j]
        # Emptied in place: the hot loop holds this very list.
        waiting = list(queue)
        queue.clear()
        for order in waiting:
            if order.status in ("cancelled", "filled"):
                continue
            self._trade(j, order.volume - order.filled, price, order)

    def _run_path(self, j: int, open_: float, high: float, low: float, close: float) -> None:
        queue = self.new_limits[j]
        limits = list(queue)
        queue.clear()
        previous: float | None = None
        for point in bar_path(open_, high, low, close):
            # The market passed through every resting limit between two points of the path:
            # a tick there fills it at its price, as the exchange would, rather than at the
            # better price of the next point.
            for price in (*self._limits_between(j, previous, point), point):
                self._tick(j, price, open_)
                for order in limits:
                    self._rest(j, order, self._quote(j, price))
                limits = []
            previous = point

    def _limits_between(self, j: int, start: float | None, stop: float) -> list[float]:
        if start is None or not self.resting[j]:
            return []
        low, high = min(start, stop), max(start, stop)
        prices = {
            order.price
            for order_id in self.resting[j]
            if (order := self.working.get(order_id)) is not None
            and order.price is not None
            and low < order.price < high
        }
        return sorted(prices, reverse=stop < start)

    def _tick(self, j: int, price: float, open_: float) -> None:
        self.marks[j] = price
        for report in self._matchers[j].on_tick(self._quote(j, price)):
            self._on_report(j, report.order_id, report.event)
        self._trigger_stops(j, price, open_)

    def _trigger_stops(self, j: int, price: float, open_: float) -> None:
        for order in list(self.stops[j]):
            trigger = order.price if order.price is not None else price
            buying = order.volume > 0
            if (buying and price >= trigger) or (not buying and price <= trigger):
                self.stops[j].remove(order)
                # A gap through the trigger fills at the open, else at the trigger.
                gapped = (buying and open_ >= trigger) or (not buying and open_ <= trigger)
                self._trade(j, order.volume - order.filled, open_ if gapped else trigger, order)

    def _quote(self, j: int, price: float) -> Tick:
        instrument = self._instruments[j]
        ts = utc(int(self.grid.ts_ns[self.bar]))
        return quote(
            instrument.symbol, instrument.exchange, ts, int(self.grid.days[self.bar]), price
        )

    def _domain_order(
        self, j: int, order_id: str, units: float, kind: OrderType, price: float | None
    ) -> Order:
        instrument = self._instruments[j]
        ts = utc(int(self.grid.ts_ns[self.bar]))
        return Order(
            id=order_id,
            client_order_id=order_id,
            account_id="backtest",
            symbol=instrument.symbol,
            exchange=instrument.exchange,
            side=Side.BUY if units > 0 else Side.SELL,
            offset=Offset.OPEN,
            type=kind,
            volume=round(abs(units)),
            created_at=ts,
            updated_at=ts,
            price=price,
        )

    def _rest(self, j: int, order: OrderState, tick: Tick) -> None:
        domain = self._domain_order(j, order.order_id, order.volume, OrderType.LIMIT, order.price)
        order.status = "working"
        self.resting[j].add(order.order_id)
        for report in self._matchers[j].submit(domain, tick.ts):
            self._on_report(j, report.order_id, report.event)

    def _trade(self, j: int, units: float, price: float, order: OrderState | None) -> None:
        """A market order of signed `units` at reference `price`, priced by the paper exchange's
        rule for a market order against a quote (the reference moved by the slippage ticks
        against the trader, on the tick grid, never at zero). A bar's synthetic quote has depth
        for any size, so the order fills whole at that price; building the exchange's order
        objects for it would cost more than the rest of the bar."""
        if abs(units) < 1.0:
            return
        order_id = order.order_id if order is not None else self.next_order_id()
        instrument = self._instruments[j]
        side = Side.BUY if units > 0 else Side.SELL
        ticks = slipped(
            price_to_ticks(price, instrument.price_tick),
            side,
            self._slippage[j],
            self._quote(j, price),
            instrument.price_tick,
        )
        self._book_fill(
            j,
            order_id,
            order,
            units,
            round_to_tick(ticks * instrument.price_tick, instrument.price_tick),
        )

    def _on_report(
        self, j: int, order_id: str, event: object, units_sign: int | None = None
    ) -> None:
        order = self.working.get(order_id)
        if isinstance(event, Filled):
            sign = (
                units_sign
                if units_sign is not None
                else (1 if order is None or order.volume > 0 else -1)
            )
            self._book_fill(j, order_id, order, float(event.volume) * sign, event.price)
        elif isinstance(event, Rejected):
            self.rejected += 1
            if order is not None:
                order.status, order.reason = "rejected", event.reason
                self.working.pop(order_id, None)
                self.resting[j].discard(order_id)
                self._tell_order(order)

    def _book_fill(
        self, j: int, order_id: str, order: OrderState | None, units: float, price: float
    ) -> None:
        day = int(self.grid.days[self.bar])
        commission = self.ledger.fill_commission(j, units, price, day)
        self.ledger.apply(j, units, price, commission, bar=self.bar, day=day)
        if order is not None:
            order.filled += units
            done = abs(order.filled - order.volume) < 0.5
            order.status = "filled" if done else "partially_filled"
            if done:
                self.working.pop(order_id, None)
                self.resting[j].discard(order_id)
        self._tell_trade(
            j,
            order,
            TradeEvent(
                order_id=order_id,
                symbol=self.series[j].symbol,
                volume=units,
                price=price,
                commission=commission,
                ts_ns=int(self.grid.ts_ns[self.bar]),
            ),
        )
        if order is not None:
            self._tell_order(order)

    def _tell_order(self, order: OrderState) -> None:
        strategy, ctx = self.agents[order.owner]
        strategy.on_order(ctx, order)

    def _tell_trade(self, j: int, order: OrderState | None, trade: TradeEvent) -> None:
        """An order's fill goes to its owner; a fill of a `go_*` intent to the series' own."""
        owners = [order.owner] if order is not None else self.listeners[j]
        for owner in owners:
            strategy, ctx = self.agents[owner]
            strategy.on_trade(ctx, trade)

    # The result ------------------------------------------------------------------------------

    def _result(self, equity: np.ndarray, positions: np.ndarray) -> BacktestResult:
        grid, config = self.grid, self.config
        trades = self.ledger.trade_log(grid.ts_ns)
        floor = config.cash * 1e-6
        metrics = compute_metrics_arrays(
            EquitySeries(
                timestamps=grid.ts_ns,
                equity=np.maximum(equity, floor),
                trading_days=grid.days,
                in_market=in_market(positions),
                benchmark=grid.benchmark(),
            ),
            trades.table,
            Settings(
                starting_cash=config.cash,
                periods_per_year=config.periods_per_year,
                risk_free_rate=config.risk_free_rate,
            ),
            daily=False,
        )
        opened = tuple(
            OpenPosition(
                symbol=self.series[j].symbol,
                units=held.units,
                entry_price=held.entry_price,
                entry_bar=held.entry_bar,
                mark=float(self.series[j].close[-1]),
            )
            for j, held in enumerate(self.ledger.holdings)
            if held.units != 0.0
        )
        return BacktestResult(
            symbols=tuple(s.symbol for s in self.series),
            ts_ns=grid.ts_ns,
            trading_days=grid.days,
            equity=equity,
            positions=positions,
            trades=trades,
            fills=self.ledger.fill_log(),
            open_positions=opened,
            cash=config.cash,
            rejected_orders=self.rejected,
            metrics=metrics,
        )


def run_event_driven(
    strategy: Strategy | Callable[[], Strategy],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    terms: Sequence[InstrumentTerms] | None = None,
) -> BacktestResult:
    """Run a strategy instance over the series (it sees every series' bars), or, given a
    factory, one new instance per series, each trading its own series, as the vectorized
    engine applies one strategy's rules to each series of a portfolio."""
    items = [series] if isinstance(series, BarSeries) else list(series)
    if isinstance(strategy, Strategy):
        return EventBacktest(strategy, items, config, terms).run()
    return EventBacktest([strategy() for _ in items], items, config, terms).run()
