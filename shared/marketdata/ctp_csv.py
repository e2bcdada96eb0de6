"""Read tick files written with CTP depth-market-data column names (TradingDay, ActionDay, ...)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from shared.domain import EXCHANGE_TZ, Exchange, Tick

# CTP fills absent prices with DBL_MAX; anything this large is "no value".
_ABSENT_PRICE = 1e300


class TickFileError(ValueError):
    """A row of a tick file cannot be read; the message names the line and the column."""


def _price(raw: str) -> float | None:
    value = float(raw)
    if not math.isfinite(value) or value <= 0 or value >= _ABSENT_PRICE:
        return None
    return value


def _day(raw: str) -> date:
    return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))


def parse_ctp_tick_rows(lines: Iterable[str]) -> Iterator[Tick]:
    """Yield one Tick per data row; the exchange-local ActionDay + UpdateTime become UTC."""
    reader = csv.DictReader(lines)
    for row in reader:
        line = reader.line_num
        try:
            action_day = _day(row["ActionDay"])
            hour, minute, second = (int(part) for part in row["UpdateTime"].split(":"))
            local = datetime(
                action_day.year,
                action_day.month,
                action_day.day,
                hour,
                minute,
                second,
                int(row["UpdateMillisec"]) * 1000,
                tzinfo=EXCHANGE_TZ,
            )
            last = _price(row["LastPrice"])
            if last is None:
                continue  # a quote without a trade price carries nothing to replay
            yield Tick(
                symbol=row["InstrumentID"],
                exchange=Exchange(row["ExchangeID"]),
                ts=local.astimezone(UTC),
                trading_day=_day(row["TradingDay"]),
                last_price=last,
                volume=int(row["Volume"]),
                turnover=float(row["Turnover"]),
                open_interest=float(row["OpenInterest"]),
                bid_price=_price(row["BidPrice1"]),
                bid_volume=int(float(row["BidVolume1"])),
                ask_price=_price(row["AskPrice1"]),
                ask_volume=int(float(row["AskVolume1"])),
                upper_limit=_price(row["UpperLimitPrice"]),
                lower_limit=_price(row["LowerLimitPrice"]),
            )
        except (KeyError, ValueError) as exc:
            raise TickFileError(f"line {line}: {exc}") from None
