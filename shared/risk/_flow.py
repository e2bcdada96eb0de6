"""Order-flow bookkeeping of one scope (the account, or one strategy) for one trading day."""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime, timedelta

_SECOND = timedelta(seconds=1)

# What makes two orders "the same order" for duplicate detection.
Fingerprint = tuple[str, str, str, int | None, int]  # key, side, offset, price, volume


class FlowCounters:
    __slots__ = (
        "active",
        "cancels",
        "cancels_by_key",
        "fingerprints",
        "orders",
        "orders_by_key",
        "recent",
        "trades",
    )

    def __init__(self) -> None:
        self.recent: deque[datetime] = deque()  # send times within the last second
        self.orders = 0
        self.orders_by_key: Counter[str] = Counter()
        self.cancels = 0
        self.cancels_by_key: Counter[str] = Counter()
        self.trades = 0
        self.active = 0  # working orders
        self.fingerprints: dict[Fingerprint, datetime] = {}

    def orders_in_last_second(self, now: datetime) -> int:
        recent = self.recent
        while recent and now - recent[0] >= _SECOND:
            recent.popleft()
        return len(recent)

    def last_sent(self, fingerprint: Fingerprint) -> datetime | None:
        return self.fingerprints.get(fingerprint)

    def record_order(self, key: str, fingerprint: Fingerprint, now: datetime) -> None:
        self.recent.append(now)
        self.orders += 1
        self.orders_by_key[key] += 1
        self.active += 1
        self.fingerprints[fingerprint] = now

    def record_cancel(self, key: str) -> None:
        self.cancels += 1
        self.cancels_by_key[key] += 1

    def record_trade(self) -> None:
        self.trades += 1

    def order_finished(self) -> None:
        self.active = max(0, self.active - 1)

    def new_day(self) -> None:
        """Daily counts start again; working orders carry over (a DAY order expires anyway)."""
        self.recent.clear()
        self.orders = self.cancels = self.trades = 0
        self.orders_by_key.clear()
        self.cancels_by_key.clear()
        self.fingerprints.clear()
