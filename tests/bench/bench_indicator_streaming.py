"""Streaming indicators: the cost of one update, and one bar for a whole market.

Targets: at most 5 us per indicator update; 20 indicators on 1,000 symbols updated in under
100 ms per bar. The naive peer for a single update is ``talib.stream.SMA``, which recomputes
from the symbol's whole history array on every call.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import talib.stream

from shared.indicators._streaming import streaming
from tests.bench._table import Row, best_of

BARS = 50_000
SYMBOLS = 1_000
WARM_UP = 200
# The 9 kinds, a couple of parameter sets each: 20 indicators per symbol.
MARKET: list[tuple[str, dict[str, Any]]] = [
    ("sma", {"timeperiod": 5}),
    ("sma", {"timeperiod": 20}),
    ("sma", {"timeperiod": 60}),
    ("ema", {"timeperiod": 12}),
    ("ema", {"timeperiod": 26}),
    ("ema", {"timeperiod": 60}),
    ("wma", {"timeperiod": 10}),
    ("wma", {"timeperiod": 30}),
    ("rsi", {"timeperiod": 6}),
    ("rsi", {"timeperiod": 14}),
    ("macd", {}),
    ("macd", {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}),
    ("atr", {"timeperiod": 14}),
    ("atr", {"timeperiod": 20}),
    ("bbands", {"timeperiod": 20}),
    ("bbands", {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 1.5}),
    ("kdj", {}),
    ("kdj", {"fastk_period": 14}),
    ("supertrend", {}),
    ("supertrend", {"timeperiod": 7, "multiplier": 2.0}),
]
HLC = {"atr", "kdj", "supertrend"}
KINDS = ["sma", "ema", "wma", "rsi", "macd", "atr", "bbands", "kdj", "supertrend"]


def _bars(count: int, seed: int) -> tuple[list[float], list[float], list[float]]:
    rng = np.random.default_rng(seed)
    close = np.round(4000 + np.cumsum(rng.normal(0, 2, count)))
    spread = np.round(rng.uniform(0, 4, count))
    return (close + spread).tolist(), (close - spread).tolist(), close.tolist()


def _per_update_ns(name: str, high: list[float], low: list[float], close: list[float]) -> float:
    def run() -> None:
        indicator: Any = streaming(name)
        update = indicator.update
        if name in HLC:
            for h, lo, c in zip(high, low, close, strict=True):
                update(h, lo, c)
        else:
            for c in close:
                update(c)

    return best_of(3, run) / len(close) * 1e9


def _market_ms() -> float:
    high, low, close = _bars(WARM_UP + 10, 5)
    symbols = [[streaming(name, **params) for name, params in MARKET] for _ in range(SYMBOLS)]
    # One (update, takes_hlc) pair per indicator, as a feed handler would hold them.
    updates: list[list[tuple[Any, bool]]] = [
        [(ind.update, name in HLC) for ind, (name, _) in zip(row, MARKET, strict=True)]
        for row in symbols
    ]
    for bar in range(WARM_UP):
        h, lo, c = high[bar], low[bar], close[bar]
        for row in updates:
            for update, hlc in row:
                if hlc:
                    update(h, lo, c)
                else:
                    update(c)
    times = []
    for bar in range(WARM_UP, WARM_UP + 10):
        h, lo, c = high[bar], low[bar], close[bar]
        started = time.perf_counter()
        for row in updates:
            for update, hlc in row:
                if hlc:
                    update(h, lo, c)
                else:
                    update(c)
        times.append(time.perf_counter() - started)
    return min(times) * 1e3


def _sma_vs_talib_stream() -> tuple[float, float]:
    """Nanoseconds per update: ours, then talib.stream.SMA on the whole history."""
    history = np.round(4000 + np.cumsum(np.random.default_rng(9).normal(0, 2, 1_000)))
    values = history.tolist()
    calls = 20_000

    def ours() -> None:
        sma: Any = streaming("sma", timeperiod=30)
        update = sma.update
        for i in range(calls):
            update(values[i % 1_000])

    def peer() -> None:
        stream_sma = talib.stream.SMA
        for _ in range(calls):
            stream_sma(history, timeperiod=30)

    return best_of(3, ours) / calls * 1e9, best_of(3, peer) / calls * 1e9


def run() -> list[Row]:
    high, low, close = _bars(BARS, 3)
    # Nanoseconds: sub-microsecond figures would print as 0.1 in the table's one decimal.
    rows = [
        Row(
            f"streaming {name} update",
            _per_update_ns(name, high, low, close),
            "target: 5 us",
            5_000.0,
            "ns",
            higher_is_better=False,
        )
        for name in KINDS
    ]
    rows.append(
        Row(
            "streaming, 20 indicators x 1,000 symbols, one bar",
            _market_ms(),
            "target: 100 ms",
            100.0,
            "ms",
            higher_is_better=False,
        )
    )
    ours, peer = _sma_vs_talib_stream()
    rows.append(
        Row(
            "streaming SMA(30) update, 1,000-bar history",
            ours,
            "talib.stream.SMA",
            peer,
            "ns",
            higher_is_better=False,
        )
    )
    return rows
