"""Live bars for every instrument the venue streams, at the intervals the gateway publishes.

Each instrument gets its `InstrumentBars` on its first tick, with the product's sessions and
price tick. An instrument whose product has no known sessions gets no bars (said once in the
log), since bars cut at the wrong times are worse than none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from shared.bars import InstrumentBars
from shared.domain import Bar, Exchange, Interval, Tick
from shared.instruments import ProductCatalogue
from shared.sessions import SessionCatalog, TradingCalendar, UnknownProductError

log = logging.getLogger(__name__)

DEFAULT_INTERVALS = (
    Interval.M1,
    Interval.M5,
    Interval.M15,
    Interval.M30,
    Interval.H1,
    Interval.D1,
)


class LiveBars:
    def __init__(
        self,
        sessions: SessionCatalog,
        calendar: TradingCalendar,
        products: ProductCatalogue,
        intervals: Iterable[Interval] = DEFAULT_INTERVALS,
    ) -> None:
        self._sessions = sessions
        self._calendar = calendar
        self._products = products
        self.intervals = tuple(dict.fromkeys(intervals))
        self._by_key: dict[tuple[Exchange, str], InstrumentBars | None] = {}

    def update(self, tick: Tick) -> list[Bar]:
        """The bars this tick closed."""
        key = (tick.exchange, tick.symbol)
        bars = self._by_key.get(key)
        if bars is None:
            if key in self._by_key:
                return []  # known to have no sessions
            bars = self._start(tick.exchange, tick.symbol)
        return bars.update(tick) if bars is not None else []

    def on_clock(self, now: datetime) -> list[Bar]:
        """The bars whose end has passed by ``now`` (market time)."""
        closed: list[Bar] = []
        for bars in self._by_key.values():
            if bars is not None:
                closed.extend(bars.on_clock(now))
        return closed

    def rewind(self) -> list[Bar]:
        """Close every bar in progress and start afresh (the market's time went back)."""
        closed: list[Bar] = []
        for bars in self._by_key.values():
            if bars is not None:
                closed.extend(bars.flush())
        self._by_key.clear()
        return closed

    def current(self, exchange: Exchange, symbol: str, interval: Interval) -> Bar | None:
        """The bar in progress, for a subscriber's snapshot."""
        bars = self._by_key.get((exchange, symbol))
        return bars.current(interval) if bars is not None else None

    @property
    def late_ticks(self) -> int:
        return sum(bars.late for bars in self._by_key.values() if bars is not None)

    def _start(self, exchange: Exchange, symbol: str) -> InstrumentBars | None:
        try:
            sessions = self._sessions.for_symbol(symbol, exchange)
        except UnknownProductError as exc:
            log.warning("live bars: no bars for %s.%s: %s", exchange, symbol, exc)
            self._by_key[(exchange, symbol)] = None
            return None
        product = self._products.get(exchange, sessions.product)
        bars = InstrumentBars(
            symbol,
            exchange,
            sessions,
            self._calendar,
            self.intervals,
            price_tick=product,
        )
        self._by_key[(exchange, symbol)] = bars
        return bars
