"""A `BarView` that reads the current bar from the engine's row lists instead of holding it.

Setting ten attributes per bar costs a tenth of a simple strategy's whole bar in a Python
loop; most strategies read one or two of them, and most indicators only the close. The
single-series loop therefore only moves the row index; a field is read when asked for.
"""

from __future__ import annotations

from typing import Any

from shared.strategy import BarView


class RowView(BarView):
    __slots__ = ("_i", "_rows")

    def __init__(self, symbol: str) -> None:
        # Not BarView.__init__: it would assign the fields this class reads from the rows.
        object.__setattr__(self, "symbol", symbol)
        self.index = -1
        self._rows: list[list[Any]] = [[] for _ in range(9)]
        self._i = 0

    def bind(self, rows: list[list[Any]]) -> None:
        """The chunk's lists: start, day, open, high, low, close, volume, OI, last-of-day."""
        self._rows = rows

    @property
    def ts_ns(self) -> int:  # type: ignore[override]
        value: int = self._rows[0][self._i]
        return value

    @property
    def day(self) -> int:  # type: ignore[override]
        value: int = self._rows[1][self._i]
        return value

    @property
    def open(self) -> float:  # type: ignore[override]
        value: float = self._rows[2][self._i]
        return value

    @property
    def high(self) -> float:  # type: ignore[override]
        value: float = self._rows[3][self._i]
        return value

    @property
    def low(self) -> float:  # type: ignore[override]
        value: float = self._rows[4][self._i]
        return value

    @property
    def close(self) -> float:  # type: ignore[override]
        value: float = self._rows[5][self._i]
        return value

    @property
    def volume(self) -> float:  # type: ignore[override]
        value: float = self._rows[6][self._i]
        return value

    @property
    def open_interest(self) -> float:  # type: ignore[override]
        value: float = self._rows[7][self._i]
        return value

    @property
    def last_of_day(self) -> bool:  # type: ignore[override]
        value: bool = self._rows[8][self._i]
        return value
