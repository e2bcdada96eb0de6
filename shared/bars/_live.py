"""One instrument's live bars at every interval a front end charts, from its ticks.

A `BarBuilder` makes the 1-minute bars and each closed minute cascades into one `BarAggregator`
per longer interval, so every interval closes by the same rules (by the next tick or by the
clock, never across a break). `current` answers "what does the bar in progress look like",
which is what a chart needs when it subscribes in the middle of a bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.bars._aggregate import BarAggregator
from shared.bars._builder import BarBuilder
from shared.bars._cleaning import CleaningReport, PriceTick
from shared.domain import Bar, Exchange, Interval, Tick
from shared.sessions import ProductSessions, SessionLocator, TradingCalendar


class InstrumentBars:
    """Closed bars come out 1-minute first, then the longer intervals in the order given."""

    __slots__ = ("_aggregators", "_builder", "intervals")

    def __init__(
        self,
        symbol: str,
        exchange: Exchange,
        sessions: ProductSessions,
        calendar: TradingCalendar,
        intervals: Iterable[Interval] = (Interval.M1,),
        *,
        price_tick: PriceTick = None,
    ) -> None:
        locator = SessionLocator(sessions, calendar)
        wanted = list(dict.fromkeys(intervals))
        self.intervals = tuple(wanted)
        self._builder = BarBuilder(
            symbol, exchange, sessions, calendar, price_tick=price_tick, locator=locator
        )
        self._aggregators = {
            interval: BarAggregator(interval, sessions, calendar, locator=locator)
            for interval in wanted
            if interval is not Interval.M1
        }

    @property
    def report(self) -> CleaningReport:
        return self._builder.report

    @property
    def late(self) -> int:
        """Ticks that arrived after the clock had closed their minute."""
        return self._builder.late

    def update(self, tick: Tick) -> list[Bar]:
        return self._cascade(self._builder.update(tick))

    def on_clock(self, now: datetime) -> list[Bar]:
        closed = self._cascade(self._builder.on_clock(now))
        for aggregator in self._aggregators.values():
            closed.extend(aggregator.on_clock(now))
        return closed

    def flush(self) -> list[Bar]:
        closed = self._cascade(self._builder.flush())
        for aggregator in self._aggregators.values():
            closed.extend(aggregator.flush())
        return closed

    def current(self, interval: Interval) -> Bar | None:
        """The bar in progress at ``interval``; None between bars (or for an interval not built)."""
        minute = self._builder.current()
        if interval is Interval.M1:
            return minute if Interval.M1 in self.intervals else None
        aggregator = self._aggregators.get(interval)
        return aggregator.current(minute) if aggregator is not None else None

    def _cascade(self, minutes: list[Bar]) -> list[Bar]:
        closed = list(minutes) if Interval.M1 in self.intervals else []
        for minute in minutes:
            for aggregator in self._aggregators.values():
                closed.extend(aggregator.update(minute))
        return closed
