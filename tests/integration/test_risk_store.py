"""Risk limits and trading states as stored, on SQLite and PostgreSQL, and the trading desk
that loads them into its engines at start and stores each change (its own ones too)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from gateway.orders.desk import NoRiskSettingsStoreError, TradingDesk
from shared.risk import RiskLimits, TradingState
from shared.store import Role, UserRepository
from shared.store.accounts import AccountStore, UnknownAccountError
from shared.store.orders import OrderStore
from shared.store.risk_settings import AccountRiskSettings, RiskSettingsStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T0 = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
DAY = date(2026, 11, 25)
TIGHT = RiskLimits(max_order_volume=1, max_daily_loss=50_000.0)
TREND = RiskLimits(max_orders_per_second=2, duplicate_window_s=None)


async def _accounts(sessions: async_sessionmaker[AsyncSession], *ids: str) -> int:
    user = await UserRepository(sessions).create("trader", "hash", Role.TRADER)
    for account_id in ids:
        await AccountStore(sessions).open(user.id, account_id, balance=1e6, trading_day=DAY, now=T0)
    return user.id


def _desk(sessions: async_sessionmaker[AsyncSession]) -> TradingDesk:
    return TradingDesk(
        AccountStore(sessions), OrderStore(sessions), {}, risk_settings=RiskSettingsStore(sessions)
    )


async def test_an_account_starts_active_with_no_limits_of_its_own(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1")
    store = RiskSettingsStore(store_sessions)
    assert await store.limits_of("acc-1") == (None, {})
    assert await store.state_of("acc-1") == (TradingState.ACTIVE, "")
    assert await store.load_all() == {
        "acc-1": AccountRiskSettings(
            limits=None, strategy_limits={}, state=TradingState.ACTIVE, state_reason=""
        )
    }


async def test_limits_of_the_account_and_its_strategies_are_replaced_and_cleared(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user_id = await _accounts(store_sessions, "acc-1", "acc-2")
    store = RiskSettingsStore(store_sessions)
    await store.set_limits("acc-1", None, RiskLimits(), user_id=user_id, now=T0)
    await store.set_limits("acc-1", None, TIGHT, user_id=user_id, now=T0)  # replaces
    await store.set_limits("acc-1", "trend", TREND, user_id=None, now=T0)
    await store.set_limits("acc-2", "trend", RiskLimits(max_daily_trades=3), user_id=None, now=T0)
    assert await store.limits_of("acc-1") == (TIGHT, {"trend": TREND})
    assert await store.limits_of("acc-2") == (None, {"trend": RiskLimits(max_daily_trades=3)})

    assert await store.clear_strategy_limits("acc-1", "trend") is True
    assert await store.clear_strategy_limits("acc-1", "trend") is False
    assert await store.limits_of("acc-1") == (TIGHT, {})
    with pytest.raises(ValueError, match="strategy_id"):
        await store.clear_strategy_limits("acc-1", "")
    with pytest.raises(UnknownAccountError):
        await store.set_limits("nope", None, TIGHT, user_id=None, now=T0)


async def test_switched_off_limits_stay_off(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1")
    store = RiskSettingsStore(store_sessions)
    open_ended = RiskLimits(max_order_volume=None, prevent_self_trade=False, warn_at=None)
    await store.set_limits("acc-1", None, open_ended, user_id=None, now=T0)
    assert await store.limits_of("acc-1") == (open_ended, {})


async def test_trading_states_one_account_or_many_at_once(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1", "acc-2", "acc-3")
    store = RiskSettingsStore(store_sessions)
    await store.set_state("acc-1", TradingState.REDUCING_ONLY, "margin call")
    assert await store.state_of("acc-1") == (TradingState.REDUCING_ONLY, "margin call")
    assert await store.set_states(["acc-1", "acc-2", "nope"], TradingState.HALTED, "outage") == 2
    everything = await store.load_all()
    assert {a: (s.state, s.state_reason) for a, s in everything.items()} == {
        "acc-1": (TradingState.HALTED, "outage"),
        "acc-2": (TradingState.HALTED, "outage"),
        "acc-3": (TradingState.ACTIVE, ""),
    }
    with pytest.raises(UnknownAccountError):
        await store.set_state("nope", TradingState.HALTED, "x")
    with pytest.raises(UnknownAccountError):
        await store.state_of("nope")


async def test_the_desk_applies_stored_settings_at_start(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1", "acc-2")
    store = RiskSettingsStore(store_sessions)
    await store.set_limits("acc-1", None, TIGHT, user_id=None, now=T0)
    await store.set_limits("acc-1", "trend", TREND, user_id=None, now=T0)
    await store.set_state("acc-1", TradingState.HALTED, "outage")

    desk = _desk(store_sessions)
    await desk.load()
    engine = desk.risk_for("acc-1")
    assert (engine.limits, dict(engine.strategy_limits)) == (TIGHT, {"trend": TREND})
    assert (engine.state, engine.state_reason) == (TradingState.HALTED, "outage")
    other = desk.risk_for("acc-2")
    assert (other.limits, other.state) == (RiskLimits(), TradingState.ACTIVE)
    assert await desk.persist_state_changes() == []  # loaded is stored


async def test_the_desk_stores_each_change_before_or_with_applying_it(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1", "acc-2")
    store = RiskSettingsStore(store_sessions)
    desk = _desk(store_sessions)
    await desk.load()
    await desk.set_limits("acc-1", None, TIGHT, user_id=None, now=T0)
    await desk.set_limits("acc-1", "trend", TREND, user_id=None, now=T0)
    assert desk.risk_for("acc-1").limits == TIGHT
    assert await store.limits_of("acc-1") == (TIGHT, {"trend": TREND})
    assert await desk.remove_strategy_limits("acc-1", "trend") is True
    assert (dict(desk.risk_for("acc-1").strategy_limits), await store.limits_of("acc-1")) == (
        {},
        (TIGHT, {}),
    )

    await desk.set_state(["acc-1", "acc-2"], TradingState.HALTED, "outage")
    assert desk.risk_for("acc-2").state is TradingState.HALTED
    assert await store.state_of("acc-2") == (TradingState.HALTED, "outage")
    await desk.set_state(["acc-2"], TradingState.ACTIVE, "resumed")
    assert (desk.risk_for("acc-2").state, await store.state_of("acc-2")) == (
        TradingState.ACTIVE,
        (TradingState.ACTIVE, "resumed"),
    )
    with pytest.raises(LookupError):
        await desk.set_state(["nope"], TradingState.HALTED, "x")


async def test_the_engines_own_switches_are_stored_when_asked(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1", "acc-2")
    store = RiskSettingsStore(store_sessions)
    desk = _desk(store_sessions)
    await desk.load()
    # What the daily loss limit does to an engine in the middle of a check.
    desk.risk_for("acc-2").set_state(TradingState.REDUCING_ONLY, "the daily loss limit")
    assert await desk.persist_state_changes() == ["acc-2"]
    assert await store.state_of("acc-2") == (TradingState.REDUCING_ONLY, "the daily loss limit")
    assert await desk.persist_state_changes() == []
    desk.risk_for("acc-2").new_trading_day()  # lifts a daily-loss switch
    assert await desk.persist_state_changes() == ["acc-2"]
    assert await store.state_of("acc-2") == (TradingState.ACTIVE, "a new trading day")


async def test_a_desk_without_a_store_takes_one_per_call_and_stores_nothing_itself(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _accounts(store_sessions, "acc-1")
    desk = TradingDesk(AccountStore(store_sessions), OrderStore(store_sessions), {})
    await desk.load()
    with pytest.raises(NoRiskSettingsStoreError):
        await desk.set_limits("acc-1", None, TIGHT, user_id=None, now=T0)
    assert desk.risk_for("acc-1").limits == RiskLimits()  # not applied either
    store = RiskSettingsStore(store_sessions)
    await desk.set_limits("acc-1", None, TIGHT, user_id=None, now=T0, store=store)
    assert (desk.risk_for("acc-1").limits, await store.limits_of("acc-1")) == (TIGHT, (TIGHT, {}))
    desk.risk_for("acc-1").set_state(TradingState.REDUCING_ONLY, "the daily loss limit")
    assert await desk.persist_state_changes() == []
