"""The broker's contract list as instruments: real `CThostFtdcInstrumentField` structs, copied
as the session copies them, become the futures of the instrument table."""

from __future__ import annotations

from datetime import date
from typing import Any

from openctp_ctp import tdapi

from gateway.venues.ctp.contracts import INSTRUMENT_FIELDS, instruments_from_ctp
from gateway.venues.ctp.mapping import fields_of
from shared.domain import CommissionRates, Exchange, Instrument

DBL_MAX = 1.7976931348623157e308


def _record(**fields: Any) -> dict[str, Any]:
    struct = tdapi.CThostFtdcInstrumentField()
    values = {
        "InstrumentID": "rb2405",
        "ExchangeID": "SHFE",
        # ASCII: the binding writes a str as UTF-8 but reads GB18030, as a front sends it.
        "InstrumentName": "rebar 2405",
        "ProductID": "rb",
        "ProductClass": tdapi.THOST_FTDC_PC_Futures,
        "VolumeMultiple": 10,
        "PriceTick": 1.0,
        "MinLimitOrderVolume": 1,
        "LongMarginRatio": 0.07,
        "ShortMarginRatio": 0.07,
        "ExpireDate": "20240515",
        **fields,
    }
    for name, value in values.items():
        setattr(struct, name, value)
    return fields_of(struct, INSTRUMENT_FIELDS)


def test_futures_become_instruments_with_the_terms_ctp_states() -> None:
    [rb] = instruments_from_ctp([_record()], {})
    assert rb == Instrument(
        symbol="rb2405",
        exchange=Exchange.SHFE,
        product="rb",
        name="rebar 2405",
        multiplier=10,
        price_tick=1.0,
        long_margin_ratio=0.07,
        short_margin_ratio=0.07,
        expires_on=date(2024, 5, 15),
    )


def test_options_unknown_exchanges_and_broken_terms_are_left_out() -> None:
    records = [
        _record(InstrumentID="rb2405C3800", ProductClass=tdapi.THOST_FTDC_PC_Options),
        _record(ExchangeID="SSE", InstrumentID="600000"),
        _record(InstrumentID="rb2406", PriceTick=0.0),
        _record(InstrumentID="rb2407", VolumeMultiple=0),
        _record(InstrumentID="rb2410"),
    ]
    assert [i.symbol for i in instruments_from_ctp(records, {})] == ["rb2410"]


def test_margins_ctp_leaves_unset_are_zero_and_known_commissions_are_kept() -> None:
    rates = CommissionRates(open_by_money=0.0001, close_today_by_money=0.0001)
    known = Instrument(
        symbol="rb2405",
        exchange=Exchange.SHFE,
        product="rb",
        multiplier=10,
        price_tick=1.0,
        commission=rates,
    )
    [rb] = instruments_from_ctp(
        [_record(LongMarginRatio=DBL_MAX, ShortMarginRatio=-1.0, PriceTick=2.0)],
        {known.key: known},
    )
    assert (rb.long_margin_ratio, rb.short_margin_ratio) == (0.0, 0.0)
    assert rb.price_tick == 2.0  # CTP's terms win
    assert rb.commission == rates  # what CTP does not state is kept
