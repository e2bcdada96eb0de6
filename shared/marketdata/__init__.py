"""Market-data file formats (pure parsing; callers open the files)."""

from shared.marketdata.ctp_csv import TickFileError, parse_ctp_tick_rows

__all__ = ["TickFileError", "parse_ctp_tick_rows"]
