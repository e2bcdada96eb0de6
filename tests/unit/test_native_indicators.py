"""Native indicators against obvious reference implementations on real 1-minute futures bars,
plus tiny hand-checked cases; and TA-Lib's own KDJ and SUPERTREND against plain loops.

Trading day in these tests: a bar at 20:00 or later belongs to the next weekday; a bar before
03:00 to its own date, or the next weekday when that date is a Saturday or Sunday (the tail
of a Friday night session). Holidays are ignored: good enough to cut sessions, not a calendar.
"""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from shared.indicators import _native_session as native_session
from shared.indicators._native import NATIVE
from shared.indicators._native_session import volume_profile

FILES = ("SHFE_rb2002", "DCE_m2005", "SHFE_au1912")
# Price buckets equal to each contract's tick, so profile prices are traded prices.
TICKS = {"SHFE_rb2002": 1.0, "DCE_m2005": 1.0, "SHFE_au1912": 0.05}
TOL = 1e-9

Bars = dict[str, np.ndarray]


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _trading_day(stamp: datetime) -> float:
    day = stamp.date()
    # Evening bars open the next trading day; after-midnight bars on a weekend date are the
    # tail of Friday's night session, which also trades for Monday.
    if stamp.hour >= 20 or (stamp.hour < 3 and day.weekday() >= 5):
        day = _next_weekday(day)
    return float(day.toordinal())


def _load(shared_data: Path, name: str) -> Bars:
    frame = pl.read_csv(shared_data / "cn_futures" / "bar_1m" / f"{name}_1m.csv")
    stamps = frame["datetime"].str.to_datetime("%Y-%m-%d %H:%M:%S").to_list()
    bars = {
        column: frame[column].cast(pl.Float64).to_numpy()
        for column in ("open", "high", "low", "close", "volume")
    }
    bars["open_interest"] = frame["close_oi"].cast(pl.Float64).to_numpy()
    bars["trading_day"] = np.array([_trading_day(s) for s in stamps], dtype=np.float64)
    bars["name"] = np.array([name])
    return bars


@pytest.fixture(scope="module", params=FILES)
def bars(request: pytest.FixtureRequest, shared_data: Path) -> Bars:
    return _load(shared_data, request.param)


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal within 1e-9 (relative for large values), NaN exactly where expected is NaN."""
    assert actual.dtype == np.float64
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL, equal_nan=True)


# --- the trading-day rule itself -------------------------------------------------------------


def test_trading_day_rule() -> None:
    friday_night = datetime(2019, 10, 25, 21, 5)  # noqa: DTZ001 - exchange wall clock
    saturday_early = datetime(2019, 10, 26, 1, 0)  # noqa: DTZ001 - exchange wall clock
    tuesday_early = datetime(2019, 10, 29, 1, 0)  # noqa: DTZ001 - exchange wall clock
    monday = float(date(2019, 10, 28).toordinal())
    assert _trading_day(friday_night) == monday
    assert _trading_day(saturday_early) == monday
    assert _trading_day(tuesday_early) == float(date(2019, 10, 29).toordinal())


# --- session VWAP ----------------------------------------------------------------------------


def _vwap_reference(bars: Bars) -> np.ndarray:
    out = np.full(len(bars["close"]), np.nan)
    day, volume, weighted = math.nan, 0.0, 0.0
    for i in range(len(out)):
        if bars["trading_day"][i] != day:
            day, volume, weighted = bars["trading_day"][i], 0.0, 0.0
        typical = (bars["high"][i] + bars["low"][i] + bars["close"][i]) / 3.0
        volume += bars["volume"][i]
        weighted += typical * bars["volume"][i]
        if volume > 0:
            out[i] = weighted / volume
    return out


def test_session_vwap_on_real_bars(bars: Bars) -> None:
    entry = NATIVE["session_vwap"]
    args = [bars[slot.default] for slot in entry.info.inputs]
    _close(np.asarray(entry.function(*args)), _vwap_reference(bars))


def test_session_vwap_resets_at_the_day_boundary() -> None:
    high = np.array([11.0, 13.0, 21.0, 30.0, 40.0])
    low = np.array([9.0, 11.0, 19.0, 30.0, 38.0])
    close = np.array([10.0, 12.0, 20.0, 30.0, 39.0])
    volume = np.array([1.0, 3.0, 0.0, 2.0, 2.0])
    day = np.array([1.0, 1.0, 2.0, 2.0, 3.0])
    out = NATIVE["session_vwap"].function(high, low, close, volume, day)
    # Day 1: (10*1 + 12*3) / 4; day 2 opens with no volume (NaN), then 30; day 3 alone: 39.
    np.testing.assert_allclose(out, [10.0, 11.5, np.nan, 30.0, 39.0], equal_nan=True)


# --- Donchian --------------------------------------------------------------------------------


def test_donchian_on_real_bars(bars: Bars) -> None:
    period = 20
    high, low = bars["high"], bars["low"]
    upper, middle, lower = NATIVE["donchian_channel"].function(high, low, timeperiod=period)
    ref_upper = np.full(len(high), np.nan)
    ref_lower = np.full(len(high), np.nan)
    for i in range(period - 1, len(high)):
        ref_upper[i] = max(high[i - period + 1 : i + 1])
        ref_lower[i] = min(low[i - period + 1 : i + 1])
    _close(upper, ref_upper)
    _close(lower, ref_lower)
    _close(middle, (ref_upper + ref_lower) / 2)
    assert NATIVE["donchian_channel"].lookback({"timeperiod": period}) == period - 1
    # TA-Lib's own DONCHIAN agrees once both are warm.
    ta_upper, _, ta_lower = talib.DONCHIAN(high, low, timeperiod=period)
    _close(upper, ta_upper)
    _close(lower, ta_lower)


def test_donchian_on_five_bars() -> None:
    high = np.array([5.0, 7.0, 6.0, 4.0, 8.0])
    low = np.array([3.0, 4.0, 2.0, 3.0, 5.0])
    upper, middle, lower = NATIVE["donchian_channel"].function(high, low, timeperiod=3)
    np.testing.assert_array_equal(upper, [np.nan, np.nan, 7.0, 7.0, 8.0])
    np.testing.assert_array_equal(lower, [np.nan, np.nan, 2.0, 2.0, 2.0])
    np.testing.assert_array_equal(middle, [np.nan, np.nan, 4.5, 4.5, 5.0])


# --- Keltner ---------------------------------------------------------------------------------


def _ema(values: np.ndarray, period: int) -> np.ndarray:
    """EMA seeded with the simple mean of the first ``period`` values (TA-Lib's default)."""
    out = np.full(len(values), np.nan)
    alpha = 2.0 / (period + 1)
    out[period - 1] = sum(values[:period]) / period
    for i in range(period, len(values)):
        out[i] = out[i - 1] + alpha * (values[i] - out[i - 1])
    return out


def _atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ATR; true range needs a previous close, so it starts at bar 1 and the first
    ATR (bar ``period``) is the mean of ``period`` true ranges."""
    out = np.full(len(close), np.nan)
    ranges = [math.nan] + [
        max(high[i], close[i - 1]) - min(low[i], close[i - 1]) for i in range(1, len(close))
    ]
    out[period] = sum(ranges[1 : period + 1]) / period
    for i in range(period + 1, len(close)):
        out[i] = (out[i - 1] * (period - 1) + ranges[i]) / period
    return out


def test_keltner_on_real_bars(bars: Bars) -> None:
    high, low, close = bars["high"], bars["low"], bars["close"]
    upper, middle, lower = NATIVE["keltner"].function(
        high, low, close, timeperiod=20, atr_period=10, multiplier=2.0
    )
    ref_middle = _ema(close, 20)
    ref_atr = _atr(high, low, close, 10)
    _close(middle, ref_middle)
    _close(upper, ref_middle + 2.0 * ref_atr)
    _close(lower, ref_middle - 2.0 * ref_atr)
    assert NATIVE["keltner"].lookback({}) == 19
    assert int(np.isnan(upper).sum()) == 19
    assert NATIVE["keltner"].lookback({"timeperiod": 5, "atr_period": 10}) == 10


# --- Bollinger %B and width ------------------------------------------------------------------


def test_bbands_pctb_on_real_bars(bars: Bars) -> None:
    close = bars["close"]
    period, nbdev = 20, 2.0
    pctb, width = NATIVE["bbands_pctb"].function(close, timeperiod=period, nbdev=nbdev)
    ref_pctb = np.full(len(close), np.nan)
    ref_width = np.full(len(close), np.nan)
    for i in range(period - 1, len(close)):
        window = close[i - period + 1 : i + 1]
        mean = sum(window) / period
        deviation = math.sqrt(sum((x - mean) ** 2 for x in window) / period)
        if max(window) > min(window):
            band = 2 * nbdev * deviation
            ref_pctb[i] = (close[i] - (mean - nbdev * deviation)) / band
            ref_width[i] = band / mean
    # TA-Lib's rolling sums drift by ~1e-12 of the price; %B divides that by the band, so it
    # is compared after scaling back to price units.
    band = ref_width * np.nan_to_num(_sma(close, period))
    assert np.isnan(pctb).tolist() == np.isnan(ref_pctb).tolist()
    _close(pctb * band, ref_pctb * band)
    _close(width, ref_width)


def _sma(values: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i in range(period - 1, len(values)):
        out[i] = sum(values[i - period + 1 : i + 1]) / period
    return out


def test_bbands_pctb_flat_window_is_nan() -> None:
    close = np.array([10.0, 10.0, 10.0, 12.0])
    pctb, width = NATIVE["bbands_pctb"].function(close, timeperiod=3, nbdev=2.0)
    assert np.isnan(pctb[:3]).all()
    assert np.isnan(width[:3]).all()
    # Window 10, 10, 12: mean 32/3, population sd sqrt(8/9).
    deviation = math.sqrt(8 / 9)
    assert pctb[3] == pytest.approx((12 - (32 / 3 - 2 * deviation)) / (4 * deviation))
    assert width[3] == pytest.approx(4 * deviation / (32 / 3))


# --- Heikin-Ashi -----------------------------------------------------------------------------


def test_heikin_ashi_on_real_bars(bars: Bars) -> None:
    o, h, low, c = bars["open"], bars["high"], bars["low"], bars["close"]
    outputs = NATIVE["heikin_ashi"].function(o, h, low, c)
    n = len(c)
    ref = np.full((4, n), np.nan)
    for i in range(n):
        ha_close = (o[i] + h[i] + low[i] + c[i]) / 4
        ha_open = (o[i] + c[i]) / 2 if i == 0 else (ref[0, i - 1] + ref[3, i - 1]) / 2
        ref[:, i] = (
            ha_open,
            max(h[i], ha_open, ha_close),
            min(low[i], ha_open, ha_close),
            ha_close,
        )
    for actual, expected in zip(outputs, ref, strict=True):
        _close(actual, expected)
    # TA-Lib's HA (same convention) agrees too.
    for actual, expected in zip(outputs, talib.HA(o, h, low, c), strict=True):
        _close(actual, expected)


def test_heikin_ashi_first_bars() -> None:
    o, h, low, c = (np.array(v) for v in ([10.0, 12.0], [14.0, 13.0], [9.0, 11.0], [12.0, 11.0]))
    ha_open, ha_high, ha_low, ha_close = NATIVE["heikin_ashi"].function(o, h, low, c)
    assert ha_open.tolist() == [11.0, (11.0 + 11.25) / 2]
    assert ha_close.tolist() == [11.25, 11.75]
    assert ha_high.tolist() == [14.0, 13.0]
    assert ha_low.tolist() == [9.0, 11.0]


# --- open-interest change --------------------------------------------------------------------


def test_oi_change_on_real_bars(bars: Bars) -> None:
    oi = bars["open_interest"]
    ref = np.array([math.nan] + [oi[i] - oi[i - 1] for i in range(1, len(oi))])
    _close(np.asarray(NATIVE["oi_change"].function(oi)), ref)
    tiny = np.asarray(NATIVE["oi_change"].function(np.array([100.0, 103.0, 101.0])))
    np.testing.assert_array_equal(tiny, [np.nan, 3.0, -2.0])


# --- volume profile --------------------------------------------------------------------------


def _profile_reference(
    close: np.ndarray, volume: np.ndarray, day: np.ndarray, bucket: float, share: float
) -> np.ndarray:
    """Bar by bar with a dict histogram, the value area grown one bucket at a time."""
    out = np.full((3, len(close)), np.nan)
    current, profile, total = math.nan, {}, 0.0
    for i in range(len(close)):
        if day[i] != current:
            current, profile, total = day[i], {}, 0.0
        if volume[i] > 0:
            key = math.floor(round(close[i] / bucket, 6))
            profile[key] = profile.get(key, 0.0) + volume[i]
            total += volume[i]
        if not profile:
            continue
        most = max(profile.values())
        poc = max(k for k, v in profile.items() if v == most)
        low, high = min(profile), max(profile)
        lo = hi = poc
        held = profile[poc]
        while held < share * total and (lo > low or hi < high):
            above = profile.get(hi + 1, 0.0) if hi < high else -math.inf
            below = profile.get(lo - 1, 0.0) if lo > low else -math.inf
            if above >= below:
                hi, held = hi + 1, held + above
            else:
                lo, held = lo - 1, held + below
        out[:, i] = (poc * bucket, hi * bucket, lo * bucket)
    return out


def test_volume_profile_on_real_bars(bars: Bars) -> None:
    name = str(bars["name"][0])
    close, volume, day = bars["close"], bars["volume"], bars["trading_day"]
    for bucket, share in ((TICKS[name], 0.7), (5 * TICKS[name], 0.5), (TICKS[name], 1.0)):
        outputs = NATIVE["volume_profile"].function(
            close, volume, day, bucket=bucket, value_area=share
        )
        expected = _profile_reference(close, volume, day, bucket, share)
        for actual, ref in zip(outputs, expected, strict=True):
            _close(actual, ref)
        poc, vah, val = outputs
        defined = ~np.isnan(poc)
        assert (val[defined] <= poc[defined]).all()
        assert (poc[defined] <= vah[defined]).all()


def test_volume_profile_in_small_blocks(bars: Bars, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny cell budget cuts sessions into many runs of rows, carried across blocks; the
    result must not change. One series-long session exercises the same on a wide profile."""
    monkeypatch.setattr(native_session, "_BLOCK_CELLS", 500)
    name = str(bars["name"][0])
    close, volume = bars["close"][:3000], bars["volume"][:3000]
    for day in (bars["trading_day"][:3000], np.ones(3000)):
        outputs = volume_profile(close, volume, day, bucket=TICKS[name], value_area=0.7)
        expected = _profile_reference(close, volume, day, TICKS[name], 0.7)
        for actual, ref in zip(outputs, expected, strict=True):
            _close(actual, ref)


def test_volume_profile_skips_unusable_bars() -> None:
    close = np.array([100.0, np.nan, 102.0, 103.0])
    volume = np.array([5.0, 50.0, np.nan, -3.0])
    poc, vah, val = volume_profile(close, volume, np.ones(4))
    assert poc.tolist() == vah.tolist() == val.tolist() == [100.0] * 4


def test_volume_profile_by_hand() -> None:
    # One session: volumes 10 @ 100, 30 @ 101, 20 @ 103 (102 empty), then a new day.
    close = np.array([100.0, 101.0, 103.0, 100.0, 50.0])
    volume = np.array([10.0, 30.0, 20.0, 0.0, 5.0])
    day = np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    poc, vah, val = NATIVE["volume_profile"].function(close, volume, day, value_area=0.7)
    # Bar 1: POC 101 alone holds 30 of 40 >= 28. Bar 2: POC 101 (30 of 60); need 42: up is
    # 102 (0) vs down 100 (10) -> 100 (40); then 102 (0) with nothing below (40); then 103.
    assert poc.tolist() == [100.0, 101.0, 101.0, 101.0, 50.0]
    assert vah.tolist() == [100.0, 101.0, 103.0, 103.0, 50.0]
    assert val.tolist() == [100.0, 101.0, 100.0, 100.0, 50.0]
    # A session that has not traded yet is NaN; ties between buckets go to the higher price.
    poc, vah, val = NATIVE["volume_profile"].function(
        np.array([10.0, 11.0, 12.0]), np.array([0.0, 4.0, 4.0]), np.ones(3), value_area=0.5
    )
    assert math.isnan(poc[0])
    assert poc[1:].tolist() == [11.0, 12.0]
    assert val[1:].tolist() == [11.0, 12.0]


def test_volume_profile_fractional_bucket_lands_on_the_tick() -> None:
    close = np.array([2800.2, 2800.4, 2800.2])
    poc, _, _ = NATIVE["volume_profile"].function(
        close, np.array([1.0, 1.0, 1.0]), np.ones(3), bucket=0.2
    )
    assert poc[-1] == pytest.approx(2800.2, abs=1e-9)


def test_volume_profile_a_million_bars_is_fast() -> None:
    rng = np.random.default_rng(7)
    n = 1_000_000
    close = np.round(3000 + np.cumsum(rng.normal(0, 1.0, n)))
    volume = rng.integers(0, 50, n).astype(np.float64)
    day = np.repeat(np.arange(n // 345 + 1, dtype=np.float64), 345)[:n]
    started = time.perf_counter()
    poc, _, _ = volume_profile(close, volume, day)
    assert time.perf_counter() - started < 20.0
    assert poc.shape == (n,)


# --- every native entry ----------------------------------------------------------------------


def test_native_entries_are_consistent() -> None:
    talib_names = {name.lower() for name in talib.get_functions()}
    assert NATIVE
    for name, entry in NATIVE.items():
        info = entry.info
        assert name == info.name == info.name.lower()
        assert name not in talib_names
        assert info.source == "native"
        assert info.inputs
        assert info.outputs
        assert len({o.name for o in info.outputs}) == len(info.outputs)
        for param in info.params:
            assert param.type in {"int", "float"}
            assert param.min <= param.default <= param.max, (name, param.name)
        defaults = {p.name: p.default for p in info.params}
        assert entry.lookback(defaults) >= 0


def test_native_entries_run_through_their_info(bars: Bars) -> None:
    """Called the way the registry calls them: arrays in input order, keyword params; one
    aligned float64 array per output, warm-up exactly the lookback for windowed ones."""
    windowed = {"donchian_channel", "keltner", "bbands_pctb", "oi_change"}
    for name, entry in NATIVE.items():
        params = {p.name: p.default for p in entry.info.params}
        args = [bars[slot.default] for slot in entry.info.inputs]
        result = entry.function(*args, **params)
        outputs = result if isinstance(result, tuple) else (result,)
        assert len(outputs) == len(entry.info.outputs), name
        for output in outputs:
            assert output.dtype == np.float64
            assert output.shape == bars["close"].shape
            if name in windowed:
                lookback = entry.lookback(params)
                assert np.isnan(output[:lookback]).all(), name
                assert not np.isnan(output[lookback]), name


# --- TA-Lib's KDJ and SUPERTREND against plain loops -----------------------------------------


def _wilder(values: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder's smoothing (TA-Lib matype 13) from index ``first``: seeded with the simple mean
    of the first ``period`` values, then ((period - 1) * previous + value) / period."""
    out = np.full(len(values), np.nan)
    seed = first + period - 1
    out[seed] = sum(values[first : seed + 1]) / period
    for i in range(seed + 1, len(values)):
        out[i] = (out[i - 1] * (period - 1) + values[i]) / period
    return out


def test_talib_kdj_matches_the_conventional_loop(bars: Bars) -> None:
    """TA-Lib's KDJ(9, 3, Wilder, 3, Wilder):

    - RSV = 100 * (close - lowest low) / (highest high - lowest low) over 9 bars, and 0 when
      the window is flat (TA-Lib's stochastic convention; 通达信 divides by zero there);
    - K = Wilder(RSV, 3), D = Wilder(K, 3), J = 3K - 2D;
    - seeding: each smoothing starts from the simple mean of its first 3 inputs, so K is
      defined from bar 10 and D from bar 12; TA-Lib then blanks every output up to the
      common lookback 12 (K's bars 10 and 11 are computed but not shown).

    The Chinese convention (通达信/同花顺: K = SMA(RSV, 3, 1), D = SMA(K, 3, 1)) uses the same
    recursion K = (2K' + RSV) / 3, but seeds K0 = D0 = 50 and outputs from the first RSV bar.
    The seeds' difference decays like (2/3)^n (n (2/3)^n for D), so the two agree within 1e-9
    after about a hundred bars; only the first few dozen values differ visibly (checked below).
    """
    high, low, close = bars["high"], bars["low"], bars["close"]
    k, d, j = talib.KDJ(high, low, close)
    period = 9
    rsv = np.full(len(close), np.nan)
    for i in range(period - 1, len(close)):
        highest = max(high[i - period + 1 : i + 1])
        lowest = min(low[i - period + 1 : i + 1])
        rsv[i] = 100 * (close[i] - lowest) / (highest - lowest) if highest > lowest else 0.0
    ref_k = _wilder(rsv, 3, period - 1)
    ref_d = _wilder(ref_k, 3, period + 1)
    ref_j = 3 * ref_k - 2 * ref_d
    lookback = 12
    for actual, expected in ((k, ref_k), (d, ref_d), (j, ref_j)):
        expected[:lookback] = np.nan
        _close(actual, expected)
    # The Chinese convention: same recursion, seeded with 50.
    cn_k = np.full(len(close), np.nan)
    cn_d = np.full(len(close), np.nan)
    previous_k = previous_d = 50.0
    for i in range(period - 1, len(close)):
        previous_k = (2 * previous_k + rsv[i]) / 3
        previous_d = (2 * previous_d + previous_k) / 3
        cn_k[i], cn_d[i] = previous_k, previous_d
    settled = 120
    _close(cn_k[settled:], k[settled:])
    _close(cn_d[settled:], d[settled:])
    assert np.nanmax(np.abs(cn_d[lookback:30] - d[lookback:30])) > 1e-3


def test_talib_supertrend_matches_the_conventional_loop(bars: Bars) -> None:
    """TA-Lib's SUPERTREND(10, 3): ATR is Wilder's (first value at bar 10), the basic bands
    are (high + low) / 2 ± 3 ATR, and the final bands ratchet: the upper band only falls
    (unless the previous close broke above it), the lower only rises (unless the previous
    close broke below it). The trend flips down when the close falls below the final lower
    band and up when it rises above the final upper band. TA-Lib starts every series in an
    uptrend (trend 1, line = lower band) at the first ATR bar, whatever the close; trend is 0
    in the warm-up."""
    high, low, close = bars["high"], bars["low"], bars["close"]
    line, trend = talib.SUPERTREND(high, low, close, timeperiod=10, multiplier=3.0)
    atr = _atr(high, low, close, 10)
    n, first = len(close), 10
    ref_line = np.full(n, np.nan)
    ref_trend = np.zeros(n, dtype=np.int64)
    upper = lower = math.nan
    for i in range(first, n):
        middle = (high[i] + low[i]) / 2
        basic_upper, basic_lower = middle + 3.0 * atr[i], middle - 3.0 * atr[i]
        if i == first:
            upper, lower, ref_trend[i] = basic_upper, basic_lower, 1
        else:
            if basic_upper < upper or close[i - 1] > upper:
                upper = basic_upper
            if basic_lower > lower or close[i - 1] < lower:
                lower = basic_lower
            previous = ref_trend[i - 1]
            if previous == 1:
                ref_trend[i] = -1 if close[i] < lower else 1
            else:
                ref_trend[i] = 1 if close[i] > upper else -1
        ref_line[i] = lower if ref_trend[i] == 1 else upper
    _close(line, ref_line)
    np.testing.assert_array_equal(trend, ref_trend)
