"""Project-native indicators TA-Lib lacks, as catalogue entries shaped like TA-Lib's.

Each entry's function takes its input arrays positionally in ``info.inputs`` order and its
parameters as keywords, and returns float64 arrays aligned with the input (NaN where
undefined), one per ``info.outputs``.

Names avoid TA-Lib's: this build already has ``vwap`` (cumulative over the whole series,
never reset) and ``donchian``, so the session-anchored VWAP is ``session_vwap`` and the
channel ``donchian_channel``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.indicators._catalog import IndicatorInfo, InputInfo, OutputInfo, ParamInfo
from shared.indicators._native_price import (
    bbands_pctb,
    donchian_channel,
    heikin_ashi,
    keltner,
    oi_change,
)
from shared.indicators._native_session import session_vwap, volume_profile

FloatArray = npt.NDArray[np.float64]

_PERIOD_MAX: Final = 100_000.0


@dataclass(frozen=True, slots=True)
class NativeIndicator:
    info: IndicatorInfo
    function: Callable[..., tuple[FloatArray, ...] | FloatArray]
    lookback_of: Callable[[Mapping[str, float]], int]

    def lookback(self, params: Mapping[str, float]) -> int:
        """How many leading values are undefined with ``params`` (session indicators: 0,
        their gaps depend on the data, not the parameters)."""
        return self.lookback_of(params)


def _columns(*names: str) -> tuple[InputInfo, ...]:
    return tuple(InputInfo(name=name, default=name) for name in names)


def _period(name: str, title: str, default: float, low: float, help_: str) -> ParamInfo:
    return ParamInfo(
        name=name, title=title, type="int", default=default, min=low, max=_PERIOD_MAX, help=help_
    )


def _outputs(*pairs: tuple[str, str]) -> tuple[OutputInfo, ...]:
    return tuple(OutputInfo(name=name, style=style) for name, style in pairs)


def _none(_: Mapping[str, float]) -> int:
    return 0


def _param(params: Mapping[str, float], info: IndicatorInfo, name: str) -> float:
    found = info.param(name)
    default = found.default if found is not None else 0.0
    return float(params.get(name, default))


_TRADING_DAY: Final = InputInfo(name="trading_day", default="trading_day")

_SESSION_VWAP: Final = IndicatorInfo(
    name="session_vwap",
    title="Session VWAP (resets each trading day)",
    group="Volume Indicators",
    source="native",
    inputs=(*_columns("high", "low", "close", "volume"), _TRADING_DAY),
    params=(),
    outputs=_outputs(("vwap", "line")),
    overlay=True,
)
_DONCHIAN: Final = IndicatorInfo(
    name="donchian_channel",
    title="Donchian Channel",
    group="Overlap Studies",
    source="native",
    inputs=_columns("high", "low"),
    params=(_period("timeperiod", "Time Period", 20, 1, "Bars in the channel window"),),
    outputs=_outputs(("upper", "upper"), ("middle", "dashed"), ("lower", "lower")),
    overlay=True,
)
_KELTNER: Final = IndicatorInfo(
    name="keltner",
    title="Keltner Channel (EMA ± ATR)",
    group="Overlap Studies",
    source="native",
    inputs=_columns("high", "low", "close"),
    params=(
        _period("timeperiod", "EMA Period", 20, 1, "Period of the EMA of the close (middle)"),
        _period("atr_period", "ATR Period", 10, 1, "Period of the ATR setting the width"),
        ParamInfo(
            name="multiplier",
            title="Multiplier",
            type="float",
            default=2.0,
            min=0.0,
            max=1e6,
            help="ATRs between the middle and each band",
        ),
    ),
    outputs=_outputs(("upper", "upper"), ("middle", "line"), ("lower", "lower")),
    overlay=True,
)
_BBANDS_PCTB: Final = IndicatorInfo(
    name="bbands_pctb",
    title="Bollinger %B and Bandwidth",
    group="Momentum Indicators",
    source="native",
    inputs=(InputInfo(name="price", default="close"),),
    params=(
        _period("timeperiod", "Time Period", 20, 2, "Bars in the Bollinger window (SMA)"),
        ParamInfo(
            name="nbdev",
            title="Deviations",
            type="float",
            default=2.0,
            min=0.01,
            max=1e6,
            help="Standard deviations from the middle to each band",
        ),
    ),
    outputs=_outputs(("pctb", "line"), ("width", "dashed")),
    overlay=False,
)
_HEIKIN_ASHI: Final = IndicatorInfo(
    name="heikin_ashi",
    title="Heikin-Ashi Candles",
    group="Price Transform",
    source="native",
    inputs=_columns("open", "high", "low", "close"),
    params=(),
    outputs=_outputs(
        ("ha_open", "line"), ("ha_high", "upper"), ("ha_low", "lower"), ("ha_close", "line")
    ),
    overlay=True,
)
_OI_CHANGE: Final = IndicatorInfo(
    name="oi_change",
    title="Open Interest Change",
    group="Volume Indicators",
    source="native",
    inputs=_columns("open_interest"),
    params=(),
    outputs=_outputs(("change", "histogram")),
    overlay=False,
)
_VOLUME_PROFILE: Final = IndicatorInfo(
    name="volume_profile",
    title="Session Volume Profile (POC, value area)",
    group="Volume Indicators",
    source="native",
    inputs=(*_columns("close", "volume"), _TRADING_DAY),
    params=(
        ParamInfo(
            name="bucket",
            title="Bucket Size",
            type="float",
            default=1.0,
            min=1e-9,
            max=1e9,
            help="Price step of the profile's buckets (e.g. the tick size)",
        ),
        ParamInfo(
            name="value_area",
            title="Value Area",
            type="float",
            default=0.7,
            min=0.01,
            max=1.0,
            help="Share of the session's volume the value area holds",
        ),
    ),
    outputs=_outputs(("poc", "line"), ("vah", "upper"), ("val", "lower")),
    overlay=True,
)


def _donchian_lookback(params: Mapping[str, float]) -> int:
    return int(_param(params, _DONCHIAN, "timeperiod")) - 1


def _keltner_lookback(params: Mapping[str, float]) -> int:
    # TA-Lib: EMA(p) leaves p - 1 bars undefined, ATR(p) p bars (it needs a previous close).
    ema = int(_param(params, _KELTNER, "timeperiod")) - 1
    return max(ema, int(_param(params, _KELTNER, "atr_period")))


def _bbands_lookback(params: Mapping[str, float]) -> int:
    return int(_param(params, _BBANDS_PCTB, "timeperiod")) - 1


def _one(_: Mapping[str, float]) -> int:
    return 1


NATIVE: Final[dict[str, NativeIndicator]] = {
    entry.info.name: entry
    for entry in (
        NativeIndicator(_SESSION_VWAP, session_vwap, _none),
        NativeIndicator(_DONCHIAN, donchian_channel, _donchian_lookback),
        NativeIndicator(_KELTNER, keltner, _keltner_lookback),
        NativeIndicator(_BBANDS_PCTB, bbands_pctb, _bbands_lookback),
        NativeIndicator(_HEIKIN_ASHI, heikin_ashi, _none),
        NativeIndicator(_OI_CHANGE, oi_change, _one),
        NativeIndicator(_VOLUME_PROFILE, volume_profile, _none),
    )
}
