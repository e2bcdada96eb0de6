"""Column layouts of tick and bar frames, and conversions to and from the domain Structs.

A tick frame has `ts` (Datetime UTC), `last_price`, `volume` (cumulative for the trading day),
`turnover` (cumulative), `open_interest`, and optionally `bid_price`, `ask_price`,
`upper_limit`, `lower_limit`. A bar frame has `start` (Datetime UTC, inclusive),
`trading_day` (Date), `open`, `high`, `low`, `close`, `volume` (Int64), `turnover`,
`open_interest` (the last tick's / the last bar's).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import polars as pl

from shared.domain import EXCHANGE_TZ, Bar, Exchange, Interval, Tick

UTC_NS = pl.Datetime("ns", "UTC")
BAR_COLUMNS = (
    "start",
    "trading_day",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "turnover",
    "open_interest",
)
_OPTIONAL_PRICES = ("bid_price", "ask_price", "upper_limit", "lower_limit")


def tick_frame(ticks: Iterable[Tick]) -> pl.DataFrame:
    """The tick frame of domain Ticks (in the given order)."""
    rows = [
        (
            t.ts,
            t.last_price,
            t.volume,
            t.turnover,
            t.open_interest,
            t.bid_price,
            t.ask_price,
            t.upper_limit,
            t.lower_limit,
        )
        for t in ticks
    ]
    names = ("ts", "last_price", "volume", "turnover", "open_interest", *_OPTIONAL_PRICES)
    types: tuple[pl.DataType, ...] = (UTC_NS, pl.Float64(), pl.Int64(), *(pl.Float64(),) * 6)
    schema = dict(zip(names, types, strict=True))
    return pl.DataFrame(rows, schema=schema, orient="row")


def ctp_tick_frame(csv_bytes: bytes) -> pl.DataFrame:
    """A tick frame from a CTP-column CSV (ActionDay + UpdateTime + UpdateMillisec, local).

    It also carries the file's `trading_day` (CTP's TradingDay); cleaning recomputes it from
    the sessions.
    """
    raw = pl.read_csv(io.BytesIO(csv_bytes), infer_schema_length=0)
    local = pl.concat_str(pl.col("ActionDay"), pl.lit(" "), pl.col("UpdateTime")).str.to_datetime(
        "%Y%m%d %H:%M:%S", time_unit="ns"
    )
    millis = pl.duration(milliseconds=pl.col("UpdateMillisec").cast(pl.Int64))
    price = {
        "bid_price": "BidPrice1",
        "ask_price": "AskPrice1",
        "upper_limit": "UpperLimitPrice",
        "lower_limit": "LowerLimitPrice",
    }
    return raw.select(
        (local + millis)
        .dt.replace_time_zone(str(EXCHANGE_TZ))
        .dt.convert_time_zone("UTC")
        .alias("ts"),
        pl.col("TradingDay").str.to_date("%Y%m%d").alias("trading_day"),
        pl.col("LastPrice").cast(pl.Float64).alias("last_price"),
        pl.col("Volume").cast(pl.Int64).alias("volume"),
        pl.col("Turnover").cast(pl.Float64).alias("turnover"),
        pl.col("OpenInterest").cast(pl.Float64).alias("open_interest"),
        *(pl.col(src).cast(pl.Float64).alias(name) for name, src in price.items()),
    )


def ticks_of_frame(frame: pl.DataFrame, symbol: str, exchange: Exchange) -> list[Tick]:
    """Domain Ticks of a tick frame; `trading_day` is taken from the frame's column."""
    present = [c for c in _OPTIONAL_PRICES if c in frame.columns]
    columns = ["ts", "trading_day", "last_price", "volume", "turnover", "open_interest", *present]
    return [
        Tick(
            symbol=symbol,
            exchange=exchange,
            ts=row["ts"],
            trading_day=row["trading_day"],
            last_price=row["last_price"],
            volume=row["volume"],
            turnover=row["turnover"],
            open_interest=row["open_interest"],
            **{name: row[name] for name in present},
        )
        for row in frame.select(columns).iter_rows(named=True)
    ]


def bars_of_frame(
    frame: pl.DataFrame, symbol: str, exchange: Exchange, interval: Interval
) -> list[Bar]:
    return [
        Bar(symbol=symbol, exchange=exchange, interval=interval, **row)
        for row in frame.select(BAR_COLUMNS).iter_rows(named=True)
    ]


def bar_frame(bars: Sequence[Bar]) -> pl.DataFrame:
    """The bar frame of domain Bars (in the given order)."""
    schema: dict[str, pl.DataType] = {
        "start": UTC_NS,
        "trading_day": pl.Date(),
        "open": pl.Float64(),
        "high": pl.Float64(),
        "low": pl.Float64(),
        "close": pl.Float64(),
        "volume": pl.Int64(),
        "turnover": pl.Float64(),
        "open_interest": pl.Float64(),
    }
    rows = [tuple(getattr(b, name) for name in BAR_COLUMNS) for b in bars]
    return pl.DataFrame(rows, schema=schema, orient="row")
