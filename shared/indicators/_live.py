"""Indicators kept up to date bar by bar for one live series (a WebSocket client's bars of one
symbol and interval), with the streaming versions: O(1) per closed bar, values equal to the
batch computation over the same bars.

A set is seeded with the stored history first, so its values are defined from the first live
bar on; bars at or before the last one it took are ignored (the history and the live stream
may overlap by a bar).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from shared.domain import Bar
from shared.indicators._naming import column_names
from shared.indicators._registry import IndicatorError, UnknownIndicatorError, checked_params, find
from shared.indicators._streaming import STREAMING, StreamingIndicator, streaming

_BAR_FIELDS = frozenset({"open", "high", "low", "close", "volume", "open_interest", "trading_day"})


def _value(bar: Bar, field: str) -> float:
    # Session indicators take the trading day as the day number the batch versions take.
    if field == "trading_day":
        return float(bar.trading_day.toordinal())
    value: float = getattr(bar, field)
    return value


class LiveIndicatorSpec(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    name: str
    params: dict[str, int | float] = msgspec.field(default_factory=dict)
    id: str | None = None


class _Live:
    __slots__ = ("columns", "fields", "indicator")

    def __init__(self, indicator: StreamingIndicator, fields: tuple[str, ...], columns: list[str]):
        self.indicator = indicator
        self.fields = fields
        self.columns = columns


class LiveIndicatorSet:
    """Raises `IndicatorError` (``field`` relative to the list: ``indicators[1].params.x``)
    for a spec that cannot run live."""

    def __init__(self, specs: Sequence[LiveIndicatorSpec]) -> None:
        self._live: list[_Live] = []
        self._last_start: datetime | None = None
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            where = f"indicators[{index}]"
            try:
                info = find(spec.name).info
            except UnknownIndicatorError as exc:
                raise IndicatorError(str(exc), f"{where}.name") from None
            if info.name not in STREAMING:
                live = ", ".join(sorted(STREAMING))
                raise IndicatorError(
                    f"{info.name} has no live version; live indicators are {live}",
                    f"{where}.name",
                )
            try:
                params = checked_params(info, spec.params)
                indicator = streaming(info.name, **params)
            except IndicatorError as exc:
                raise IndicatorError(str(exc), f"{where}.{exc.field}") from None
            except ValueError as exc:  # a parameter the streaming version does not take
                raise IndicatorError(f"{info.name}: {exc}", f"{where}.params") from None
            columns = column_names(info.name, params, [o.name for o in info.outputs], spec.id)
            if seen & set(columns):
                raise IndicatorError(
                    f"{where} repeats column {sorted(seen & set(columns))[0]!r}; give it an `id`",
                    f"{where}.id",
                )
            seen |= set(columns)
            fields = tuple(i.default for i in info.inputs)
            if not set(fields) <= _BAR_FIELDS:
                raise IndicatorError(f"{info.name} needs inputs a bar has not", f"{where}.name")
            self._live.append(_Live(indicator, fields, columns))

    @property
    def lookback(self) -> int:
        """How many bars the slowest indicator needs before its first value."""
        return max((live.indicator.lookback for live in self._live), default=0)

    def seed(self, bars: Iterable[Bar]) -> None:
        for bar in bars:
            self.update(bar)

    def update(self, bar: Bar) -> dict[str, float | None] | None:
        """The values after ``bar`` by column name; None for a bar already taken."""
        if self._last_start is not None and bar.start <= self._last_start:
            return None
        self._last_start = bar.start
        values: dict[str, float | None] = {}
        for live in self._live:
            result: Any = live.indicator.update(*(_value(bar, f) for f in live.fields))
            outputs = result if isinstance(result, tuple) else (result,)
            values.update(zip(live.columns, outputs, strict=True))
        return values
