"""The broker's account and positions as CTP answers them, in the gateway's terms: one
position per contract and direction (SHFE's today and earlier records summed), sentinels
and blanks cleaned."""

from __future__ import annotations

from gateway.venues.broker_view import BrokerPosition
from gateway.venues.ctp.holdings import (
    PD_LONG,
    PD_SHORT,
    accounts_from_ctp,
    positions_from_ctp,
)
from shared.domain import Direction, Exchange

DBL_MAX = 1.7976931348623157e308


def test_shfe_today_and_earlier_records_are_one_position() -> None:
    records = [
        {"InstrumentID": "rb2405", "ExchangeID": "SHFE", "PosiDirection": PD_LONG,
         "PositionDate": "1", "Position": 2, "TodayPosition": 2, "PositionCost": 76000.0,
         "UseMargin": 7600.0, "PositionProfit": 100.0},
        {"InstrumentID": "rb2405", "ExchangeID": "SHFE", "PosiDirection": PD_LONG,
         "PositionDate": "2", "Position": 3, "TodayPosition": 0, "PositionCost": 114000.0,
         "UseMargin": 11400.0, "PositionProfit": -250.0},
        # DCE: one record, ExchangeID left blank, the exchange from the table.
        {"InstrumentID": "j2405", "ExchangeID": "", "PosiDirection": PD_SHORT,
         "PositionDate": "1", "Position": 1, "TodayPosition": 1, "PositionCost": 245000.0,
         "UseMargin": DBL_MAX, "PositionProfit": 0.0},
        # Closed out today: nothing held, left out; a net (option) record: left out.
        {"InstrumentID": "i2405", "ExchangeID": "DCE", "PosiDirection": PD_LONG,
         "Position": 0, "TodayPosition": 0},
        {"InstrumentID": "m2405-C-3000", "ExchangeID": "DCE", "PosiDirection": "1",
         "Position": 4, "TodayPosition": 4},
    ]  # fmt: skip
    assert positions_from_ctp(records, {"j2405": Exchange.DCE}) == [
        BrokerPosition(
            symbol="j2405", exchange=Exchange.DCE, direction=Direction.SHORT, volume=1,
            today_volume=1, yesterday_volume=0, cost=245000.0, margin=0.0, position_profit=0.0,
        ),
        BrokerPosition(
            symbol="rb2405", exchange=Exchange.SHFE, direction=Direction.LONG, volume=5,
            today_volume=2, yesterday_volume=3, cost=190000.0, margin=19000.0,
            position_profit=-150.0,
        ),
    ]  # fmt: skip


def test_the_account_in_each_currency() -> None:
    [cny] = accounts_from_ctp(
        [{"CurrencyID": "", "Balance": 1_000_250.5, "Available": 980_000.0, "CurrMargin": 20_000.0,
          "FrozenMargin": 0.0, "Commission": 12.5, "CloseProfit": -300.0,
          "PositionProfit": DBL_MAX}]
    )  # fmt: skip
    assert (cny.currency, cny.balance, cny.available) == ("CNY", 1_000_250.5, 980_000.0)
    assert (cny.margin, cny.commission, cny.close_profit) == (20_000.0, 12.5, -300.0)
    assert cny.position_profit == 0.0  # the sentinel, not a profit of 1.8e308
