"""The indicator registry against calling TA-Lib directly on the numpy arrays, 1M bars.

Target (issue 7): the registry call costs at most 1.5x the direct call. The registry looks the
indicator up, checks its parameters and inputs against the catalogue, and turns undefined
integer outputs (candlestick patterns) into NaN; TA-Lib does the arithmetic in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import talib

from shared.indicators import compute
from tests.bench._table import Row, best_of

BARS = 1_000_000
TA: Any = talib
# (name, params): what a chart or a strategy commonly asks for, integer outputs included.
CALLS: list[tuple[str, dict[str, float]]] = [
    ("sma", {"timeperiod": 20}),
    ("ema", {"timeperiod": 20}),
    ("rsi", {"timeperiod": 14}),
    ("macd", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
    ("bbands", {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
    ("atr", {"timeperiod": 14}),
    ("stoch", {}),
    ("adx", {"timeperiod": 14}),
    ("cci", {"timeperiod": 14}),
    ("obv", {}),
    ("kdj", {}),
    ("supertrend", {}),
    ("cdlengulfing", {}),
]


def _bars() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    close = 4000 + np.cumsum(rng.normal(0, 2, BARS))
    spread = rng.uniform(0.5, 3.0, BARS)
    return {
        "open": close + rng.normal(0, 1, BARS),
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.integers(1, 500, BARS).astype(np.float64),
    }


def _direct(bars: dict[str, np.ndarray]) -> Callable[[], None]:
    hlc = (bars["high"], bars["low"], bars["close"])

    def run() -> None:
        close = bars["close"]
        TA.SMA(close, timeperiod=20)
        TA.EMA(close, timeperiod=20)
        TA.RSI(close, timeperiod=14)
        TA.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
        TA.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        TA.ATR(*hlc, timeperiod=14)
        TA.STOCH(*hlc)
        TA.ADX(*hlc, timeperiod=14)
        TA.CCI(*hlc, timeperiod=14)
        TA.OBV(close, bars["volume"])
        TA.KDJ(*hlc)
        TA.SUPERTREND(*hlc)
        TA.CDLENGULFING(bars["open"], *hlc)

    return run


def _registry(bars: dict[str, np.ndarray]) -> Callable[[], None]:
    def run() -> None:
        for name, params in CALLS:
            compute(name, bars, params)

    return run


def run() -> list[Row]:
    bars = _bars()
    compute("sma", bars)  # the catalogue is built once per process: not part of a call
    direct = best_of(5, _direct(bars)) * 1000
    ours = best_of(5, _registry(bars)) * 1000
    sma_direct = best_of(9, lambda: TA.SMA(bars["close"], timeperiod=20)) * 1000
    sma_ours = best_of(9, lambda: compute("sma", bars, {"timeperiod": 20})) * 1000
    return [
        Row(
            f"indicator registry, {len(CALLS)} indicators on 1M bars",
            ours,
            "TA-Lib direct",
            direct,
            "ms",
            higher_is_better=False,
        ),
        Row(
            "indicator registry, SMA(20) on 1M bars",
            sma_ours,
            "TA-Lib direct",
            sma_direct,
            "ms",
            higher_is_better=False,
        ),
    ]
