"""What an admin set of pre-trade risk, as stored: each account's limits, its strategies' own
limits (``risk_limits``) and its trading state (two columns of ``accounts``).

The gateway reads everything once at start (`load_all`) and writes each change here before its
risk engines apply it, so a restart comes back with the limits and the kill switch in force.
Limits are stored with every field spelt out: a later change of a default in `RiskLimits` must
not quietly loosen a limit an admin chose.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import msgspec
from sqlalchemy import delete, select, update

from shared.risk import RiskLimits, TradingState
from shared.store._locks import lock_row
from shared.store.accounts import UnknownAccountError
from shared.store.tables import AccountRow, RiskLimitsRow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import CursorResult
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ACCOUNT_LIMITS = ""  # the strategy_id of an account's own limits


class AccountRiskSettings(msgspec.Struct, frozen=True, kw_only=True):
    limits: RiskLimits | None  # None: nobody set any, the gateway's defaults apply
    strategy_limits: dict[str, RiskLimits]
    state: TradingState
    state_reason: str


class RiskSettingsStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load_all(self) -> dict[str, AccountRiskSettings]:
        """Every account's settings, by account id (gateway start)."""
        async with self._sessions() as session:
            states = (
                await session.execute(
                    select(
                        AccountRow.account_id,
                        AccountRow.trading_state,
                        AccountRow.trading_state_reason,
                    )
                )
            ).all()
            rows = list(await session.scalars(select(RiskLimitsRow)))
        limits: dict[str, dict[str, RiskLimits]] = defaultdict(dict)
        for row in sorted(rows, key=lambda r: (r.account_id, r.strategy_id)):
            limits[row.account_id][row.strategy_id] = _limits_of(row)
        found: dict[str, AccountRiskSettings] = {}
        for account_id, state, reason in states:
            own = limits.get(account_id, {})
            found[account_id] = AccountRiskSettings(
                limits=own.get(ACCOUNT_LIMITS),
                strategy_limits={s: v for s, v in own.items() if s != ACCOUNT_LIMITS},
                state=state,
                state_reason=reason,
            )
        return found

    async def limits_of(self, account_id: str) -> tuple[RiskLimits | None, dict[str, RiskLimits]]:
        """(the account's own limits or None, each strategy's limits by strategy id)."""
        query = (
            select(RiskLimitsRow)
            .where(RiskLimitsRow.account_id == account_id)
            .order_by(RiskLimitsRow.strategy_id)
        )
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
        found = {row.strategy_id: _limits_of(row) for row in rows}
        own = found.pop(ACCOUNT_LIMITS, None)
        return own, found

    async def set_limits(
        self,
        account_id: str,
        strategy_id: str | None,
        limits: RiskLimits,
        *,
        user_id: int | None,
        now: datetime,
    ) -> None:
        """Replace the account's limits (``strategy_id`` None) or one strategy's."""
        key = (account_id, strategy_id or ACCOUNT_LIMITS)
        document = msgspec.to_builtins(limits)
        async with self._sessions.begin() as session:
            # The account row lock queues two admins writing the same new row at once.
            await lock_row(session, AccountRow.account_id, account_id)
            if await session.get(AccountRow, account_id) is None:
                raise UnknownAccountError(f"no account {account_id!r}")
            row = await session.get(RiskLimitsRow, key)
            if row is None:
                session.add(
                    RiskLimitsRow(
                        account_id=account_id,
                        strategy_id=key[1],
                        limits=document,
                        updated_at=now,
                        updated_by=user_id,
                    )
                )
            else:
                row.limits = document
                row.updated_at = now
                row.updated_by = user_id

    async def clear_strategy_limits(self, account_id: str, strategy_id: str) -> bool:
        """False when the strategy had no limits of its own."""
        if not strategy_id:
            raise ValueError("`strategy_id` is required: an account's own limits stay")
        statement = delete(RiskLimitsRow).where(
            RiskLimitsRow.account_id == account_id, RiskLimitsRow.strategy_id == strategy_id
        )
        async with self._sessions.begin() as session:
            result = cast("CursorResult[Any]", await session.execute(statement))
        return result.rowcount > 0

    async def state_of(self, account_id: str) -> tuple[TradingState, str]:
        query = select(AccountRow.trading_state, AccountRow.trading_state_reason).where(
            AccountRow.account_id == account_id
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).one_or_none()
        if found is None:
            raise UnknownAccountError(f"no account {account_id!r}")
        return found[0], found[1]

    async def set_state(self, account_id: str, state: TradingState, reason: str) -> None:
        if not await self.set_states([account_id], state, reason):
            raise UnknownAccountError(f"no account {account_id!r}")

    async def set_states(self, account_ids: Iterable[str], state: TradingState, reason: str) -> int:
        """One transaction for many accounts (the kill switch); how many were found."""
        statement = (
            update(AccountRow)
            .where(AccountRow.account_id.in_(list(account_ids)))
            .values(trading_state=state, trading_state_reason=reason)
        )
        async with self._sessions.begin() as session:
            result = cast("CursorResult[Any]", await session.execute(statement))
        return result.rowcount


def _limits_of(row: RiskLimitsRow) -> RiskLimits:
    document: dict[str, Any] = row.limits
    try:
        return msgspec.convert(document, RiskLimits)
    except msgspec.ValidationError as exc:
        # Refuse to start on limits nobody can read rather than trade on the defaults.
        scope = f"strategy {row.strategy_id!r}" if row.strategy_id else "the account"
        raise ValueError(f"stored risk limits of {row.account_id!r} ({scope}): {exc}") from None


__all__ = ["ACCOUNT_LIMITS", "AccountRiskSettings", "RiskSettingsStore", "UnknownAccountError"]
