"""Replaying stored market data: each symbol's ticks, or ticks synthesized from its 1m bars.

Memory stays bounded however long the history: a symbol's data is read one window (a day of
exchange time) at a time, and the symbols are merged in time order as they are read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime, timedelta

import polars as pl

from shared.domain import Exchange, Interval, Tick
from shared.marketdata.bar_ticks import DayTotals, ticks_from_bars, totals_after
from shared.store.market_data import BarStore, Coverage, TickStore

# One read per symbol and window: a day of ticks of a busy contract is some tens of thousands.
WINDOW = timedelta(days=1)
_TICK_FIELDS = (
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
    "upper_limit",
    "lower_limit",
)


class NoReplayDataError(ValueError):
    """A symbol asked for has neither ticks nor 1-minute bars stored."""


class _Series:
    """One symbol's stored data, read window by window."""

    def __init__(
        self,
        exchange: Exchange,
        symbol: str,
        coverage: Coverage,
        ticks: TickStore | None,
        bars: BarStore | None,
    ) -> None:
        self.exchange, self.symbol, self.coverage = exchange, symbol, coverage
        self._ticks, self._bars = ticks, bars

    @property
    def kind(self) -> str:
        return "ticks" if self._ticks is not None else "ticks synthesized from 1m bars"

    async def chunks(self) -> AsyncIterator[list[Tick]]:
        totals = DayTotals()
        start = self.coverage.first
        while start <= self.coverage.last:
            end = start + WINDOW
            if self._ticks is not None:
                frame = await self._ticks.load(self.exchange, self.symbol, start=start, end=end)
            else:
                assert self._bars is not None
                bars = await self._bars.load(
                    self.exchange, self.symbol, Interval.M1, start=start, end=end
                )
                frame = ticks_from_bars(bars, before=totals)
                totals = totals_after(frame, totals)
            if not frame.is_empty():
                yield self._domain_ticks(frame)
            start = end

    def _domain_ticks(self, frame: pl.DataFrame) -> list[Tick]:
        present = [name for name in _TICK_FIELDS if name in frame.columns]
        return [
            Tick(symbol=self.symbol, exchange=self.exchange, **row)
            for row in frame.select(present).iter_rows(named=True)
        ]


async def _ticks_of(series: _Series) -> AsyncGenerator[Tick, None]:
    async for chunk in series.chunks():
        for tick in chunk:
            yield tick


class StoredReplay:
    """The stored data of ``symbols`` ((exchange, symbol) pairs), merged in time order."""

    name = "database"

    def __init__(
        self, symbols: Sequence[tuple[str, str]], ticks: TickStore, bars: BarStore
    ) -> None:
        self._symbols = [(Exchange(exchange), symbol) for exchange, symbol in symbols]
        self._tick_store, self._bar_store = ticks, bars
        self._series: list[_Series] = []

    async def open(self) -> str:
        series: list[_Series] = []
        for exchange, symbol in self._symbols:
            if (coverage := await self._tick_store.coverage(exchange, symbol)) is not None:
                series.append(_Series(exchange, symbol, coverage, self._tick_store, None))
            elif (coverage := await self._bar_store.coverage(exchange, symbol, "1m")) is not None:
                series.append(_Series(exchange, symbol, coverage, None, self._bar_store))
            else:
                raise NoReplayDataError(
                    f"QUANT_REPLAY_SYMBOLS: {exchange}.{symbol} has no stored ticks or 1-minute "
                    "bars to replay; import some (`quant data import`) or remove it"
                )
        self._series = series
        return ", ".join(f"{s.exchange}.{s.symbol} ({s.kind})" for s in series)

    async def one_pass(self) -> AsyncIterator[Tick]:
        streams = [_ticks_of(series) for series in self._series]
        heads: list[Tick | None] = [await anext(stream, None) for stream in streams]
        try:
            while True:
                live = [i for i, head in enumerate(heads) if head is not None]
                if not live:
                    return
                # Few symbols: a linear scan for the earliest is cheaper than a heap.
                earliest = min(live, key=lambda i: _ts(heads[i]))
                tick = heads[earliest]
                assert tick is not None
                yield tick
                heads[earliest] = await anext(streams[earliest], None)
        finally:
            for stream in streams:
                await stream.aclose()


def _ts(tick: Tick | None) -> datetime:
    assert tick is not None
    return tick.ts
