"""The ``indicators`` function against TA-Lib called directly, on real SHFE gold bars."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import pytest
import talib

from functions.deps import Deps
from functions.envelope import CallOutcome, encode_request, execute
from functions.indicators import (
    INDICATORS,
    BarColumns,
    IndicatorSpec,
    IndicatorsRequest,
    compute_indicators,
)
from functions.registry import RequestError
from shared.config import Settings
from shared.objects import LocalObjectStore
from tests.support.market_data import first_bars, load_bars

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def all_bars(shared_data: Path) -> BarColumns:
    return load_bars(shared_data)


@pytest.fixture(scope="module")
def few_bars(shared_data: Path) -> BarColumns:
    return load_bars(shared_data, rows=60)


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(objects_dir=str(tmp_path / "objects"))
    return Deps(settings=settings, objects=LocalObjectStore(settings.objects_dir))


def as_array(column: list[float | None]) -> np.ndarray:
    return np.array([math.nan if value is None else value for value in column], dtype=np.float64)


async def test_results_equal_talib_called_directly(all_bars: BarColumns, deps: Deps) -> None:
    request = IndicatorsRequest(
        bars=all_bars,
        indicators=[
            IndicatorSpec(name="sma", params={"timeperiod": 20}),
            IndicatorSpec(name="ema", params={"timeperiod": 50}),
            IndicatorSpec(name="rsi"),
            IndicatorSpec(name="macd"),
            IndicatorSpec(
                name="macd",
                params={"fastperiod": 5, "slowperiod": 35, "signalperiod": 5},
                id="slow",
            ),
        ],
    )
    response = await INDICATORS.handler(request, deps)

    close = np.asarray(all_bars.close, dtype=np.float64)
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    slow_macd, slow_signal, slow_hist = talib.MACD(
        close, fastperiod=5, slowperiod=35, signalperiod=5
    )
    expected = {
        "sma_20": talib.SMA(close, timeperiod=20),
        "ema_50": talib.EMA(close, timeperiod=50),
        "rsi_14": talib.RSI(close, timeperiod=14),
        "macd_12_26_9.macd": macd,
        "macd_12_26_9.macdsignal": signal,
        "macd_12_26_9.macdhist": hist,
        "slow.macd": slow_macd,
        "slow.macdsignal": slow_signal,
        "slow.macdhist": slow_hist,
    }
    assert list(response.columns) == list(expected)
    for name, values in expected.items():
        # Same float64 inputs through the same C code: the values are bit-identical.
        np.testing.assert_array_equal(as_array(response.columns[name]), values, err_msg=name)
    assert len(response.ts) == len(all_bars.ts) == 33968
    assert response.ts[0] == datetime(2019, 4, 8, 5, 36, tzinfo=UTC)  # 13:36 in Shanghai
    assert all(ts.utcoffset() == timedelta(0) for ts in response.ts[:5])


def test_warm_up_values_are_null_and_nothing_after(few_bars: BarColumns) -> None:
    request = IndicatorsRequest(
        bars=few_bars,
        indicators=[
            IndicatorSpec(name="sma", params={"timeperiod": 20}),
            IndicatorSpec(name="rsi"),
            IndicatorSpec(name="macd"),
        ],
    )
    columns = compute_indicators(request).columns
    warm_up = {"sma_20": 19, "rsi_14": 14, "macd_12_26_9.macd": 33, "macd_12_26_9.macdsignal": 33}
    for name, count in warm_up.items():
        values = columns[name]
        assert values[:count] == [None] * count, name
        assert all(value is not None for value in values[count:]), name


def test_fewer_bars_than_the_period_give_only_nulls(few_bars: BarColumns) -> None:
    bars = first_bars(few_bars, 5)
    columns = compute_indicators(
        IndicatorsRequest(
            bars=bars, indicators=[IndicatorSpec(name="sma", params={"timeperiod": 20})]
        )
    ).columns
    assert columns == {"sma_20": [None] * 5}


def test_integer_prices_are_converted_for_talib(few_bars: BarColumns) -> None:
    # TA-Lib raises on int64 arrays; a request built in Python may carry ints.
    closes = [round(price) for price in few_bars.close]
    bars = msgspec.structs.replace(few_bars, close=closes)
    columns = compute_indicators(
        IndicatorsRequest(
            bars=bars, indicators=[IndicatorSpec(name="sma", params={"timeperiod": 3})]
        )
    ).columns
    assert columns["sma_3"][2] == pytest.approx(sum(closes[:3]) / 3)


def test_json_request_is_decoded_and_named_per_column(few_bars: BarColumns) -> None:
    request = IndicatorsRequest(bars=few_bars, indicators=[IndicatorSpec(name="ema", id="fast")])
    decoded = msgspec.json.decode(encode_request(request), type=IndicatorsRequest)
    assert list(compute_indicators(decoded).columns) == ["fast"]


def _request_json(bars: BarColumns, indicators: list[dict[str, object]]) -> dict[str, object]:
    document: dict[str, object] = msgspec.to_builtins(IndicatorsRequest(bars=bars, indicators=[]))
    document["indicators"] = indicators
    return document


def _set(document: dict[str, object], path: tuple[str | int, ...], value: object) -> None:
    target: object = document
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]


SMA = [{"name": "sma"}]


def case(
    case_id: str,
    fields: list[str],
    indicators: list[dict[str, object]] | None = None,
    change: tuple[tuple[str | int, ...], object] | None = None,
) -> object:
    return pytest.param(change, SMA if indicators is None else indicators, fields, id=case_id)


INVALID_CASES = [
    case("column-length", ["bars.high"], change=(("bars", "high"), [])),
    case(
        "unknown-param", ["indicators[0].params.window"], [{"name": "sma", "params": {"window": 5}}]
    ),
    case(
        "period-too-small",
        ["indicators[1].params.timeperiod"],
        [{"name": "sma"}, {"name": "rsi", "params": {"timeperiod": 1}}],
    ),
    case(
        "period-too-large",
        ["indicators[0].params.timeperiod"],
        [{"name": "ema", "params": {"timeperiod": 100_001}}],
    ),
    case(
        "macd-fast-not-below-slow",
        ["indicators[0].params.fastperiod"],
        [{"name": "macd", "params": {"fastperiod": 30}}],
    ),
    # msgspec does not say which key of a dict held the bad value: the dict is named.
    case("param-type", ["indicators[0].params"], [{"name": "sma", "params": {"timeperiod": "20"}}]),
    case("unknown-indicator", ["indicators[0].name"], [{"name": "smaa"}]),
    case("bad-name", ["indicators[0].name"], [{"name": "sma;drop"}]),
    case(
        "not-a-whole-number",
        ["indicators[0].params.timeperiod"],
        [{"name": "sma", "params": {"timeperiod": 20.5}}],
    ),
    case(
        "ma-type-out-of-range",
        ["indicators[0].params.matype"],
        [{"name": "bbands", "params": {"matype": 99}}],
    ),
    case(
        "unknown-input",
        ["indicators[0].inputs.prices"],
        [{"name": "sma", "inputs": {"prices": "high"}}],
    ),
    case(
        "input-column-absent",
        ["indicators[0].inputs.volume"],
        [{"name": "obv", "inputs": {"volume": "open_interest"}}],
    ),
    case("dotted-id", ["indicators[0].id"], [{"name": "sma", "id": "a.b"}]),
    case("duplicate-column", ["indicators[1].id"], [{"name": "sma"}, {"name": "sma"}]),
    case("no-indicators", ["indicators"], []),
    case("naive-time", ["bars.ts[2]"], change=(("bars", "ts", 2), "2019-04-08T13:38:00")),
    case("unsorted-time", ["bars.ts[2]"], change=(("bars", "ts", 2), "2019-04-08T05:36:00Z")),
    case("repeated-time", ["bars.ts[1]"], change=(("bars", "ts", 1), "2019-04-08T05:36:00Z")),
    case("negative-volume", ["bars.volume[4]"], change=(("bars", "volume", 4), -1)),
    case("price-type", ["bars.close[3]"], change=(("bars", "close", 3), "oops")),
]


@pytest.mark.parametrize(("change", "indicators", "fields"), INVALID_CASES)
async def test_every_validation_error_names_its_field(
    few_bars: BarColumns,
    deps: Deps,
    change: tuple[tuple[str | int, ...], object] | None,
    indicators: list[dict[str, object]],
    fields: list[str],
) -> None:
    document = _request_json(few_bars, indicators)
    if change is not None:
        _set(document, *change)
    outcome = msgspec.json.decode(
        await execute("indicators", msgspec.json.encode(document), deps), type=CallOutcome
    )
    assert outcome.error is not None, outcome
    assert outcome.error.code == "invalid_request"
    assert outcome.error.fields == fields, outcome.error.detail


async def test_a_price_too_large_for_a_float_is_refused_by_field(
    few_bars: BarColumns, deps: Deps
) -> None:
    document = _request_json(few_bars, [{"name": "sma"}])
    _set(document, ("bars", "close", 5), 123456.5)
    # JSON has no NaN or infinity; a number beyond float range is the way to send one.
    payload = msgspec.json.encode(document).replace(b"123456.5", b"1e999")
    outcome = msgspec.json.decode(await execute("indicators", payload, deps), type=CallOutcome)
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert outcome.error.fields == ["bars.close[5]"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_prices_built_in_python_are_refused(few_bars: BarColumns, bad: float) -> None:
    closes = list(few_bars.close)
    closes[7] = bad
    request = IndicatorsRequest(
        bars=msgspec.structs.replace(few_bars, close=closes),
        indicators=[IndicatorSpec(name="sma", params={"timeperiod": 20})],
    )
    with pytest.raises(RequestError, match="not a finite number") as caught:
        compute_indicators(request)
    assert caught.value.fields == ["bars.close[7]"]


def test_a_formula_is_computed_beside_catalogue_indicators(few_bars: BarColumns) -> None:
    request = IndicatorsRequest(
        bars=few_bars,
        indicators=[
            IndicatorSpec(name="ema", params={"timeperiod": 5}),
            IndicatorSpec(formula="ema(close, 5) - ema(close, 10)", id="spread"),
        ],
    )
    columns = compute_indicators(request).columns
    close = np.asarray(few_bars.close, dtype=np.float64)
    expected = talib.EMA(close, 5) - talib.EMA(close, 10)
    np.testing.assert_allclose(as_array(columns["spread"]), expected, rtol=1e-12, equal_nan=True)
    assert columns["spread"][:9] == [None] * 9  # undefined until both EMAs are


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"formula": "close * 2"}, "indicators[0].id", "needs an `id`"),
        ({"formula": "ema(close, 0)", "id": "x"}, "indicators[0].formula", "at column 1"),
        ({"formula": "@mine", "id": "x"}, "indicators[0].formula", "only the gateway"),
        ({"name": "sma", "formula": "close", "id": "x"}, "indicators[0]", "one of them"),
        ({}, "indicators[0]", "one of them"),
        ({"formula": "close", "id": "x", "params": {"a": 1}}, "indicators[0].params", "no"),
    ],
)
async def test_formula_specs_are_checked_by_field(
    few_bars: BarColumns, deps: Deps, spec: dict[str, object], field: str, message: str
) -> None:
    document = _request_json(few_bars, [spec])
    outcome = msgspec.json.decode(
        await execute("indicators", msgspec.json.encode(document), deps), type=CallOutcome
    )
    assert outcome.error is not None
    assert outcome.error.fields == [field], outcome.error.detail
    assert message in outcome.error.detail
