"""One realistic instance of every bus event type, and a tick builder for ordering tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.domain import (
    Account,
    AccountEvent,
    BacktestProgressEvent,
    Bar,
    BarEvent,
    ComponentState,
    Direction,
    Event,
    Exchange,
    Interval,
    Offset,
    Order,
    OrderEvent,
    OrderStatus,
    OrderType,
    Position,
    PositionEvent,
    RiskEvent,
    RiskStatus,
    RiskWarning,
    Side,
    Tick,
    TickEvent,
    Trade,
    TradeEvent,
    VenueStatusEvent,
)

T0 = datetime(2024, 1, 3, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
TRADING_DAY = date(2024, 1, 3)


def tick_event(
    symbol: str = "rb2405", exchange: Exchange = Exchange.SHFE, seq: int = 0
) -> TickEvent:
    """A tick whose cumulative volume is ``seq``, so a sequence of them is easy to tell apart."""
    return TickEvent(
        tick=Tick(
            symbol=symbol,
            exchange=exchange,
            ts=T0 + timedelta(milliseconds=500 * seq),
            trading_day=TRADING_DAY,
            last_price=3850.0 + seq,
            volume=seq,
            turnover=38_500_000.0 + seq,
            open_interest=1_650_000.0,
            bid_price=3849.0 + seq,
            bid_volume=12,
            ask_price=3851.0 + seq,
            ask_volume=7,
            upper_limit=4120.0,
            lower_limit=3580.0,
        )
    )


def _order() -> Order:
    return Order(
        id="ord-1",
        client_order_id="cli-1",
        account_id="acc-7",
        symbol="rb2405",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        volume=3,
        price=3850.0,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=1),
        status=OrderStatus.PARTIALLY_FILLED,
        filled_volume=1,
        average_fill_price=3850.0,
        venue_order_id="1_2_3",
    )


SAMPLE_EVENTS: dict[str, Event] = {
    "tick": tick_event(),
    "bar": BarEvent(
        bar=Bar(
            symbol="m2405",
            exchange=Exchange.DCE,
            interval=Interval.M1,
            start=T0,
            trading_day=TRADING_DAY,
            open=3100.0,
            high=3104.0,
            low=3098.0,
            close=3102.0,
            volume=812,
            turnover=25_180_000.0,
            open_interest=1_020_000.0,
        )
    ),
    "order": OrderEvent(order=_order()),
    "trade": TradeEvent(
        trade=Trade(
            id="trd-1",
            order_id="ord-1",
            account_id="acc-7",
            symbol="rb2405",
            exchange=Exchange.SHFE,
            side=Side.BUY,
            offset=Offset.OPEN,
            price=3850.0,
            volume=1,
            ts=T0 + timedelta(seconds=1),
            trading_day=TRADING_DAY,
            commission=3.85,
            venue_trade_id="   12345",
        )
    ),
    "position": PositionEvent(
        position=Position(
            account_id="acc-7",
            symbol="rb2405",
            exchange=Exchange.SHFE,
            direction=Direction.LONG,
            volume=3,
            today_volume=1,
            yesterday_volume=2,
            average_price=3840.0,
            unrealized_pnl=300.0,
            margin=11_550.0,
        )
    ),
    "account": AccountEvent(
        account=Account(
            account_id="acc-7",
            trading_day=TRADING_DAY,
            updated_at=T0,
            balance=1_000_000.0,
            available=988_450.0,
            margin=11_550.0,
            commission=3.85,
        )
    ),
    "risk": RiskEvent(
        status=RiskStatus(
            account_id="acc-7",
            state="reducing_only",
            state_reason="the daily loss limit was reached",
            warnings=[
                RiskWarning(
                    rule="daily_cancels", used=410.0, limit=500.0, detail="410 of 500 cancels"
                )
            ],
        )
    ),
    "venue_status": VenueStatusEvent(
        venue="ctp", state=ComponentState.DEGRADED, ts=T0, detail="front disconnected (4097)"
    ),
    "backtest_progress": BacktestProgressEvent(
        run_id="run-42", user_id="u-1", progress=0.25, state="running", detail="chunk 1/4"
    ),
}
