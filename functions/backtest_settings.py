"""What a backtest request says (strategy, parameters, conventions, data) and its check.

Every mistake is a `RequestError` naming the field as the request spells it (`params.fast`,
`size`, `data.symbol`), raised before anything runs. Contract terms the request leaves out
come from the instrument table when the symbol is listed there (multiplier, price tick,
margin, the exchange's commission rates), else from neutral defaults (1, none, cash, free).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from functions.registry import RequestError
from shared.backtest import (
    BacktestConfig,
    BacktestError,
    InstrumentTerms,
    SizeRule,
)
from shared.domain import Instrument, Interval
from shared.strategy import (
    ParamError,
    ParamValue,
    StrategyDefinition,
    UnknownStrategyError,
    get_strategy,
)

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Money = Annotated[float, msgspec.Meta(gt=0, le=1e13)]
Rate = Annotated[float, msgspec.Meta(ge=0, le=1)]
PerUnit = Annotated[float, msgspec.Meta(ge=0, le=1e6)]
Engine = Literal["vectorized", "event"]


class BacktestSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    strategy: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    params: dict[str, int | float | str | bool] = msgspec.field(default_factory=dict)
    engine: Engine = "vectorized"
    cash: Money = 1_000_000.0
    fill: Literal["next_open", "close"] = "next_open"
    size: Annotated[str, msgspec.Meta(max_length=32)] = "units:1"
    commission: Rate | None = None  # fraction of turnover
    commission_per_unit: PerUnit | None = None
    close_today_commission: Rate | None = None
    close_today_commission_per_unit: PerUnit | None = None
    multiplier: Annotated[float, msgspec.Meta(gt=0, le=1e6)] | None = None
    margin: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    price_tick: Annotated[float, msgspec.Meta(gt=0, le=1e6)] | None = None
    slippage_ticks: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.0
    periods_per_year: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 252
    risk_free_rate: Annotated[float, msgspec.Meta(ge=-1, le=1)] = 0.0


Symbol = Annotated[str, msgspec.Meta(min_length=3, max_length=40)]


class StoredBars(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bars from the database: `symbol` as EXCHANGE.code (SHFE.rb2401), [start, end).
    `others` are further symbols the same strategy trades on the same account (a portfolio on
    the union of their bar times); each is priced with its own contract terms."""

    symbol: Symbol
    others: Annotated[list[Symbol], msgspec.Meta(max_length=19)] = msgspec.field(
        default_factory=list
    )
    interval: Interval = Interval.M1
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    def symbols(self) -> list[str]:
        return [self.symbol, *self.others]

    def field_of(self, index: int) -> str:
        """The request field naming the index-th symbol."""
        return "data.symbol" if index == 0 else f"data.others[{index - 1}]"


@dataclass(frozen=True, slots=True)
class PreparedBacktest:
    definition: StrategyDefinition
    params: dict[str, ParamValue]
    config: BacktestConfig
    engine: Engine


def strategy_of(name: str) -> StrategyDefinition:
    try:
        return get_strategy(name)
    except UnknownStrategyError as exc:
        raise RequestError(str(exc), "strategy") from None


def checked_params(definition: StrategyDefinition, given: dict[str, Any]) -> dict[str, ParamValue]:
    try:
        return definition.resolve(given)
    except ParamError as exc:
        field = "params" if exc.field == "params" else f"params.{exc.field}"
        raise RequestError(f"{definition.name}: {exc}", field) from None


def terms_for(settings: BacktestSettings, instrument: Instrument | None) -> InstrumentTerms:
    """One series' terms: the request's values, else the instrument's, else neutral."""
    return _terms(settings, instrument)


def _terms(settings: BacktestSettings, instrument: Instrument | None) -> InstrumentTerms:
    listed = instrument.commission if instrument is not None else None
    charged = any(
        value is not None
        for value in (
            settings.commission,
            settings.commission_per_unit,
            settings.close_today_commission,
            settings.close_today_commission_per_unit,
        )
    )
    today_rate: float | None
    today_unit: float | None
    if listed is not None and not charged:
        # The exchange's own rates: opening and closing alike, close-today where it differs.
        rate, per_unit = listed.open_by_money, listed.open_by_volume
        today_rate, today_unit = listed.close_today_by_money, listed.close_today_by_volume
    else:
        rate, per_unit = settings.commission or 0.0, settings.commission_per_unit or 0.0
        today_rate = settings.close_today_commission
        today_unit = settings.close_today_commission_per_unit
    margin = settings.margin
    if margin is None and instrument is not None and instrument.long_margin_ratio > 0.0:
        margin = max(instrument.long_margin_ratio, instrument.short_margin_ratio)
    return InstrumentTerms(
        multiplier=settings.multiplier
        or (float(instrument.multiplier) if instrument is not None else 1.0),
        price_tick=settings.price_tick
        or (instrument.price_tick if instrument is not None else 0.0),
        margin_rate=margin,
        commission_rate=rate,
        commission_per_unit=per_unit,
        close_today_rate=today_rate,
        close_today_per_unit=today_unit,
        slippage_ticks=settings.slippage_ticks,
    )


def prepare(settings: BacktestSettings, instrument: Instrument | None = None) -> PreparedBacktest:
    """The settings checked and turned into what the engines take."""
    definition = strategy_of(settings.strategy)
    params = checked_params(definition, dict(settings.params))
    if settings.engine == "vectorized" and definition.signals is None:
        raise RequestError(f"{definition.name} runs only on the event engine", "engine")
    if settings.engine == "event" and definition.event_class is None:
        raise RequestError(f"{definition.name} runs only on the vectorized engine", "engine")
    try:
        config = BacktestConfig(
            cash=settings.cash,
            fill=settings.fill,
            size=SizeRule.parse(settings.size),
            terms=_terms(settings, instrument),
            periods_per_year=settings.periods_per_year,
            risk_free_rate=settings.risk_free_rate,
        )
        config.validate()
    except BacktestError as exc:
        raise RequestError(str(exc), _FIELDS.get(exc.field, exc.field)) from None
    return PreparedBacktest(
        definition=definition, params=params, config=config, engine=settings.engine
    )


# Engine field names -> the request's names for them.
_FIELDS = {
    "margin": "margin",
    "commission_rate": "commission",
    "close_today_rate": "close_today_commission",
    "close_today_per_unit": "close_today_commission_per_unit",
}
