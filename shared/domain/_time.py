"""Time conventions: exchange time is Asia/Shanghai, storage and the wire are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

EXCHANGE_TZ = ZoneInfo("Asia/Shanghai")


def require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"`{field}` must be timezone-aware, got naive {value.isoformat()}")


def to_utc(value: datetime) -> datetime:
    require_aware(value, "timestamp")
    return value.astimezone(UTC)


def exchange_local(value: datetime) -> datetime:
    require_aware(value, "timestamp")
    return value.astimezone(EXCHANGE_TZ)
