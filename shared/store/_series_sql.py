"""The one read query both backends run: a series, a time range, optionally its last N rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.store._series_spec import SeriesSpec, column_list, quoted


@dataclass(frozen=True)
class SeriesQuery:
    key: tuple[str, ...]  # values of the spec's key columns, in order
    start: datetime | None = None  # inclusive, aware
    end: datetime | None = None  # exclusive, aware
    limit: int | None = None  # the last ``limit`` rows of the range

    def where_clause(
        self,
        spec: SeriesSpec,
        placeholder: str,
        time_param: Callable[[datetime], object] = lambda value: value,
    ) -> tuple[str, list[object]]:
        conditions = [f"{quoted(column.name)} = {placeholder}" for column in spec.key]
        params: list[object] = list(self.key)
        time = quoted(spec.time.name)
        if self.start is not None:
            conditions.append(f"{time} >= {placeholder}")
            params.append(time_param(self.start))
        if self.end is not None:
            conditions.append(f"{time} < {placeholder}")
            params.append(time_param(self.end))
        return " AND ".join(conditions), params


def select_clause(spec: SeriesSpec, query: SeriesQuery, fields: str, where: str) -> str:
    """Ascending by time; with a limit, descending (the reader turns it back around)."""
    time = quoted(spec.time.name)
    order = (
        f"ORDER BY {time}" if query.limit is None else f"ORDER BY {time} DESC LIMIT {query.limit:d}"
    )
    return f"SELECT {fields} FROM {spec.table} WHERE {where} {order}"  # noqa: S608  (spec names)


def distinct_keys(spec: SeriesSpec, *, loose_index_scan: bool) -> str:
    """Every stored series key, sorted.

    PostgreSQL has no skip scan: a plain DISTINCT reads every index entry (minutes on a large
    table), so it gets a loose index scan instead, one index probe per series.
    """
    names = column_list(spec.key)
    if not loose_index_scan:
        return f"SELECT DISTINCT {names} FROM {spec.table} ORDER BY {names}"  # noqa: S608

    def of(alias: str) -> str:
        return ", ".join(f"{alias}.{quoted(column.name)}" for column in spec.key)

    first = f"SELECT {names} FROM {spec.table} ORDER BY {names} LIMIT 1"  # noqa: S608
    after = (
        f"SELECT {names} FROM {spec.table} candidate WHERE ({of('candidate')}) > ({of('found')}) "  # noqa: S608
        f"ORDER BY {names} LIMIT 1"
    )
    return (
        f"WITH RECURSIVE found AS (({first}) UNION ALL "  # noqa: S608
        f"SELECT {of('following')} FROM found, LATERAL ({after}) following) "
        f"SELECT {names} FROM found"
    )
