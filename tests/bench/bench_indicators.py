"""The indicator registry against calling TA-Lib directly on the numpy arrays, and against
pandas-ta computing the same set without TA-Lib, 1M bars.

Targets (issue 7): the registry call costs at most 1.5x the direct call, and is at least 10x
faster than pandas-ta. The registry looks the indicator up, checks its parameters and inputs
against the catalogue, and turns undefined integer outputs (candlestick patterns) into NaN;
TA-Lib does the arithmetic. pandas-ta needs Python >= 3.12, so it runs in an environment of
its own (`uv run --with pandas-ta`), found with `uv python find` or under pyenv; without such
a Python its row is left out, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import talib

from shared.indicators import compute
from tests.bench._table import Row, best_of

BARS = 1_000_000
PANDAS_TA = "pandas-ta==0.4.71b0"
PANDAS_TA_RUNS = 2  # best of: the first run includes numba's compilation
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
# The set pandas-ta computes too (it has no candlestick patterns without TA-Lib).
PEER_SET = [(name, params) for name, params in CALLS if not name.startswith("cdl")]


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


def _python_312() -> str | None:
    """A Python >= 3.12 for pandas-ta: uv's, else pyenv's."""
    uv = shutil.which("uv")
    if uv is not None:
        found = subprocess.run(
            [uv, "python", "find", ">=3.12"], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob("3.1[2-9]*/bin/python3"), reverse=True):
        return str(candidate)
    return None


def _pandas_ta_seconds(bars: dict[str, np.ndarray]) -> float | None:
    python, uv = _python_312(), shutil.which("uv")
    if python is None or uv is None:
        sys.stderr.write("bench_indicators: no Python >= 3.12 for pandas-ta; row left out\n")
        return None
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "bars.npz"
        np.savez(data, **bars)
        script = Path(__file__).with_name("pandas_ta_peer.py")
        done = subprocess.run(
            [uv, "run", "--no-project", "--python", python, "--with", PANDAS_TA,
             "python", str(script), str(data), str(PANDAS_TA_RUNS)],
            capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
    if done.returncode != 0:
        sys.stderr.write(f"bench_indicators: pandas-ta run failed: {done.stderr[-2000:]}\n")
        return None
    seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def run() -> list[Row]:
    bars = _bars()
    compute("sma", bars)  # the catalogue is built once per process: not part of a call
    direct = best_of(5, _direct(bars)) * 1000
    ours = best_of(5, _registry(bars)) * 1000
    sma_direct = best_of(9, lambda: TA.SMA(bars["close"], timeperiod=20)) * 1000
    sma_ours = best_of(9, lambda: compute("sma", bars, {"timeperiod": 20})) * 1000
    rows: list[Row] = []
    peer = _pandas_ta_seconds(bars)
    if peer is not None:

        def peer_set() -> None:
            for name, params in PEER_SET:
                compute(name, bars, params)

        ours_set = best_of(5, peer_set) * 1000
        rows.append(
            Row(
                f"indicator registry, the same {len(PEER_SET)} on 1M bars",
                ours_set,
                f"{PANDAS_TA} without TA-Lib",
                peer * 1000,
                "ms",
                higher_is_better=False,
            )
        )
    return [
        *rows,
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
