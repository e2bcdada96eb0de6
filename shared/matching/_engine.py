"""The paper exchange's matching engine: orders against the best bid and ask of each tick.

It is pure and synchronous: the caller passes the time (or the tick carries it), the session
calendar and the trade ids are injected, and every call answers with the lifecycle events a
real venue would send, in the order they happened. Resting orders trade only against the
market's quotes and trades, never against each other: the account's own orders are invisible
to the real market, so matching them would invent liquidity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from shared.domain import (
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    TimeInForce,
    round_to_tick,
)
from shared.matching._book import (
    SideView,
    is_price,
    queue_ahead,
    side_view,
    signed_ticks,
    take_opposite,
    traded_since,
    unsigned_ticks,
)
from shared.matching._report import Report
from shared.matching._resting import Resting, match_resting
from shared.matching._rules import (
    always_trading,
    instrument_key,
    limit_price,
    refusal,
    sequence,
    slipped,
)
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Expired,
    Filled,
    OrderLifecycleEvent,
    Rejected,
    apply,
)

_RESTORABLE = frozenset({OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED})


class MatchingEngine:
    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        is_trading: Callable[[str, datetime], bool] = always_trading,
        market_slippage_ticks: int = 0,
        trade_ids: Callable[[], str] | None = None,
    ) -> None:
        for key, instrument in instruments.items():
            if key != instrument.key:
                raise ValueError(f"instrument {instrument.key} is filed under {key!r}")
        if market_slippage_ticks < 0:
            raise ValueError(f"`market_slippage_ticks` must be >= 0, got {market_slippage_ticks}")
        self._instruments = dict(instruments)
        self._is_trading = is_trading
        self._slippage = market_slippage_ticks
        self._trade_ids = trade_ids or sequence("P")
        self._venue_ids = sequence("V")
        self._quotes: dict[str, Tick] = {}
        # Per instrument key, the resting orders by id, in arrival order (time priority).
        self._books: dict[str, dict[str, Resting]] = {}

    def working_order(self, order_id: str) -> Order | None:
        """The engine's copy of a resting order, or None when it is not working here."""
        for book in self._books.values():
            if order_id in book:
                return book[order_id].order
        return None

    def submit(self, order: Order, now: datetime) -> list[Report]:
        if order.status is not OrderStatus.PENDING_NEW or order.filled_volume:
            raise ValueError(f"order {order.id} is {order.status}; only new orders are submitted")
        if self.working_order(order.id) is not None:
            raise ValueError(f"order {order.id} is already working")
        reports: list[Report] = []
        key = instrument_key(order)
        instrument = self._instruments.get(key)
        # The calendar is asked only about instruments it can know.
        session_open = instrument is not None and self._is_trading(key, now)
        reason = refusal(order, instrument, self._quotes.get(key), session_open=session_open)
        if reason is not None:
            _emit(order, Rejected(ts=now, reason=reason), reports)
            return reports
        assert instrument is not None  # for mypy: `refusal` refuses unknown instruments
        order = _emit(order, Accepted(ts=now, venue_order_id=self._venue_ids()), reports)
        view = side_view(self._quotes[key], order.side, instrument.price_tick)
        if order.type is OrderType.MARKET:
            self._match_market(order, instrument, view, now, reports)
            return reports
        level = signed_ticks(limit_price(order), order.side, instrument.price_tick)
        if view.opposite is not None and level >= view.opposite:
            if (why := _fok_short(order, view)) is not None:
                _emit(order, Cancelled(ts=now, reason=why), reports)
                return reports
            # A marketable limit takes the displayed price, which is at least as good as its own.
            price = unsigned_ticks(view.opposite, order.side) * instrument.price_tick
            volume = min(order.remaining_volume, view.opposite_volume)
            order = self._fill(order, price, volume, now, reports, displayed=True)
        if order.status.is_terminal:
            return reports
        if order.time_in_force is not TimeInForce.DAY:
            why = f"{order.time_in_force.upper()}: nothing more to match at the limit"
            _emit(order, Cancelled(ts=now, reason=why), reports)
            return reports
        view = side_view(self._quotes[key], order.side, instrument.price_tick)
        resting = Resting(order=order, level=level, ahead=queue_ahead(level, view, None))
        self._books.setdefault(key, {})[order.id] = resting
        return reports

    def restore(self, order: Order) -> None:
        """Put back a DAY limit order that rested here before a restart took the engine's
        memory: at the back of its price's queue, the only place it can claim. No events:
        the order is as its owner last heard."""
        if order.status not in _RESTORABLE:
            raise ValueError(f"order {order.id} is {order.status}; only working orders rest")
        if order.type is not OrderType.LIMIT or order.time_in_force is not TimeInForce.DAY:
            raise ValueError(f"order {order.id}: only DAY limit orders rest in the book")
        key = instrument_key(order)
        instrument = self._instruments.get(key)
        if instrument is None:
            raise ValueError(f"{key} is not in the catalogue")
        level = signed_ticks(limit_price(order), order.side, instrument.price_tick)
        self._books.setdefault(key, {})[order.id] = Resting(order=order, level=level, ahead=None)

    def cancel(self, order_id: str, now: datetime) -> list[Report]:
        for book in self._books.values():
            resting = book.pop(order_id, None)
            if resting is not None:
                return [Report(order_id=order_id, event=Cancelled(ts=now))]
        why = "not a working order here (unknown, or already filled, cancelled or expired)"
        return [Report(order_id=order_id, event=CancelRejected(ts=now, reason=why))]

    def expire_day(self, now: datetime) -> list[Report]:
        """The trading day ended: every resting DAY order expires (nothing else rests)."""
        reports = [
            Report(order_id=order_id, event=Expired(ts=now))
            for book in self._books.values()
            for order_id in book
        ]
        self._books.clear()
        return reports

    def on_tick(self, tick: Tick) -> list[Report]:
        key = f"{tick.exchange}.{tick.symbol}"
        instrument = self._instruments.get(key)
        if instrument is None:
            return []  # the feed carries more than this exchange lists
        traded = traded_since(self._quotes.get(key), tick)
        self._quotes[key] = tick
        book = self._books.get(key)
        if not book or not self._is_trading(key, tick.ts):
            return []  # auctions and breaks show quotes, but nothing trades against them
        reports: list[Report] = []
        # What traded at the last price is shared by the orders queued there, per side.
        taken_at_last = {Side.BUY: 0, Side.SELL: 0}
        for resting in sorted(book.values(), key=lambda r: -r.level):
            updated = self._match_resting(
                resting, tick, reports, traded=traded, taken_at_last=taken_at_last
            )
            if updated.order.status.is_terminal:
                del book[updated.order.id]
            else:
                book[updated.order.id] = updated
        return reports

    def _match_market(
        self,
        order: Order,
        instrument: Instrument,
        view: SideView,
        now: datetime,
        reports: list[Report],
    ) -> None:
        # Chinese exchanges' market orders never rest: what the best level cannot fill is cancelled.
        if view.opposite is None:
            quote = "ask" if order.side is Side.BUY else "bid"
            _emit(order, Cancelled(ts=now, reason=f"no {quote} to match a market order"), reports)
            return
        if (why := _fok_short(order, view)) is not None:
            _emit(order, Cancelled(ts=now, reason=why), reports)
            return
        best = unsigned_ticks(view.opposite, order.side)
        tick = self._quotes[instrument.key]
        ticks = slipped(best, order.side, self._slippage, tick, instrument.price_tick)
        volume = min(order.remaining_volume, view.opposite_volume)
        price = ticks * instrument.price_tick
        order = self._fill(order, price, volume, now, reports, displayed=True)
        if not order.status.is_terminal:
            why = f"market order: {order.remaining_volume} left after the displayed volume"
            _emit(order, Cancelled(ts=now, reason=why), reports)

    def _match_resting(
        self,
        resting: Resting,
        tick: Tick,
        reports: list[Report],
        *,
        traded: int,
        taken_at_last: dict[Side, int],
    ) -> Resting:
        order = resting.order
        price_tick = self._instruments[instrument_key(order)].price_tick
        # The last price says where the market traded only if something traded since the
        # previous tick; otherwise it is old news from before the order rested.
        fresh = traded > 0 and is_price(tick.last_price)
        match = match_resting(
            resting,
            side_view(tick, order.side, price_tick),
            side_view(self._quotes[instrument_key(order)], order.side, price_tick),
            last=signed_ticks(tick.last_price, order.side, price_tick) if fresh else None,
            traded=traded,
            taken=taken_at_last[order.side],
        )
        if match.improved and match.improved_at is not None:
            better = unsigned_ticks(match.improved_at, order.side) * price_tick
            order = self._fill(order, better, match.improved, tick.ts, reports, displayed=True)
        price = limit_price(order)
        if match.traded:
            taken_at_last[order.side] += match.traded
            order = self._fill(order, price, match.traded, tick.ts, reports)
        if match.displayed:
            order = self._fill(order, price, match.displayed, tick.ts, reports, displayed=True)
        return Resting(order=order, level=resting.level, ahead=match.ahead)

    def _fill(
        self,
        order: Order,
        price: float,
        volume: int,
        ts: datetime,
        reports: list[Report],
        *,
        displayed: bool = False,
    ) -> Order:
        """Fill ``volume`` lots; ``displayed`` fills also use up the quote they took."""
        instrument = self._instruments[instrument_key(order)]
        event = Filled(
            ts=ts,
            trade_id=self._trade_ids(),
            price=round_to_tick(price, instrument.price_tick),
            volume=volume,
        )
        order = _emit(order, event, reports)  # `apply` raises before an overfill is reported
        if displayed:
            # Until the next tick, the lots just taken are gone from the displayed level.
            quote = self._quotes[instrument.key]
            self._quotes[instrument.key] = take_opposite(quote, order.side, volume)
        return order


def _emit(order: Order, event: OrderLifecycleEvent, reports: list[Report]) -> Order:
    updated = apply(order, event)
    reports.append(Report(order_id=order.id, event=event))
    return updated


def _fok_short(order: Order, view: SideView) -> str | None:
    """Why a fill-or-kill order cannot fill at once in full, or None when it can."""
    if order.time_in_force is not TimeInForce.FOK or view.opposite_volume >= order.volume:
        return None
    return f"FOK: {view.opposite_volume} displayed at the best, {order.volume} needed"
