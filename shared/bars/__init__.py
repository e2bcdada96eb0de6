"""Tick cleaning and bar synthesis (pure): the same rules vectorized over history (polars) and
incrementally on live ticks, giving identical bars.

- `clean_ticks` / `TickFilter`: drop ticks outside sessions, with bad or limit-violating prices,
  duplicate timestamps or decreasing cumulative volume; `CleaningReport` counts each reason.
- `ticks_to_minute_bars` / `BarBuilder`: tick -> 1-minute bars (`_minute`, `_builder`).
- `aggregate_bars` / `BarAggregator`: 1-minute -> N-minute and daily bars aligned to sessions
  (the bucket convention is in `shared.bars._aggregate`).
- `InstrumentBars`: one instrument's live bars at several intervals, with the bar in progress.
"""

from shared.bars._aggregate import BarAggregator, aggregate_bars, interval_minutes
from shared.bars._builder import BarBuilder
from shared.bars._cleaning import REASONS, CleanedTicks, CleaningReport, TickFilter, clean_ticks
from shared.bars._frames import (
    BAR_COLUMNS,
    bar_frame,
    bars_of_frame,
    ctp_tick_frame,
    tick_frame,
    ticks_of_frame,
)
from shared.bars._live import InstrumentBars
from shared.bars._minute import minute_bars_of_clean, ticks_to_minute_bars

__all__ = [
    "BAR_COLUMNS",
    "REASONS",
    "BarAggregator",
    "BarBuilder",
    "CleanedTicks",
    "CleaningReport",
    "InstrumentBars",
    "TickFilter",
    "aggregate_bars",
    "bar_frame",
    "bars_of_frame",
    "clean_ticks",
    "ctp_tick_frame",
    "interval_minutes",
    "minute_bars_of_clean",
    "tick_frame",
    "ticks_of_frame",
    "ticks_to_minute_bars",
]
