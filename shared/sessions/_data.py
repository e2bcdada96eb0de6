"""The shipped data files: the holiday table, night suspensions and product schedules."""

from __future__ import annotations

import csv
from datetime import date
from functools import cache
from importlib import resources

from shared.sessions._calendar import Holiday, TradingCalendar
from shared.sessions._catalog import SessionCatalog, parse_sessions_toml


def parse_holidays_csv(text: str) -> list[Holiday]:
    """Holidays from CSV text with the header `date,name`; lines starting with `#` are comments."""
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    if rows.fieldnames is None or "date" not in rows.fieldnames:
        raise ValueError("holidays CSV: the header must name a `date` column")
    holidays = []
    for row in rows:
        try:
            day = date.fromisoformat(row["date"].strip())
        except ValueError:
            raise ValueError(f"holidays CSV: bad date {row['date']!r} (want YYYY-MM-DD)") from None
        holidays.append(Holiday(day, (row.get("name") or "").strip()))
    return holidays


def parse_night_suspensions_csv(text: str) -> list[date]:
    """Every evening of the `first,last` ranges (inclusive) in CSV text; `#` lines are comments."""
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    evenings: list[date] = []
    for row in rows:
        first = date.fromisoformat(row["first"].strip())
        last = date.fromisoformat(row["last"].strip())
        if last < first:
            raise ValueError(f"night suspensions CSV: {last} is before {first}")
        evenings += (
            date.fromordinal(ordinal) for ordinal in range(first.toordinal(), last.toordinal() + 1)
        )
    return evenings


@cache
def load_calendar() -> TradingCalendar:
    """The shipped calendar (`data/holidays.csv` and `data/night_suspensions.csv`)."""
    return TradingCalendar(
        parse_holidays_csv(_read_data_file("holidays.csv")),
        night_suspensions=parse_night_suspensions_csv(_read_data_file("night_suspensions.csv")),
    )


@cache
def load_sessions() -> SessionCatalog:
    """The shipped product schedules (`data/sessions.toml`)."""
    return parse_sessions_toml(_read_data_file("sessions.toml"))


def _read_data_file(name: str) -> str:
    # The package's only I/O: its own data files, wherever the package is installed.
    return resources.files("shared.sessions").joinpath("data", name).read_text(encoding="utf-8")
