"""Which user owns a trading account, so account events reach only that user's sockets."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.tables import AccountRow

# An account not found yet may be created a moment later (the first login to a broker).
_UNKNOWN_TTL_S = 30.0


class AccountOwners:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._owners: dict[str, int] = {}
        self._unknown: dict[str, float] = {}

    def learn(self, account_id: str, user_id: int) -> None:
        """An account just opened here: its events reach the owner from now on, not only
        once the memory of having looked for it in vain has run out."""
        self._owners[account_id] = user_id
        self._unknown.pop(account_id, None)

    async def owner_of(self, account_id: str) -> int | None:
        owner = self._owners.get(account_id)
        if owner is not None:
            return owner
        checked = self._unknown.get(account_id)
        if checked is not None and self._clock() - checked < _UNKNOWN_TTL_S:
            return None
        async with self._sessions() as session:
            found = await session.scalar(
                select(AccountRow.user_id).where(AccountRow.account_id == account_id)
            )
        if found is None:
            self._unknown[account_id] = self._clock()
            return None
        self._owners[account_id] = found
        self._unknown.pop(account_id, None)
        return found
