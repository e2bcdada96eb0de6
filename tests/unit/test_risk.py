"""Pre-trade risk rules: each refusal, what it names, and what may always pass."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

import msgspec
import pytest

from shared.domain import (
    Account,
    Direction,
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    Trade,
)
from shared.risk import LimitWarning, Rejection, RiskEngine, RiskLimits, Rule, TradingState

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
DAY = date(2026, 11, 24)


def _rebar(symbol: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        exchange=Exchange.SHFE,
        product="rb",
        multiplier=10,
        price_tick=1.0,
        long_margin_ratio=0.1,
        short_margin_ratio=0.1,
    )


INSTRUMENTS = {
    "SHFE.rb2605": _rebar("rb2605"),
    "SHFE.rb2610": _rebar("rb2610"),
    "CFFEX.IF2612": Instrument(
        symbol="IF2612",
        exchange=Exchange.CFFEX,
        product="IF",
        multiplier=300,
        price_tick=0.2,
        long_margin_ratio=0.12,
        short_margin_ratio=0.12,
    ),
}
QUOTE = Tick(
    symbol="rb2605",
    exchange=Exchange.SHFE,
    ts=T0,
    trading_day=DAY,
    last_price=3500.0,
    volume=100,
    turnover=0.0,
    open_interest=0.0,
    bid_price=3499.0,
    bid_volume=5,
    ask_price=3500.0,
    ask_volume=5,
    upper_limit=3780.0,
    lower_limit=3220.0,
)
_ids = count(1)


def _order(
    side: Side = Side.BUY,
    offset: Offset = Offset.OPEN,
    volume: int = 1,
    price: float | None = 3500.0,
    symbol: str = "rb2605",
    exchange: Exchange = Exchange.SHFE,
    strategy_id: str | None = None,
) -> Order:
    return Order(
        id=f"o{next(_ids)}",
        client_order_id=f"c{next(_ids)}",
        account_id="acc-7",
        symbol=symbol,
        exchange=exchange,
        side=side,
        offset=offset,
        type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        price=price,
        volume=volume,
        created_at=T0,
        updated_at=T0,
        strategy_id=strategy_id,
    )


def _engine(**limits: object) -> RiskEngine:
    engine = RiskEngine("acc-7", INSTRUMENTS, msgspec.convert(limits, RiskLimits))
    engine.on_account(Account(account_id="acc-7", trading_day=DAY, updated_at=T0, balance=1e6))
    return engine


def _rule(rejection: Rejection | None) -> Rule | None:
    return None if rejection is None else rejection.rule


def _holding(engine: RiskEngine, lots: int, symbol: str = "rb2605") -> None:
    engine.set_positions({(f"SHFE.{symbol}", Direction.LONG): lots})


def test_instrument_price_and_volume_validity() -> None:
    engine = _engine(max_order_volume=10)
    assert engine.check(_order(), T0, QUOTE) is None
    assert _rule(engine.check(_order(symbol="xx1"), T0, QUOTE)) is Rule.UNKNOWN_INSTRUMENT
    off_grid = engine.check(_order(price=3500.5), T0, QUOTE)
    assert off_grid == Rejection(Rule.PRICE_TICK, "price 3500.5 is not on the 1.0 tick grid")
    noisy = _order(price=0.1 + 0.2 + 4000.0 - 0.3 + 0.2, symbol="IF2612", exchange=Exchange.CFFEX)
    assert engine.check(noisy, T0, None) is None  # 4000.2 with float noise is on a 0.2 grid
    above = engine.check(_order(price=3781.0), T0, QUOTE)
    assert above == Rejection(Rule.PRICE_LIMIT, "price 3781.0 is above limit-up 3780.0")
    assert _rule(engine.check(_order(price=3219.0), T0, QUOTE)) is Rule.PRICE_LIMIT
    assert _rule(engine.check(_order(volume=11), T0, QUOTE)) is Rule.VOLUME


def test_notional_margin_and_the_margin_held_by_working_orders() -> None:
    engine = _engine(max_order_notional=400_000.0)
    assert _rule(engine.check(_order(volume=12), T0, QUOTE)) is Rule.NOTIONAL  # 420,000
    engine.on_account(Account(account_id="acc-7", trading_day=DAY, updated_at=T0, balance=5000))
    first = _order()  # 3500 x 10 x 0.1 = 3,500 of margin
    assert engine.admit(first, T0, QUOTE) is None
    second = engine.check(_order(price=3400.0), T0, QUOTE)
    assert second == Rejection(Rule.MARGIN, "needs 3,400.00 margin, 1,500.00 available")
    engine.on_order(msgspec.structs.replace(first, status=OrderStatus.CANCELLED))
    assert engine.check(_order(price=3400.0), T0, QUOTE) is None  # released with the cancel
    assert _rule(engine.check(_order(price=None), T0, None)) is Rule.MARGIN  # nothing to value


def test_position_limits_per_instrument_and_per_product() -> None:
    engine = _engine(max_position_per_instrument=5, max_position_per_product=8)
    _holding(engine, 3)
    assert engine.admit(_order(volume=2), T0, QUOTE) is None  # 3 held + 2 working = 5
    rejection = engine.check(_order(), T0, QUOTE)
    assert rejection == Rejection(
        Rule.POSITION_LIMIT, "long SHFE.rb2605 would reach 6 lots, limit 5"
    )
    assert engine.admit(_order(volume=3, symbol="rb2610"), T0, QUOTE) is None  # rb: 8
    across = engine.check(_order(symbol="rb2610"), T0, QUOTE)
    assert across == Rejection(Rule.PRODUCT_POSITION_LIMIT, "long rb would reach 9 lots, limit 8")
    short = _order(side=Side.SELL, symbol="rb2610", price=3520.0)
    assert engine.check(short, T0, QUOTE) is None  # the other direction counts apart


def test_a_close_cannot_exceed_what_is_held_and_not_already_closing() -> None:
    engine = _engine()
    _holding(engine, 3)
    assert engine.admit(_order(Side.SELL, Offset.CLOSE, 2), T0, QUOTE) is None
    rejection = engine.check(_order(Side.SELL, Offset.CLOSE_TODAY, 2), T0, QUOTE)
    assert rejection is not None
    assert rejection.rule is Rule.CLOSE_EXCEEDS_POSITION
    assert "1 held and not closing" in rejection.detail


def test_self_trade_prevention() -> None:
    engine = _engine()
    _holding(engine, 5)
    resting = _order(Side.SELL, Offset.CLOSE, 1, price=3510.0)
    assert engine.admit(resting, T0, QUOTE) is None
    crossing = engine.check(_order(price=3510.0), T0, QUOTE)
    assert crossing == Rejection(
        Rule.SELF_TRADE, f"it would trade with the account's own order {resting.id}"
    )
    assert engine.check(_order(price=3509.0), T0, QUOTE) is None
    assert _rule(engine.check(_order(price=None), T0, QUOTE)) is Rule.SELF_TRADE  # market
    assert engine.check(_order(price=3510.0, symbol="rb2610"), T0, QUOTE) is None
    assert _engine(prevent_self_trade=False).check(_order(price=3510.0), T0, QUOTE) is None


def test_order_rate_in_a_sliding_second_and_closes_never_held_back() -> None:
    engine = _engine(max_orders_per_second=3, duplicate_window_s=None)
    _holding(engine, 5)
    for i in range(3):
        assert engine.admit(_order(), T0 + timedelta(milliseconds=100 * i), QUOTE) is None
    late = T0 + timedelta(milliseconds=900)
    assert engine.check(_order(), late, QUOTE) == Rejection(
        Rule.ORDER_RATE, "3 orders in the last second, limit 3"
    )
    assert engine.check(_order(Side.SELL, Offset.CLOSE, price=3520.0), late, QUOTE) is None
    assert engine.check(_order(), T0 + timedelta(milliseconds=1000), QUOTE) is None


def test_active_and_daily_counts_and_a_new_day() -> None:
    engine = _engine(
        max_active_orders=2, max_daily_orders_per_instrument=3, duplicate_window_s=None
    )
    first, second = _order(), _order()
    for order in (first, second):
        assert engine.admit(order, T0, QUOTE) is None
    assert _rule(engine.check(_order(), T0 + timedelta(seconds=5), QUOTE)) is Rule.ACTIVE_ORDERS
    engine.on_order(msgspec.structs.replace(first, status=OrderStatus.FILLED, filled_volume=1))
    later = T0 + timedelta(seconds=10)
    assert engine.admit(_order(), later, QUOTE) is None
    engine.on_order(msgspec.structs.replace(second, status=OrderStatus.CANCELLED))
    rejection = engine.check(_order(), later, QUOTE)
    assert rejection == Rejection(Rule.DAILY_ORDERS, "3 orders today on SHFE.rb2605, limit 3")
    assert engine.check(_order(symbol="rb2610"), later, QUOTE) is None  # per instrument
    engine.new_trading_day()
    assert engine.check(_order(), later, QUOTE) is None


def test_daily_cancels_stop_new_opening_orders_not_cancels_or_closes() -> None:
    engine = _engine(max_daily_cancels_per_instrument=2)
    _holding(engine, 5)
    for _ in range(2):
        engine.on_cancel_sent(_order())
    assert _rule(engine.check(_order(), T0, QUOTE)) is Rule.DAILY_CANCELS
    assert engine.check(_order(Side.SELL, Offset.CLOSE), T0, QUOTE) is None


def test_the_same_order_twice_within_the_window_is_a_duplicate() -> None:
    engine = _engine(duplicate_window_s=1.0)
    assert engine.admit(_order(), T0, QUOTE) is None
    again = engine.check(_order(), T0 + timedelta(milliseconds=300), QUOTE)
    assert again == Rejection(Rule.DUPLICATE_ORDER, "the same order was sent 0.300 s ago")
    assert engine.check(_order(price=3499.0), T0 + timedelta(milliseconds=300), QUOTE) is None
    assert engine.check(_order(volume=2), T0 + timedelta(milliseconds=300), QUOTE) is None
    assert engine.check(_order(), T0 + timedelta(seconds=1), QUOTE) is None


def test_daily_loss_switches_to_reducing_only_until_the_next_day() -> None:
    engine = _engine(max_daily_loss=10_000.0)
    _holding(engine, 5)
    engine.on_account(
        Account(
            account_id="acc-7",
            trading_day=DAY,
            updated_at=T0,
            balance=1e6,
            realized_pnl=-8_000.0,
            unrealized_pnl=-1_500.0,
            commission=500.0,
        )
    )
    assert _rule(engine.check(_order(), T0, QUOTE)) is Rule.DAILY_LOSS
    assert engine.state is TradingState.REDUCING_ONLY
    assert _rule(engine.check(_order(), T0, QUOTE)) is Rule.TRADING_STATE
    assert engine.check(_order(Side.SELL, Offset.CLOSE), T0, QUOTE) is None
    engine.new_trading_day()
    assert engine.state is TradingState.ACTIVE
    assert engine.check(_order(), T0, QUOTE) is None


def test_the_kill_switch_halts_even_closing_orders() -> None:
    engine = _engine()
    _holding(engine, 5)
    engine.set_state(TradingState.HALTED, "admin: exchange outage")
    rejection = engine.check(_order(Side.SELL, Offset.CLOSE), T0, QUOTE)
    assert rejection == Rejection(Rule.TRADING_STATE, "trading is halted: admin: exchange outage")
    engine.set_state(TradingState.ACTIVE, "admin")
    assert engine.check(_order(Side.SELL, Offset.CLOSE), T0, QUOTE) is None


def test_strategy_limits_apply_on_top_and_the_refusal_says_whose() -> None:
    engine = RiskEngine(
        "acc-7",
        INSTRUMENTS,
        RiskLimits(duplicate_window_s=None),
        strategy_limits={"trend": RiskLimits(max_orders_per_second=1, duplicate_window_s=None)},
    )
    engine.on_account(Account(account_id="acc-7", trading_day=DAY, updated_at=T0, balance=1e6))
    assert engine.admit(_order(strategy_id="trend"), T0, QUOTE) is None
    rejection = engine.check(_order(strategy_id="trend"), T0, QUOTE)
    assert rejection == Rejection(
        Rule.ORDER_RATE, "1 orders in the last second, limit 1", "strategy trend"
    )
    assert engine.check(_order(strategy_id="other"), T0, QUOTE) is None
    assert engine.check(_order(), T0, QUOTE) is None


def test_trades_move_positions() -> None:
    engine = _engine()
    trade = Trade(
        id="t1",
        order_id="o",
        account_id="acc-7",
        symbol="rb2605",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        price=3500.0,
        volume=2,
        ts=T0,
        trading_day=DAY,
    )
    assert _rule(engine.check(_order(Side.SELL, Offset.CLOSE), T0, QUOTE)) is (
        Rule.CLOSE_EXCEEDS_POSITION
    )
    engine.on_trade(trade)
    assert engine.check(_order(Side.SELL, Offset.CLOSE, 2), T0, QUOTE) is None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="`max_order_volume` must be positive"):
        RiskLimits(max_order_volume=0)


def test_warnings_come_before_the_limits_refuse() -> None:
    engine = _engine(
        max_daily_orders_per_instrument=10,
        max_daily_cancels=5,
        max_daily_loss=10_000.0,
        duplicate_window_s=None,
        max_orders_per_second=None,
    )
    for i in range(7):
        engine.admit(_order(price=3500.0 - i), T0, QUOTE)
    assert engine.warnings() == []
    engine.admit(_order(price=3400.0), T0, QUOTE)
    for _ in range(4):
        engine.on_cancel_sent(_order())
    engine.on_account(
        Account(
            account_id="acc-7",
            trading_day=DAY,
            updated_at=T0,
            balance=1e6,
            realized_pnl=-8_500.0,
        )
    )
    assert engine.warnings() == [
        LimitWarning(Rule.DAILY_CANCELS, 4, 5, "4 cancels today of 5"),
        LimitWarning(Rule.DAILY_ORDERS, 8, 10, "8 orders today on SHFE.rb2605 of 10"),
        LimitWarning(Rule.DAILY_LOSS, 8_500.0, 10_000.0, "today's loss 8,500.00 of 10,000.00"),
    ]
    assert engine.check(_order(price=3300.0), T0, QUOTE) is None  # a warning refuses nothing
    engine.new_trading_day()
    assert engine.warnings() == []
    assert _engine(warn_at=None).warnings() == []


def test_changed_account_limits_apply_from_the_next_check() -> None:
    engine = _engine(max_order_volume=10)
    assert engine.check(_order(volume=5), T0, QUOTE) is None
    engine.set_limits(RiskLimits(max_order_volume=2))
    rejection = engine.check(_order(volume=5), T0, QUOTE)
    assert rejection == Rejection(Rule.VOLUME, "volume 5 is above 2")
    engine.set_limits(RiskLimits(max_order_volume=None))
    assert engine.check(_order(volume=200), T0, QUOTE) is None  # above the default 100


def test_a_lowered_daily_limit_counts_the_orders_already_sent_today() -> None:
    engine = _engine(duplicate_window_s=None)
    for i in range(3):
        assert engine.admit(_order(price=3500.0 - i), T0, QUOTE) is None
    engine.set_limits(RiskLimits(max_daily_orders=3, duplicate_window_s=None))
    assert _rule(engine.check(_order(price=3490.0), T0, QUOTE)) is Rule.DAILY_ORDERS


def test_strategy_limits_can_be_added_changed_and_removed() -> None:
    engine = _engine(duplicate_window_s=None)
    assert engine.admit(_order(strategy_id="trend"), T0, QUOTE) is None
    engine.set_limits(RiskLimits(max_active_orders=1, duplicate_window_s=None), "trend")
    assert engine.strategy_limits == {
        "trend": RiskLimits(max_active_orders=1, duplicate_window_s=None)
    }
    rejection = engine.check(_order(strategy_id="trend"), T0, QUOTE)
    assert rejection == Rejection(Rule.ACTIVE_ORDERS, "1 working orders, limit 1", "strategy trend")
    assert engine.check(_order(strategy_id="other"), T0, QUOTE) is None
    assert engine.limits == RiskLimits(duplicate_window_s=None)  # the account's are untouched
    engine.set_limits(RiskLimits(max_active_orders=2, duplicate_window_s=None), "trend")
    assert engine.check(_order(strategy_id="trend"), T0, QUOTE) is None
    engine.set_limits(RiskLimits(max_active_orders=1, duplicate_window_s=None), "trend")
    assert engine.remove_strategy_limits("trend") is True
    assert engine.remove_strategy_limits("trend") is False
    assert engine.check(_order(strategy_id="trend"), T0, QUOTE) is None
