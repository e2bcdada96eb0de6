"""The broker's account and positions (ReqQryTradingAccount / ReqQryInvestorPosition) as the
venue-neutral `BrokerAccount` / `BrokerPosition`. Pure: no library import.

CTP answers one position record per contract, direction and, on SHFE and INE, position date
(today's lots and earlier lots apart); the records of one contract and direction are summed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from gateway.venues.broker_view import BrokerAccount, BrokerPosition
from shared.domain import Direction, Exchange

PD_LONG: Final = "2"  # THOST_FTDC_PD_Long
PD_SHORT: Final = "3"  # THOST_FTDC_PD_Short
_DIRECTIONS: Final = {PD_LONG: Direction.LONG, PD_SHORT: Direction.SHORT}
_EXCHANGES: Final = {exchange.value: exchange for exchange in Exchange}
_SENTINEL_FROM: Final = 1e300  # CTP writes DBL_MAX (1.797e308) for "no value"


def _signed(raw: object) -> float:
    """An amount that may be negative (a loss); CTP's max-double sentinel reads as 0."""
    if not isinstance(raw, int | float) or abs(raw) >= _SENTINEL_FROM:
        return 0.0
    return float(raw)


def _money(raw: object) -> float:
    """An amount that cannot be negative (margin, commission)."""
    return max(_signed(raw), 0.0)


def accounts_from_ctp(records: Iterable[Mapping[str, Any]]) -> list[BrokerAccount]:
    return [
        BrokerAccount(
            currency=str(record.get("CurrencyID") or "").strip() or "CNY",
            balance=_signed(record.get("Balance")),
            available=_signed(record.get("Available")),
            margin=_money(record.get("CurrMargin")),
            frozen_margin=_money(record.get("FrozenMargin")),
            commission=_money(record.get("Commission")),
            close_profit=_signed(record.get("CloseProfit")),
            position_profit=_signed(record.get("PositionProfit")),
        )
        for record in records
    ]


def positions_from_ctp(
    records: Iterable[Mapping[str, Any]], exchange_of: Mapping[str, Exchange]
) -> list[BrokerPosition]:
    """``exchange_of`` (symbol -> exchange) stands in where a record leaves ExchangeID blank;
    records of unknown contracts or directions (net positions: options) are left out."""
    summed: dict[tuple[str, Direction], dict[str, Any]] = {}
    for record in records:
        symbol = str(record.get("InstrumentID") or "").strip()
        direction = _DIRECTIONS.get(str(record.get("PosiDirection") or ""))
        stated = _EXCHANGES.get(str(record.get("ExchangeID") or "").strip())
        exchange = stated or exchange_of.get(symbol)
        if not symbol or direction is None or exchange is None:
            continue
        total = summed.setdefault(
            (symbol, direction),
            {"exchange": exchange, "volume": 0, "today": 0, "cost": 0.0, "margin": 0.0, "pnl": 0.0},
        )
        total["volume"] += int(record.get("Position") or 0)
        total["today"] += int(record.get("TodayPosition") or 0)
        total["cost"] += _signed(record.get("PositionCost"))
        total["margin"] += _money(record.get("UseMargin"))
        total["pnl"] += _signed(record.get("PositionProfit"))
    return [
        BrokerPosition(
            symbol=symbol,
            exchange=total["exchange"],
            direction=direction,
            volume=total["volume"],
            today_volume=min(total["today"], total["volume"]),
            yesterday_volume=max(total["volume"] - total["today"], 0),
            cost=total["cost"],
            margin=total["margin"],
            position_profit=total["pnl"],
        )
        for (symbol, direction), total in sorted(summed.items())
        if total["volume"] > 0
    ]
