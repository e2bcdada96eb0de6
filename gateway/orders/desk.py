"""The trading accounts the gateway serves: who owns each, and each one's pre-trade risk state.

Built at start from the database (accounts, their positions and working orders, the limits and
trading state an admin set), then kept up to date by the order service (orders, trades), by
booking runs (the account's money) and by the risk endpoints (limits, the kill switch).

A change of limits or state is stored before the engine applies it, except a stricter trading
state: that one applies at once, because a kill switch must not wait on the database, and a
failed write leaves the engine stricter than the store, never looser (and
`persist_state_changes` stores it later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime

from functions.orders import AccountBooked
from shared.domain import Account, Instrument
from shared.risk import RiskEngine, RiskLimits, TradingState
from shared.store.accounts import AccountStore
from shared.store.orders import OrderStore
from shared.store.risk_settings import AccountRiskSettings, RiskSettingsStore

log = logging.getLogger(__name__)


class UnknownAccountError(LookupError):
    pass


class NoRiskSettingsStoreError(RuntimeError):
    """A change of limits or state with nowhere to store it: it would not survive a restart."""


_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING_ONLY: 1, TradingState.HALTED: 2}


def is_stricter(state: TradingState, than: TradingState) -> bool:
    return _STRICTNESS[state] > _STRICTNESS[than]


class TradingDesk:
    def __init__(
        self,
        accounts: AccountStore,
        orders: OrderStore,
        instruments: Mapping[str, Instrument],
        *,
        limits: RiskLimits | None = None,
        risk_settings: RiskSettingsStore | None = None,
    ) -> None:
        self._accounts = accounts
        self._orders = orders
        self.instruments = instruments
        self._limits = limits or RiskLimits()
        # None: nothing stored is applied at start, and state changes are not persisted.
        self._risk_settings = risk_settings
        self._owners: dict[str, int] = {}
        self._risk: dict[str, RiskEngine] = {}
        # Told (account id, owner) of each account opened while running.
        self.on_open: list[Callable[[str, int], None]] = []
        # Each account's trading state as last stored, to notice the engine's own switches.
        self._stored_states: dict[str, tuple[TradingState, str]] = {}
        self._state_writes = asyncio.Lock()

    async def load(self) -> None:
        """Every stored account with its positions, working orders, limits and trading state
        (gateway start)."""
        stored: dict[str, AccountRiskSettings] = {}
        if self._risk_settings is not None:
            stored = await self._risk_settings.load_all()
        for user_id, account in await self._accounts.list_all():
            engine = self._engine_for(user_id, account)
            settings = stored.get(account.account_id)
            if settings is not None:
                _apply(engine, settings)
                self._stored_states[account.account_id] = (engine.state, engine.state_reason)
            positions = await self._accounts.positions(account.account_id)
            engine.set_positions(
                {(f"{p.exchange}.{p.symbol}", p.direction): p.volume for p in positions}
            )
            for order in await self._orders.working(account.account_id):
                # Sent before the restart: it holds margin and counts as active again.
                engine.record_sent(order, order.created_at)
                engine.on_order(order)
        log.info("trading desk: %d account(s) loaded", len(self._owners))

    @property
    def account_ids(self) -> list[str]:
        return sorted(self._owners)

    def owner_of(self, account_id: str) -> int | None:
        return self._owners.get(account_id)

    def accounts_of(self, user_id: int) -> list[str]:
        return sorted(a for a, owner in self._owners.items() if owner == user_id)

    def risk_for(self, account_id: str) -> RiskEngine:
        try:
            return self._risk[account_id]
        except KeyError:
            raise UnknownAccountError(f"no account {account_id!r}") from None

    async def open_account(
        self, user_id: int, account_id: str, *, balance: float, trading_day: date, now: datetime
    ) -> Account:
        """Raises `AccountExistsError` when the id is taken (by anyone)."""
        account = await self._accounts.open(
            user_id, account_id, balance=balance, trading_day=trading_day, now=now
        )
        self._engine_for(user_id, account)
        for listener in self.on_open:
            listener(account_id, user_id)
        return account

    # --- risk settings ----------------------------------------------------------------------------

    async def set_limits(
        self,
        account_id: str,
        strategy_id: str | None,
        limits: RiskLimits,
        *,
        user_id: int | None,
        now: datetime,
        store: RiskSettingsStore | None = None,
    ) -> None:
        """Store, then apply, the account's limits (``strategy_id`` None) or a strategy's.

        ``store`` stands in for the desk's own (a desk built without one).
        """
        engine = self.risk_for(account_id)
        await self._store(store).set_limits(
            account_id, strategy_id, limits, user_id=user_id, now=now
        )
        engine.set_limits(limits, strategy_id)

    async def remove_strategy_limits(
        self, account_id: str, strategy_id: str, *, store: RiskSettingsStore | None = None
    ) -> bool:
        """False when the strategy had no limits of its own."""
        engine = self.risk_for(account_id)
        removed = await self._store(store).clear_strategy_limits(account_id, strategy_id)
        return engine.remove_strategy_limits(strategy_id) or removed

    async def set_state(
        self,
        account_ids: Iterable[str],
        state: TradingState,
        reason: str,
        *,
        store: RiskSettingsStore | None = None,
    ) -> None:
        """Switch the accounts to ``state``, in one write (the kill switch names them all)."""
        engines = [self.risk_for(account_id) for account_id in account_ids]
        settings = self._store(store)
        # Before the lock: a halt must not queue behind another account's write.
        for engine in engines:
            if not is_stricter(engine.state, state):
                engine.set_state(state, reason)
        async with self._state_writes:
            await settings.set_states([e.account_id for e in engines], state, reason)
            for engine in engines:
                engine.set_state(state, reason)
                self._stored_states[engine.account_id] = (state, reason)

    async def persist_state_changes(self) -> list[str]:
        """Store the trading states the engines switched themselves (the daily loss limit, a
        new trading day); the accounts whose state was stored. Cheap when nothing changed:
        one comparison per account, no I/O."""
        if self._risk_settings is None:
            return []
        changed = [
            engine
            for account_id, engine in self._risk.items()
            if self._stored_states.get(account_id, _ACTIVE) != (engine.state, engine.state_reason)
        ]
        if not changed:
            return []
        stored: list[str] = []
        async with self._state_writes:
            for engine in changed:
                state, reason = engine.state, engine.state_reason
                await self._risk_settings.set_states([engine.account_id], state, reason)
                self._stored_states[engine.account_id] = (state, reason)
                stored.append(engine.account_id)
        if stored:
            log.info("trading state stored for %s", ", ".join(stored))
        return stored

    def _store(self, store: RiskSettingsStore | None) -> RiskSettingsStore:
        found = store or self._risk_settings
        if found is None:
            raise NoRiskSettingsStoreError("this trading desk was built without a settings store")
        return found

    def on_booked(self, response: AccountBooked) -> None:
        engine = self._risk.get(response.account.account_id)
        if engine is not None:
            engine.on_account(response.account)

    def _engine_for(self, user_id: int, account: Account) -> RiskEngine:
        engine = RiskEngine(account.account_id, self.instruments, self._limits)
        engine.on_account(account)
        self._owners[account.account_id] = user_id
        self._risk[account.account_id] = engine
        return engine


_ACTIVE = (TradingState.ACTIVE, "")


def _apply(engine: RiskEngine, settings: AccountRiskSettings) -> None:
    if settings.limits is not None:
        engine.set_limits(settings.limits)
    for strategy_id, limits in settings.strategy_limits.items():
        engine.set_limits(limits, strategy_id)
    engine.set_state(settings.state, settings.state_reason)
