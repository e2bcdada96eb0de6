"""The trading accounts the gateway serves: who owns each, and each one's pre-trade risk state.

Built at start from the database (accounts, their positions and working orders), then kept up
to date by the order service (orders, trades) and by booking runs (the account's money).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime

from functions.orders import BookResponse
from shared.domain import Account, Instrument
from shared.risk import RiskEngine, RiskLimits
from shared.store.accounts import AccountStore
from shared.store.orders import OrderStore

log = logging.getLogger(__name__)


class UnknownAccountError(LookupError):
    pass


class TradingDesk:
    def __init__(
        self,
        accounts: AccountStore,
        orders: OrderStore,
        instruments: Mapping[str, Instrument],
        *,
        limits: RiskLimits | None = None,
    ) -> None:
        self._accounts = accounts
        self._orders = orders
        self.instruments = instruments
        self._limits = limits or RiskLimits()
        self._owners: dict[str, int] = {}
        self._risk: dict[str, RiskEngine] = {}

    async def load(self) -> None:
        """Every stored account with its positions and working orders (gateway start)."""
        for user_id, account in await self._accounts.list_all():
            engine = self._engine_for(user_id, account)
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
        return account

    def on_booked(self, response: BookResponse) -> None:
        engine = self._risk.get(response.account.account_id)
        if engine is not None:
            engine.on_account(response.account)

    def _engine_for(self, user_id: int, account: Account) -> RiskEngine:
        engine = RiskEngine(account.account_id, self.instruments, self._limits)
        engine.on_account(account)
        self._owners[account.account_id] = user_id
        self._risk[account.account_id] = engine
        return engine
