"""The tick-driven engine: a `Strategy` trades one instrument, or a portfolio of several on one
account, against the paper exchange, tick by tick, its orders filled as
`shared.matching.MatchingEngine` decides from the quotes.

The feeds' ticks merge in time order (feed order at equal stamps). Per tick:
1. A later trading day first expires the day's working orders (limits and held stops) of every
   instrument, as the exchange ends DAY orders at the close.
2. The paper exchange sees the tick: the tick's instrument's resting limit orders fill (whole
   or in part) from the quote and what traded since its previous tick; then its stop orders
   whose trigger the last price reached are sent as market orders
   (`shared.orders.TriggerBook`, as the gateway's paper broker does).
3. With `bar_interval`, the bars of the tick's instrument this tick (or the clock at its time)
   closed, built by its live builder (`shared.bars.InstrumentBars`), reach `on_bar` after its
   streaming indicators update. They come before `on_tick` because they ended before this
   tick began. Only an instrument's own ticks close its bars, as in a run of it alone.
4. `strategy.on_tick(ctx, tick)`.
5. Equity (cash plus each holding's open P&L at its own last price) and the positions are
   recorded.

Orders meet the exchange when they are placed, against their instrument's latest tick: a
market order takes the displayed opposite price (moved by the slippage ticks) for at most the
displayed volume, the rest cancelled; a limit order takes what is displayed at or better than
its price and rests for the rest; a stop waits for its instrument's last price to reach its
trigger. An instrument without a tick yet, or none yet in the current trading day, has no quote
to trade at. `go_long`, `go_short` and `go_flat` close the position with a market order, then
open the new one with another, sized by the config's rule at that moment from the displayed
price; what the displayed volume cannot fill is cancelled, not retried.

Ticks sharing a timestamp are one sample of the equity curve (the last one's state), so the
result's timestamps are strictly increasing; fills are stamped with their tick's sample.
Ticks are matched only within their instrument's trading sessions (auction and closing second
included), and each instrument's multiplier and price tick override the config's terms.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import count
from operator import itemgetter

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from shared.analytics import EquitySeries, Settings, compute_metrics_arrays
from shared.backtest._config import BacktestConfig, BacktestError
from shared.backtest._event_context import IndicatorSlot
from shared.backtest._event_orders import OrderState, TradeEvent, utc
from shared.backtest._ledger import Ledger
from shared.backtest._result import BacktestResult, OpenPosition, in_market
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
    their point, so the curve keeps the state after the last of them. Positions and marks are
    kept flat, one value per instrument a point, as cheap to append for one as for several."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.ts_ns: list[int] = []
        self.days: list[int] = []
        self.equity: list[float] = []
        self.positions: list[float] = []
        self.marks: list[float] = []

    def record(
        self, ts_ns: int, day: int, equity: float, units: list[float], marks: list[float]
    ) -> None:
        if not self.ts_ns or ts_ns != self.ts_ns[-1]:
            self.ts_ns.append(ts_ns)
            self.days.append(day)
            self.equity.append(equity)
            self.positions.extend(units)
            self.marks.extend(marks)
        else:
            width = self.width
            self.days[-1], self.equity[-1] = day, equity
            self.positions[-width:] = units
            self.marks[-width:] = marks


def ticks_of(
    frame: pl.DataFrame, instrument: Instrument, label: str = ""
) -> Iterator[tuple[int, Tick]]:
    """(epoch ns, Tick) per row of a tick frame with quotes and their sizes. `label` prefixes
    the errors, so a portfolio says which feed is at fault."""
    missing = [name for name in _REQUIRED if name not in frame.columns]
    if missing:
        raise BacktestError(f"{label}the tick frame lacks {', '.join(missing)}", "ticks")
    if frame.height == 0:
        raise BacktestError(f"{label}give at least one tick", "ticks")
    stamps = frame.get_column("ts").dt.epoch("ns")
    if bool((stamps.diff().drop_nulls() < 0).any()):
        raise BacktestError(f"{label}ticks must be in time order", "ticks")
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


def _tagged(leg: _Leg, frame: pl.DataFrame, label: str) -> Iterator[tuple[int, _Leg, Tick]]:
    for ts_ns, tick in ticks_of(frame, leg.instrument, label):
        yield ts_ns, leg, tick


def _benchmark(marks: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """Buy-and-hold of the last prices: one instrument's own price once every sample has one;
    several, equal-weighted, each from its first price (held back to the start, as the bar
    engine's grid does), so instruments of different price levels weigh alike."""
    if marks.shape[1] == 1:
        prices = marks[:, 0]
        return prices if bool(np.all(prices > 0.0)) else None
    steps = np.arange(marks.shape[0])
    normalised = np.empty_like(marks)
    for j in range(marks.shape[1]):
        column = marks[:, j]
        valid = np.isfinite(column)
        if not bool(valid.any()):
            return None
        latest = np.where(valid, steps, 0)
        np.maximum.accumulate(latest, out=latest)
        first = float(column[valid][0])
        normalised[:, j] = np.where(steps < np.argmax(valid), first, column[latest]) / first
    mean: npt.NDArray[np.float64] = normalised.mean(axis=1)
    return mean


class _Leg:
    """One instrument of a run: its sessions, quote, live bars and the strategies hearing it."""

    __slots__ = (
        "bars",
        "index",
        "indicators",
        "instrument",
        "listeners",
        "locator",
        "quote",
        "view",
    )

    def __init__(
        self,
        index: int,
        instrument: Instrument,
        sessions: ProductSessions,
        calendar: TradingCalendar,
        bar_interval: Interval | None,
    ) -> None:
        self.index = index
        self.instrument = instrument
        self.locator = SessionLocator(sessions, calendar)
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
        self.quote: Tick | None = None
        self.listeners: list[int] = []


class TickBacktest:
    """One account trading one or several instruments tick by tick. Given one strategy, it
    hears every instrument (its default symbol the first); given one per instrument, each
    hears and defaults to its own, as in the bar engine."""

    def __init__(
        self,
        strategy: Strategy | Sequence[Strategy],
        instrument: Instrument | Sequence[Instrument],
        config: BacktestConfig,
        *,
        bar_interval: Interval | None = Interval.M1,
        sessions: ProductSessions | Sequence[ProductSessions | None] | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        instruments = [instrument] if isinstance(instrument, Instrument) else list(instrument)
        if not instruments:
            raise BacktestError("give at least one instrument", "instruments")
        symbols = [item.symbol for item in instruments]
        if len(set(symbols)) != len(symbols):
            # The context selects an instrument by its symbol: two alike would be one.
            raise BacktestError(f"each symbol once, got {', '.join(symbols)}", "instruments")
        overrides = (
            [sessions] * len(instruments)
            if sessions is None or isinstance(sessions, ProductSessions)
            else list(sessions)
        )
        if len(overrides) != len(instruments):
            raise BacktestError("give sessions for every instrument, or none", "sessions")
        # The contract's own terms are the truth about its P&L; the config adds the charges.
        self.terms = [
            msgspec.structs.replace(
                config.terms, multiplier=float(item.multiplier), price_tick=item.price_tick
            )
            for item in instruments
        ]
        for terms in self.terms:
            msgspec.structs.replace(config, terms=terms).validate()
        config = msgspec.structs.replace(config, terms=self.terms[0])
        self.config = config
        self.bar_interval = bar_interval
        self.ledger = Ledger(config.cash, self.terms)
        calendar = calendar or load_calendar()
        shipped = None
        self.legs: list[_Leg] = []
        for j, (item, override) in enumerate(zip(instruments, overrides, strict=True)):
            if override is None:
                shipped = shipped or load_sessions()
                own = shipped.for_product(item.product, item.exchange)
            else:
                own = override
            self.legs.append(_Leg(j, item, own, calendar, bar_interval))
        by_key = {leg.instrument.key: leg for leg in self.legs}
        catalogue = {key: leg.instrument for key, leg in by_key.items()}
        # One exchange for the account: each instrument has its own book in it and trades
        # only within its own sessions.
        self.exchange = MatchingEngine(
            catalogue,
            is_trading=lambda key, ts: by_key[key].locator.locate(ts) is not None,
            market_slippage_ticks=round(config.terms.slippage_ticks),
        )
        self.triggers = TriggerBook(catalogue)
        if isinstance(strategy, Strategy):
            self.agents = [(strategy, TickContext(self, 0, 0))]
            for leg in self.legs:
                leg.listeners = [0]
        else:
            if len(strategy) != len(self.legs):
                raise BacktestError("give one strategy, or one per instrument", "strategy")
            self.agents = [(item, TickContext(self, j, j)) for j, item in enumerate(strategy)]
            for leg in self.legs:
                leg.listeners = [leg.index]
        self.marks = [math.nan] * len(self.legs)
        self.working: dict[str, OrderState] = {}
        self.rejected = 0
        self.now: datetime | None = None  # the time of the tick being handled
        self.ts_ns = 0
        self.day: date | None = None
        self.sample = -1  # the equity sample the current tick's fills belong to
        self._ids = count(1)

    # Called by the context -------------------------------------------------------------------

    def next_order_id(self) -> str:
        return f"O{next(self._ids)}"

    def equity(self) -> float:
        return self.ledger.cash + self.ledger.open_pnl(self.marks)

    def submit(self, order: OrderState) -> None:
        self.working[order.order_id] = order
        now = self.now
        if order.kind == "stop":
            # Stops need no quote to wait; the exchange never sees them until triggered.
            self.triggers.hold(self._domain(order, now or _EPOCH))
            order.status = "working"
            return
        leg = self.legs[order.index]
        if now is None or leg.quote is None:
            missing = "" if len(self.legs) == 1 else f" of {leg.instrument.symbol}"
            self._end(
                order, "rejected", f"no tick{missing} yet: the exchange has no quote to match"
            )
            return
        if self.day is not None and leg.quote.trading_day < self.day:
            # Another feed opened the day first; yesterday's close is no price to trade at.
            reason = f"no tick of {leg.instrument.symbol} yet this trading day: its quote is stale"
            self._end(order, "rejected", reason)
            return
        self._handle(self.exchange.submit(self._domain(order, now), now))

    def cancel(self, order_id: str) -> None:
        order = self.working.get(order_id)
        if order is None:
            return  # filled, cancelled or unknown: nothing left to cancel, as in the bar engine
        if self.triggers.cancel(order_id) is not None:
            self._end(order, "cancelled", "cancelled before its trigger")
            return
        if self.now is not None:
            self._handle(self.exchange.cancel(order_id, self.now))

    def go(self, j: int, side: int, owner: int) -> None:
        held = self.ledger.holdings[j].units
        current = 1 if held > 0.0 else -1 if held < 0.0 else 0
        if side == current:
            return
        if current != 0:
            self._send_market(j, -held, owner)
        if side != 0:
            units = self._intent_units(j, side)
            if units < 1.0:
                self.rejected += 1
                return
            self._send_market(j, units * side, owner)

    # The loop --------------------------------------------------------------------------------

    def run(self, ticks: pl.DataFrame | Sequence[pl.DataFrame]) -> BacktestResult:
        frames = [ticks] if isinstance(ticks, pl.DataFrame) else list(ticks)
        if len(frames) != len(self.legs):
            raise BacktestError("give one tick frame per instrument", "ticks")
        samples = _Samples(len(self.legs))
        holdings = self.ledger.holdings
        marks = self.marks
        for strategy, ctx in self.agents:
            strategy.on_start(ctx)
            ctx.started = True
        last: int | None = None
        for ts_ns, leg, tick in self._stream(frames):
            if ts_ns != last:
                self.sample += 1
                last = ts_ns
            self._on_tick(ts_ns, leg, tick)
            day = (tick.trading_day - _EPOCH_DAY).days
            samples.record(ts_ns, day, self.equity(), [h.units for h in holdings], marks)
        # The bar in progress when the data ends is closed: the batch bars include it too.
        for leg in self.legs:
            if leg.bars is not None:
                for bar in leg.bars.flush():
                    self._publish(leg, bar)
        for strategy, ctx in self.agents:
            strategy.on_stop(ctx)
        # What on_bar or on_stop did after the last tick belongs to the last sample.
        units = [h.units for h in holdings]
        samples.record(self.ts_ns, samples.days[-1], self.equity(), units, marks)
        return self._result(samples)

    def _stream(self, frames: list[pl.DataFrame]) -> Iterator[tuple[int, _Leg, Tick]]:
        """The feeds' ticks in time order; at equal stamps in feed order (`heapq.merge` takes
        from the earlier iterable first on a tie)."""
        if len(self.legs) == 1:
            return _tagged(self.legs[0], frames[0], "")
        streams = [
            _tagged(leg, frame, f"{leg.instrument.symbol}: ")
            for leg, frame in zip(self.legs, frames, strict=True)
        ]
        return heapq.merge(*streams, key=itemgetter(0))

    def _on_tick(self, ts_ns: int, leg: _Leg, tick: Tick) -> None:
        if self.day is not None and tick.trading_day != self.day:
            if tick.trading_day > self.day:
                self._expire_day(tick.ts)
            elif len(self.legs) > 1:
                # One account has one trading day: feeds that disagree would expire orders
                # back and forth, and book fills on the wrong day.
                raise BacktestError(
                    f"{leg.instrument.symbol}: a tick at {tick.ts} is of trading day "
                    f"{tick.trading_day}, another feed's ticks before it of {self.day}",
                    "trading_day",
                )
        self.day = tick.trading_day
        self.ts_ns = ts_ns
        self.now = tick.ts
        leg.quote = tick
        priced = math.isfinite(tick.last_price) and tick.last_price > 0.0
        if priced:
            self.marks[leg.index] = tick.last_price
        self._handle(self.exchange.on_tick(tick))
        # Stops watch trades: a bad print or a tick after the close must not set one off.
        if priced and leg.locator.locate(tick.ts) is not None:
            for released in self.triggers.on_tick(tick):
                # Triggered by this tick, it meets this tick's quote.
                self._handle(self.exchange.submit(released.send, tick.ts))
        # An instrument's bars close on its own ticks only, as in a run of it alone: another
        # feed's ticks must not change when (and against which quote) its strategy acts.
        if leg.bars is not None:
            for bar in (*leg.bars.on_clock(tick.ts), *leg.bars.update(tick)):
                self._publish(leg, bar)
        for agent in leg.listeners:
            strategy, ctx = self.agents[agent]
            strategy.on_tick(ctx, tick)

    def _publish(self, leg: _Leg, bar: Bar) -> None:
        view = leg.view
        view.index += 1
        view.ts_ns = (bar.start - _EPOCH) // timedelta(microseconds=1) * 1_000
        view.day = (bar.trading_day - _EPOCH_DAY).days
        view.open, view.high, view.low, view.close = bar.open, bar.high, bar.low, bar.close
        view.volume = float(bar.volume)
        view.open_interest = bar.open_interest
        view.last_of_day = self._last_of_day(leg, bar)
        for slot in leg.indicators:
            slot.update(view)
        for agent in leg.listeners:
            strategy, ctx = self.agents[agent]
            strategy.on_bar(ctx, view)

    @staticmethod
    def _last_of_day(leg: _Leg, bar: Bar) -> bool:
        """Whether the bar ends with its trading day's last session (from the calendar: a
        stream cannot look ahead for the next bar's day)."""
        if bar.interval is Interval.D1:
            return True
        last = leg.locator.windows(bar.trading_day)[-1]
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
        instrument = self.legs[order.index].instrument
        return Order(
            id=order.order_id,
            client_order_id=order.order_id,
            account_id="backtest",
            symbol=instrument.symbol,
            exchange=instrument.exchange,
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

    def _send_market(self, j: int, units: float, owner: int) -> None:
        order = OrderState(
            order_id=self.next_order_id(),
            symbol=self.legs[j].instrument.symbol,
            index=j,
            owner=owner,
            volume=units,
            kind="market",
            price=None,
        )
        self.submit(order)

    def _intent_units(self, j: int, side: int) -> float:
        """Units of a `go_*` entry by the size rule, priced at the displayed opposite price
        (the last price when that side is empty) moved by the slippage, as the bar engine
        prices a unit's margin and opening commission."""
        quote = self.legs[j].quote
        opposite = None if quote is None else quote.ask_price if side > 0 else quote.bid_price
        reference = opposite if opposite is not None else self.marks[j]
        if not (math.isfinite(reference) and reference > 0.0):
            return 0.0
        terms = self.terms[j]
        entry = reference + terms.slippage_ticks * terms.price_tick * side
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
        strategy, ctx = self.agents[order.owner]
        strategy.on_order(ctx, order)

    def _book_fill(self, order: OrderState, units: float, price: float) -> None:
        assert self.day is not None  # for mypy: fills come from ticks
        day = (self.day - _EPOCH_DAY).days
        j = order.index
        commission = self.ledger.fill_commission(j, units, price, day)
        self.ledger.apply(j, units, price, commission, bar=self.sample, day=day)
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
        strategy, ctx = self.agents[order.owner]
        strategy.on_trade(ctx, trade)
        strategy.on_order(ctx, order)

    # The result ------------------------------------------------------------------------------

    def _result(self, samples: _Samples) -> BacktestResult:
        config = self.config
        width = samples.width
        ts_ns = np.array(samples.ts_ns, dtype=np.int64)
        trading_days = np.array(samples.days, dtype=np.int32)
        equity = np.array(samples.equity, dtype=np.float64)
        positions = np.array(samples.positions, dtype=np.float64).reshape(-1, width)
        marks = np.array(samples.marks, dtype=np.float64).reshape(-1, width)
        trades = self.ledger.trade_log(ts_ns)
        metrics = compute_metrics_arrays(
            EquitySeries(
                timestamps=ts_ns,
                equity=np.maximum(equity, config.cash * 1e-6),
                trading_days=trading_days,
                in_market=in_market(positions),
                benchmark=_benchmark(marks),
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
                symbol=leg.instrument.symbol,
                units=held.units,
                entry_price=held.entry_price,
                entry_bar=held.entry_bar,
                mark=self.marks[leg.index],
            )
            for leg, held in zip(self.legs, self.ledger.holdings, strict=True)
            if held.units != 0.0
        )
        return BacktestResult(
            symbols=tuple(leg.instrument.symbol for leg in self.legs),
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


# An instrument and its tick frame, optionally with its sessions (default: the shipped ones).
TickFeed = tuple[Instrument, pl.DataFrame] | tuple[Instrument, pl.DataFrame, ProductSessions | None]


def run_tick_portfolio(
    strategy: Strategy | Callable[[], Strategy],
    feeds: Sequence[TickFeed],
    config: BacktestConfig,
    *,
    bar_interval: Interval | None = Interval.M1,
    calendar: TradingCalendar | None = None,
) -> BacktestResult:
    """Run a strategy over several instruments' ticks, one account for all, as `run_ticks`
    runs one: the feeds merge in time order (feed order at equal stamps) and equity is sampled
    once per distinct stamp. A strategy instance hears every feed, `symbol=None` meaning the
    first; given a factory, one new instance per feed trades that feed, as
    `run_event_driven` runs a portfolio of bars."""
    items = list(feeds)
    if not items:
        raise BacktestError("give at least one feed", "feeds")
    instruments = [feed[0] for feed in items]
    frames = [feed[1] for feed in items]
    sessions = [feed[2] if len(feed) == 3 else None for feed in items]
    strategies = strategy if isinstance(strategy, Strategy) else [strategy() for _ in items]
    engine = TickBacktest(
        strategies,
        instruments,
        config,
        bar_interval=bar_interval,
        sessions=sessions,
        calendar=calendar,
    )
    return engine.run(frames)
