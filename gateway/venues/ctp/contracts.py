"""The broker's contract list (ReqQryInstrument) as `Instrument`s for the instrument table.

Pure: no library import, so it is tested without the locale the library needs. Only futures
are taken; options and combinations are not traded through this gateway. CTP does not tell
commission rates with the contract (they need one query per contract), so a contract already
in the table keeps its rates and only the terms CTP states are updated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from gateway.venues.ctp.mapping import decode_ctp_text, parse_ctp_date
from shared.domain import Exchange, Instrument

log = logging.getLogger(__name__)

INSTRUMENT_FIELDS: Final = (
    "InstrumentID",
    "ExchangeID",
    "InstrumentName",
    "ProductID",
    "ProductClass",
    "VolumeMultiple",
    "PriceTick",
    "MinLimitOrderVolume",
    "LongMarginRatio",
    "ShortMarginRatio",
    "ExpireDate",
    "IsTrading",
)
PC_FUTURES: Final = "1"  # THOST_FTDC_PC_Futures
_EXCHANGES: Final = {exchange.value: exchange for exchange in Exchange}


def _ratio(raw: object) -> float:
    """A margin ratio; CTP writes DBL_MAX or nonsense where the broker has not set one."""
    value = float(raw) if isinstance(raw, int | float) else math.nan
    return value if 0.0 <= value < 1.0 else 0.0


def instrument_from_ctp(
    fields: Mapping[str, Any], known: Instrument | None = None
) -> Instrument | None:
    """The `Instrument` a ReqQryInstrument record (`INSTRUMENT_FIELDS`) describes, or None
    for what this gateway does not trade (not a future, an unknown exchange, unusable terms).
    ``known`` is the table's entry for the same contract: its commission rates are kept."""
    if str(fields.get("ProductClass") or "") != PC_FUTURES:
        return None
    exchange = _EXCHANGES.get(str(fields.get("ExchangeID") or "").strip())
    symbol = str(fields.get("InstrumentID") or "").strip()
    product = str(fields.get("ProductID") or "").strip()
    if exchange is None or not symbol or not product:
        return None
    try:
        min_volume = int(fields.get("MinLimitOrderVolume") or 1)
        terms = Instrument(
            symbol=symbol,
            exchange=exchange,
            product=product,
            name=decode_ctp_text(fields.get("InstrumentName")),
            multiplier=int(fields.get("VolumeMultiple") or 0),
            price_tick=float(fields.get("PriceTick") or 0.0),
            min_volume=max(min_volume, 1),
            long_margin_ratio=_ratio(fields.get("LongMarginRatio")),
            short_margin_ratio=_ratio(fields.get("ShortMarginRatio")),
            expires_on=parse_ctp_date(fields.get("ExpireDate")),
        )
    except (TypeError, ValueError) as exc:
        log.warning("ctp: contract %s.%s skipped: %s", exchange, symbol, exc)
        return None
    if known is not None:
        return msgspec.structs.replace(terms, commission=known.commission)
    return terms


def instruments_from_ctp(
    records: Iterable[Mapping[str, Any]], table: Mapping[str, Instrument]
) -> list[Instrument]:
    """Every future among ``records``, each merged with its entry in ``table``
    ("EXCHANGE.symbol" keys)."""
    found: list[Instrument] = []
    for record in records:
        exchange = str(record.get("ExchangeID") or "").strip()
        key = f"{exchange}.{str(record.get('InstrumentID') or '').strip()}"
        instrument = instrument_from_ctp(record, table.get(key))
        if instrument is not None:
            found.append(instrument)
    return found
