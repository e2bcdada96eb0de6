"""The tick-driven engine: a `Strategy` trades one instrument against the paper exchange, tick
by tick, its orders filled as `shared.matching.MatchingEngine` decides from the quotes.

Per tick, in time order:
1. A later trading day first expires the day's working orders (limits and held stops), as the
   exchange ends DAY orders at the close.
2. The paper exchange sees the tick: resting limit orders fill (whole or in part) from the
   quote and what traded since the previous tick; then stop orders whose trigger the last price
   reached are sent as market orders (`shared.orders.TriggerBook`, as the gateway's paper
   broker does).
3. With `bar_interval`, the bars this tick (or the clock at its time) closed, built by the
   live builder (`shared.bars.InstrumentBars`), reach `on_bar` after the streaming indicators
   update. They come before `on_tick` because they ended before this tick began.
4. `strategy.on_tick(ctx, tick)`.
5. Equity (cash plus open P&L at the last price) and the position are recorded.

Orders meet the exchange when they are placed, against the latest tick: a market order takes
the displayed opposite price (moved by the slippage ticks) for at most the displayed volume,
the rest cancelled; a limit order takes what is displayed at or better than its price and
rests for the rest; a stop waits for the last price to reach its trigger. `go_long`,
`go_short` and `go_flat` close the position with a market order, then open the new one with
another, sized by the config's rule at that moment from the displayed price; what the
displayed volume cannot fill is cancelled, not retried.

Ticks sharing a timestamp are one sample of the equity curve (the last one's state), so the
result's timestamps are strictly increasing; fills are stamped with their tick's sample.
Ticks are matched only within the instrument's trading sessions (auction and closing second
included), and the instrument's multiplier and price tick override the config's terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import count

import msgspec
import numpy as np
import polars as pl

from shared.analytics import EquitySeries, Settings, compute_metrics_arrays
from shared.backtest._config import BacktestConfig, BacktestError
from shared.backtest._event_context import IndicatorSlot
from shared.backtest._event_orders import OrderState, TradeEvent, utc
from shared.backtest._ledger import Ledger
from shared.backtest._result import BacktestResult, OpenPosition
from shared.backtest._tick_context import TickContext
from shared.bars import InstrumentBars
from shared.domain import (
    Bar,
    Instrument,
    Interval,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
)
from shared.matching import MatchingEngine, Report
from shared.orders import Accepted, Cancelled, Expired, Filled, Rejected, TriggerBook
from shared.sessions import (
    ProductSessions,
    SessionLocator,
    TradingCalendar,
    load_calendar,
    load_sessions,
)
from shared.strategy import BarView, Strategy

_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REQUIRED = (
    "ts",
    "trading_day",
    "last_price",
    "volume",
    "turnover",
    "open_interest",
    "bid_price",
    "bid_volume",
    "ask_price",
    "ask_volume",
)
_LIMITS = ("upper_limit", "lower_limit")
_KINDS = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP}


def _price(value: float | None) -> float | None:
    # Feeds mark an empty level with null, NaN or zero: it must stay empty, not become a price
    # to trade at. (CTP's DBL_MAX comes with zero volume, which the exchange reads as empty.)
    if value is None or not math.isfinite(value) or value <= 0.0:
        return None
    return value


class _Samples:
    """The equity curve, one point per distinct timestamp: ticks sharing a stamp overwrite
    their point, so the curve keeps the state after the last of them."""

    def __init__(self) -> None:
        self.ts_ns: list[int] = []
        self.days: list[int] = []
        self.equity: list[float] = []
        self.positions: list[float] = []
        self.marks: list[float] = []

    def is_new(self, ts_ns: int) -> bool:
        return not self.ts_ns or ts_ns != self.ts_ns[-1]

    def record(self, ts_ns: int, day: int, equity: float, units: float, mark: float) -> None:
        if self.is_new(ts_ns):
            self.ts_ns.append(ts_ns)
            self.days.append(day)
            self.equity.append(equity)
            self.positions.append(units)
            self.marks.append(mark)
        else:
            self.days[-1], self.equity[-1], self.positions[-1] = day, equity, units
            self.marks[-1] = mark


def ticks_of(frame: pl.DataFrame, instrument: Instrument) -> Iterator[tuple[int, Tick]]:
    """(epoch ns, Tick) per row of a tick frame with quotes and their sizes."""
    missing = [name for name in _REQUIRED if name not in frame.columns]
    if missing:
        raise BacktestError(f"the tick frame lacks {', '.join(missing)}", "ticks")
    if frame.height == 0:
        raise BacktestError("give at least one tick", "ticks")
    stamps = frame.get_column("ts").dt.epoch("ns")
    if bool((stamps.diff().drop_nulls() < 0).any()):
        raise BacktestError("ticks must be in time order", "ticks")
    limits = [
        frame.get_column(name).to_list() if name in frame.columns else [None] * frame.height
        for name in _LIMITS
    ]
    columns = [frame.get_column(name).to_list() for name in _REQUIRED[1:]]
    for ts_ns, row in zip(stamps.to_list(), zip(*columns, *limits, strict=True), strict=True):
        day, last, volume, turnover, interest, bid, bid_size, ask, ask_size, upper, lower = row
        yield (
            ts_ns,
            Tick(
                symbol=instrument.symbol,
                exchange=instrument.exchange,
                ts=utc(ts_ns),
                trading_day=day,
                last_price=last if last is not None else math.nan,
                volume=int(volume or 0),
                turnover=float(turnover or 0.0),
                open_interest=float(interest or 0.0),
                bid_price=_price(bid),
                bid_volume=int(bid_size or 0),
                ask_price=_price(ask),
                ask_volume=int(ask_size or 0),
                upper_limit=_price(upper),
                lower_limit=_price(lower),
            ),
        )


class TickBacktest:
    def __init__(
        self,
        strategy: Strategy,
        instrument: Instrument,
        config: BacktestConfig,
        *,
        bar_interval: Interval | None = Interval.M1,
        sessions: ProductSessions | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        # The contract's own terms are the truth about its P&L; the config adds the charges.
        self.terms = msgspec.structs.replace(
            config.terms,
            multiplier=float(instrument.multiplier),
            price_tick=instrument.price_tick,
        )
        config = msgspec.structs.replace(config, terms=self.terms)
        config.validate()
        self.strategy = strategy
        self.instrument = instrument
        self.config = config
        self.bar_interval = bar_interval
        self.ledger = Ledger(config.cash, [self.terms])
        calendar = calendar or load_calendar()
        sessions = sessions or load_sessions().for_product(instrument.product, instrument.exchange)
        self._locator = SessionLocator(sessions, calendar)
        catalogue = {instrument.key: instrument}
        self.exchange = MatchingEngine(
            catalogue,
            is_trading=lambda _key, ts: self._locator.locate(ts) is not None,
            market_slippage_ticks=round(self.terms.slippage_ticks),
        )
        self.triggers = TriggerBook(catalogue)
        self.bars = (
            None
            if bar_interval is None
            else InstrumentBars(
                instrument.symbol,
                instrument.exchange,
                sessions,
                calendar,
                (bar_interval,),
                price_tick=instrument.price_tick,
            )
        )
        self.view = BarView(instrument.symbol)
        self.indicators: list[IndicatorSlot] = []
        self.working: dict[str, OrderState] = {}
        self.rejected = 0
        self.mark = math.nan
        self.quote: Tick | None = None
        self.ts_ns = 0
        self.day: date | None = None
        self.sample = -1  # the equity sample the current tick's fills belong to
        self.ctx = TickContext(self)
        self._ids = count(1)

    # Called by the context -------------------------------------------------------------------

    def next_order_id(self) -> str:
        return f"O{next(self._ids)}"

    def equity(self) -> float:
        return self.ledger.cash + self.ledger.open_pnl([self.mark])

    def submit(self, order: OrderState) -> None:
        self.working[order.order_id] = order
        now = self.quote.ts if self.quote is not None else None
        if order.kind == "stop":
            # Stops need no quote to wait; the exchange never sees them until triggered.
            self.triggers.hold(self._domain(order, now or _EPOCH))
            order.status = "working"
            return
        if now is None:
            self._end(order, "rejected", "no tick yet: the exchange has no quote to match")
            return
        self._handle(self.exchange.submit(self._domain(order, now), now))

    def cancel(self, order_id: str) -> None:
        order = self.working.get(order_id)
        if order is None:
            return  # filled, cancelled or unknown: nothing left to cancel, as in the bar engine
        if self.triggers.cancel(order_id) is not None:
            self._end(order, "cancelled", "cancelled before its trigger")
            return
        if self.quote is not None:
            self._handle(self.exchange.cancel(order_id, self.quote.ts))

    def go(self, side: int) -> None:
        held = self.ledger.holdings[0].units
        current = 1 if held > 0.0 else -1 if held < 0.0 else 0
        if side == current:
            return
        if current != 0:
            self._send_market(-held)
        if side != 0:
            units = self._intent_units(side)
            if units < 1.0:
                self.rejected += 1
                return
            self._send_market(units * side)

    # The loop --------------------------------------------------------------------------------

    def run(self, ticks: pl.DataFrame) -> BacktestResult:
        samples = _Samples()
        held = self.ledger.holdings[0]
        self.strategy.on_start(self.ctx)
        self.ctx.started = True
        for ts_ns, tick in ticks_of(ticks, self.instrument):
            if samples.is_new(ts_ns):
                self.sample += 1
            self._on_tick(ts_ns, tick)
            day = (tick.trading_day - _EPOCH_DAY).days
            samples.record(ts_ns, day, self.equity(), held.units, self.mark)
        # The bar in progress when the data ends is closed: the batch bars include it too.
        if self.bars is not None:
            for bar in self.bars.flush():
                self._publish(bar)
        self.strategy.on_stop(self.ctx)
        # What on_bar or on_stop did after the last tick belongs to the last sample.
        samples.record(self.ts_ns, samples.days[-1], self.equity(), held.units, self.mark)
        return self._result(samples)

    def _on_tick(self, ts_ns: int, tick: Tick) -> None:
        if self.day is not None and tick.trading_day > self.day:
            self._expire_day(tick.ts)
        self.day = tick.trading_day
        self.ts_ns = ts_ns
        self.quote = tick
        priced = math.isfinite(tick.last_price) and tick.last_price > 0.0
        if priced:
            self.mark = tick.last_price
        self._handle(self.exchange.on_tick(tick))
        # Stops watch trades: a bad print or a tick after the close must not set one off.
        if priced and self._locator.locate(tick.ts) is not None:
            for released in self.triggers.on_tick(tick):
                # Triggered by this tick, it meets this tick's quote.
                self._handle(self.exchange.submit(released.send, tick.ts))
        if self.bars is not None:
            for bar in (*self.bars.on_clock(tick.ts), *self.bars.update(tick)):
                self._publish(bar)
        self.strategy.on_tick(self.ctx, tick)

    def _publish(self, bar: Bar) -> None:
        view = self.view
        view.index += 1
        view.ts_ns = (bar.start - _EPOCH) // timedelta(microseconds=1) * 1_000
        view.day = (bar.trading_day - _EPOCH_DAY).days
        view.open, view.high, view.low, view.close = bar.open, bar.high, bar.low, bar.close
        view.volume = float(bar.volume)
        view.open_interest = bar.open_interest
        view.last_of_day = self._last_of_day(bar)
        for slot in self.indicators:
            slot.update(view)
        self.strategy.on_bar(self.ctx, view)

    def _last_of_day(self, bar: Bar) -> bool:
        """Whether the bar ends with its trading day's last session (from the calendar: a
        stream cannot look ahead for the next bar's day)."""
        if bar.interval is Interval.D1:
            return True
        last = self._locator.windows(bar.trading_day)[-1]
        return bar.start + bar.interval.duration >= last.end

    def _expire_day(self, now: datetime) -> None:
        self._handle(self.exchange.expire_day(now))
        for held in self.triggers.held():
            self.triggers.cancel(held.id)
            order = self.working.get(held.id)
            if order is not None:
                self._end(order, "expired", "the trading day ended")

    # Orders ----------------------------------------------------------------------------------

    def _domain(self, order: OrderState, now: datetime) -> Order:
        kind = _KINDS[order.kind]
        return Order(
            id=order.order_id,
            client_order_id=order.order_id,
            account_id="backtest",
            symbol=self.instrument.symbol,
            exchange=self.instrument.exchange,
            side=Side.BUY if order.volume > 0 else Side.SELL,
            # The ledger nets a position: whether a fill opens or closes is its business.
            offset=Offset.OPEN,
            type=kind,
            volume=round(abs(order.volume)),
            created_at=now,
            updated_at=now,
            price=order.price if kind is OrderType.LIMIT else None,
            trigger_price=order.price if kind is OrderType.STOP else None,
        )

    def _send_market(self, units: float) -> None:
        order = OrderState(
            order_id=self.next_order_id(),
            symbol=self.instrument.symbol,
            index=0,
            owner=0,
            volume=units,
            kind="market",
            price=None,
        )
        self.submit(order)

    def _intent_units(self, side: int) -> float:
        """Units of a `go_*` entry by the size rule, priced at the displayed opposite price
        (the last price when that side is empty) moved by the slippage, as the bar engine
        prices a unit's margin and opening commission."""
        quote = self.quote
        opposite = None if quote is None else quote.ask_price if side > 0 else quote.bid_price
        reference = opposite if opposite is not None else self.mark
        if not (math.isfinite(reference) and reference > 0.0):
            return 0.0
        terms = self.terms
        entry = reference + terms.slippage_ticks * terms.price_tick * side
        rate = 1.0 if terms.margin_rate is None else terms.margin_rate
        unit_cost = entry * terms.multiplier * rate + self.ledger.commission(
            0, 1.0, entry, closing_today=False
        )
        available = self.equity() - self.ledger.used_margin([self.mark])
        size = self.config.size
        units = (
            math.floor(size.value * available / unit_cost) if size.mode == "equity" else size.value
        )
        if available <= 0.0 or units * unit_cost > available * (1.0 + 1e-12):
            return 0.0
        return float(units)

    def _handle(self, reports: list[Report]) -> None:
        for report in reports:
            order = self.working.get(report.order_id)
            if order is None:
                continue  # a refused cancel of an order already done
            event = report.event
            if isinstance(event, Filled):
                units = float(event.volume) if order.volume > 0 else -float(event.volume)
                self._book_fill(order, units, event.price)
            elif isinstance(event, Accepted):
                if order.status == "submitted":
                    order.status = "working"
            elif isinstance(event, Cancelled):
                self._end(order, "cancelled", event.reason or "")
            elif isinstance(event, Expired):
                self._end(order, "expired", "the trading day ended")
            elif isinstance(event, Rejected):
                self._end(order, "rejected", event.reason)

    def _end(self, order: OrderState, status: str, reason: str) -> None:
        if status == "rejected":
            self.rejected += 1
        order.status, order.reason = status, reason
        self.working.pop(order.order_id, None)
        self.strategy.on_order(self.ctx, order)

    def _book_fill(self, order: OrderState, units: float, price: float) -> None:
        assert self.day is not None  # for mypy: fills come from ticks
        day = (self.day - _EPOCH_DAY).days
        commission = self.ledger.fill_commission(0, units, price, day)
        self.ledger.apply(0, units, price, commission, bar=self.sample, day=day)
        order.filled += units
        done = abs(order.filled - order.volume) < 0.5
        order.status = "filled" if done else "partially_filled"
        if done:
            self.working.pop(order.order_id, None)
        trade = TradeEvent(
            order_id=order.order_id,
            symbol=order.symbol,
            volume=units,
            price=price,
            commission=commission,
            ts_ns=self.ts_ns,
        )
        self.strategy.on_trade(self.ctx, trade)
        self.strategy.on_order(self.ctx, order)

    # The result ------------------------------------------------------------------------------

    def _result(self, samples: _Samples) -> BacktestResult:
        config = self.config
        ts_ns = np.array(samples.ts_ns, dtype=np.int64)
        trading_days = np.array(samples.days, dtype=np.int32)
        equity = np.array(samples.equity, dtype=np.float64)
        positions = np.array(samples.positions, dtype=np.float64).reshape(-1, 1)
        prices = np.array(samples.marks, dtype=np.float64)
        trades = self.ledger.trade_log(ts_ns)
        metrics = compute_metrics_arrays(
            EquitySeries(
                timestamps=ts_ns,
                equity=np.maximum(equity, config.cash * 1e-6),
                trading_days=trading_days,
                in_market=positions[:, 0] != 0.0,
                # Buy-and-hold of the last price, once every sample has one.
                benchmark=prices if bool(np.all(prices > 0.0)) else None,
            ),
            trades.table,
            Settings(
                starting_cash=config.cash,
                periods_per_year=config.periods_per_year,
                risk_free_rate=config.risk_free_rate,
            ),
            daily=False,
        )
        held = self.ledger.holdings[0]
        opened = (
            ()
            if held.units == 0.0
            else (
                OpenPosition(
                    symbol=self.instrument.symbol,
                    units=held.units,
                    entry_price=held.entry_price,
                    entry_bar=held.entry_bar,
                    mark=self.mark,
                ),
            )
        )
        return BacktestResult(
            symbols=(self.instrument.symbol,),
            ts_ns=ts_ns,
            trading_days=trading_days,
            equity=equity,
            positions=positions,
            trades=trades,
            fills=self.ledger.fill_log(),
            open_positions=opened,
            cash=config.cash,
            rejected_orders=self.rejected,
            metrics=metrics,
        )


def run_ticks(
    strategy: Strategy,
    ticks: pl.DataFrame,
    instrument: Instrument,
    config: BacktestConfig,
    *,
    bar_interval: Interval | None = Interval.M1,
    sessions: ProductSessions | None = None,
    calendar: TradingCalendar | None = None,
) -> BacktestResult:
    """Run a strategy over one instrument's ticks (a `shared.bars` tick frame with
    `trading_day`, `bid_price`, `bid_volume`, `ask_price` and `ask_volume`), its orders filled
    by the paper exchange; with `bar_interval` it also gets that interval's bars in `on_bar`.
    Sessions and calendar default to the shipped ones for the instrument's product."""
    engine = TickBacktest(
        strategy,
        instrument,
        config,
        bar_interval=bar_interval,
        sessions=sessions,
        calendar=calendar,
    )
    return engine.run(ticks)
