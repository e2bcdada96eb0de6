"""Header mapping and the bar-end -> bar-start relabelling of market-data files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from shared.domain import Exchange
from shared.marketdata.bar_files import (
    FileColumnError,
    header_mapping,
    is_ctp_tick_file,
    map_file,
    shift_to_start,
    split_symbol,
)


def test_headers_match_aliases_case_insensitively() -> None:
    columns = ["", "local_symbol", "DateTime", "Open_Price", "close_price", "HIGH", "low", "amount"]
    found = header_mapping(columns)
    assert found["symbol"] == "local_symbol"
    assert found["datetime"] == "DateTime"
    assert found["open"] == "Open_Price"
    assert found["close"] == "close_price"
    assert found["turnover"] == "amount"
    assert header_mapping(["close_oi", "open_oi"])["open_interest"] == "close_oi"


def test_map_option_overrides_the_aliases() -> None:
    found = header_mapping(["px", "open"], {"px": "close"})
    assert found["close"] == "px"
    with pytest.raises(FileColumnError, match="`nope`"):
        header_mapping(["open"], {"nope": "close"})


def test_symbols_in_both_exchange_orders() -> None:
    assert split_symbol("SHFE.au1912") == (Exchange.SHFE, "au1912")
    assert split_symbol("rb2401.SHFE") == (Exchange.SHFE, "rb2401")
    assert split_symbol("IF2101") == (None, "IF2101")


def test_ctp_tick_headers_are_recognised() -> None:
    assert is_ctp_tick_file(["TradingDay", "ActionDay", "UpdateTime", "UpdateMillisec", "x"])
    assert not is_ctp_tick_file(["datetime", "open"])


def _bars(**overrides: list[str]) -> pl.DataFrame:
    columns = {
        "datetime": ["2023-10-10 14:59:00", "2023-10-10 15:00:00"],
        "open": ["1", "2"],
        "high": ["2", "3"],
        "low": ["1", "1"],
        "close": ["2", "2"],
    }
    return pl.DataFrame({**columns, **overrides})


def test_local_times_become_utc_and_end_labels_shift_to_starts() -> None:
    mapped = map_file(_bars(), symbol="SHFE.rb2401")
    first_local = datetime(2023, 10, 10, 14, 59, tzinfo=UTC) - timedelta(hours=8)
    assert mapped.frame["start"][0] == first_local
    shifted = shift_to_start(mapped, timedelta(minutes=1))
    assert shifted.frame["start"].to_list() == [
        first_local - timedelta(minutes=1),
        first_local,
    ]
    assert mapped.frame["exchange"].to_list() == ["SHFE", "SHFE"]


def test_garbage_price_names_column_and_row() -> None:
    with pytest.raises(FileColumnError, match=r"column `close`, row 1: 'abc' is not a number"):
        map_file(_bars(close=["2", "abc"]), symbol="SHFE.rb2401")


def test_missing_column_is_named() -> None:
    frame = _bars().drop("low")
    with pytest.raises(FileColumnError, match="column `low`"):
        map_file(frame, symbol="SHFE.rb2401")


def test_missing_exchange_is_refused() -> None:
    with pytest.raises(FileColumnError, match="`symbol`"):
        map_file(_bars())
