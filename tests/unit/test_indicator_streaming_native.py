"""The streaming session VWAP and Donchian channel against their batch versions, bar by bar,
on hypothesis-generated series and on real bars: None exactly where the batch is NaN."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import Bar, Exchange, Interval
from shared.indicators import LiveIndicatorSet, LiveIndicatorSpec
from shared.indicators._native_price import donchian_channel
from shared.indicators._native_session import session_vwap
from shared.indicators._streaming import streaming
from tests.support.market_data import real_bars


def _same(stream: list[float | None], batch: np.ndarray) -> None:
    assert len(stream) == len(batch)
    for index, (got, want) in enumerate(zip(stream, batch, strict=True)):
        if math.isnan(want):
            assert got is None, index
        else:
            assert got is not None, index
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (index, got, want)


@st.composite
def series(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    length = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    flat_share = draw(st.floats(0.0, 0.5))
    rng = np.random.default_rng(seed)
    close = 1000 + np.cumsum(rng.normal(0, 3, length)).round(1)
    spread = np.where(rng.random(length) < flat_share, 0.0, rng.uniform(0, 4, length)).round(1)
    volume = np.where(rng.random(length) < flat_share / 2, 0.0, rng.integers(1, 500, length))
    days = np.cumsum(rng.random(length) < 0.05) + 738000.0  # a new session now and then
    return close + spread, close - spread, close, volume.astype(float), days


@settings(max_examples=200, deadline=None)
@given(series(), st.integers(1, 30))
def test_streams_equal_batches_on_random_series(data: tuple[np.ndarray, ...], period: int) -> None:
    high, low, close, volume, days = data
    vwap = streaming("session_vwap")
    _same(
        [vwap.update(*bar) for bar in zip(high, low, close, volume, days, strict=True)],
        session_vwap(high, low, close, volume, days),
    )
    channel = streaming("donchian_channel", timeperiod=period)
    outputs = [channel.update(h, lo) for h, lo in zip(high, low, strict=True)]
    for index, batch in enumerate(donchian_channel(high, low, timeperiod=period)):
        _same([out[index] for out in outputs], batch)
    assert all(out == (None, None, None) for out in outputs[: period - 1])


def test_streams_equal_batches_on_real_bars(shared_data: Path) -> None:
    frame = real_bars(shared_data)
    high, low, close = (frame[c].to_numpy() for c in ("high", "low", "close"))
    volume = frame["volume"].cast(pl.Float64).to_numpy()
    days = np.array([d.toordinal() for d in frame["trading_day"].to_list()], dtype=np.float64)
    vwap = streaming("session_vwap")
    _same(
        [vwap.update(*bar) for bar in zip(high, low, close, volume, days, strict=True)],
        session_vwap(high, low, close, volume, days),
    )
    channel = streaming("donchian_channel", timeperiod=55)
    upper = [channel.update(h, lo)[0] for h, lo in zip(high, low, strict=True)]
    _same(upper, donchian_channel(high, low, timeperiod=55)[0])


def test_the_session_vwap_starts_again_each_trading_day() -> None:
    vwap = streaming("session_vwap")
    monday, tuesday = date(2024, 1, 8), date(2024, 1, 8) + timedelta(days=1)
    assert vwap.update(11, 9, 10, 2, monday.toordinal()) == 10.0
    assert vwap.update(14, 12, 13, 1, monday.toordinal()) == 11.0  # (10*2 + 13*1) / 3
    assert vwap.update(21, 19, 20, 0, tuesday.toordinal()) is None  # nothing traded yet
    assert vwap.update(21, 19, 20, 5, tuesday.toordinal()) == 20.0


def test_live_sets_take_the_trading_day_from_the_bar(shared_data: Path) -> None:
    frame = real_bars(shared_data).head(3000)
    live = LiveIndicatorSet(
        [LiveIndicatorSpec(name="session_vwap"), LiveIndicatorSpec(name="donchian_channel")]
    )
    values = [
        live.update(
            Bar(
                **{
                    **row,
                    "exchange": Exchange(row["exchange"]),
                    "interval": Interval(row["interval"]),
                }
            )
        )
        for row in frame.iter_rows(named=True)
    ]
    high, low, close = (frame[c].to_numpy() for c in ("high", "low", "close"))
    volume = frame["volume"].cast(pl.Float64).to_numpy()
    days = np.array([d.toordinal() for d in frame["trading_day"].to_list()], dtype=np.float64)
    _same([v["session_vwap"] for v in values if v], session_vwap(high, low, close, volume, days))
    _same(
        [v["donchian_channel_20.lower"] for v in values if v],
        donchian_channel(high, low, timeperiod=20)[2],
    )
