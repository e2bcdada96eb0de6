"""The pandas-ta side of `bench_indicators` (run by it, in an environment of its own: pandas-ta
needs Python >= 3.12, the project runs on 3.11). Computes the indicator set over the bars in
the .npz file named on the command line without TA-Lib (pandas-ta's own code), and prints the
best wall time of the runs asked for as JSON."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
import pandas_ta as ta


def main() -> None:
    arrays = np.load(sys.argv[1])
    runs = int(sys.argv[2])
    df = pd.DataFrame({name: arrays[name] for name in ("open", "high", "low", "close", "volume")})
    h, lo, c = df["high"], df["low"], df["close"]
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        ta.sma(c, 20, talib=False)
        ta.ema(c, 20, talib=False)
        ta.rsi(c, 14, talib=False)
        ta.macd(c, 12, 26, 9, talib=False)
        ta.bbands(c, 20, 2.0, talib=False)
        ta.atr(h, lo, c, 14, talib=False)
        ta.stoch(h, lo, c, talib=False)
        ta.adx(h, lo, c, 14, talib=False)
        ta.cci(h, lo, c, 14, talib=False)
        ta.obv(c, df["volume"], talib=False)
        ta.kdj(h, lo, c)
        ta.supertrend(h, lo, c)
        best = min(best, time.perf_counter() - started)
    sys.stdout.write(json.dumps({"seconds": best, "version": ta.version}) + "\n")


if __name__ == "__main__":
    main()
