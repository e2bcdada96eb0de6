"""The catalogue of product schedules and its TOML form (`data/sessions.toml`)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from typing import Any

from shared.domain import Exchange
from shared.sessions._schedule import ProductSessions, Schedule, Session, SessionKind

_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_PRODUCT_OF_SYMBOL = re.compile(r"^([A-Za-z]+)\d")


class UnknownProductError(LookupError):
    """No schedule for the product and no exchange to fall back on."""


class SessionCatalog:
    """Schedules by product code, with a per-exchange fallback for products not listed."""

    __slots__ = ("_by_folded", "_defaults", "_products")

    def __init__(
        self,
        products: Mapping[str, ProductSessions],
        exchange_defaults: Mapping[Exchange, ProductSessions],
    ) -> None:
        self._products = dict(products)
        self._defaults = dict(exchange_defaults)
        # CTP spells SHFE/DCE codes in lower case and CZCE/CFFEX codes in upper case; accept
        # either spelling when it is unambiguous.
        folded: dict[str, list[ProductSessions]] = {}
        for sessions in self._products.values():
            folded.setdefault(sessions.product.lower(), []).append(sessions)
        self._by_folded = {key: found[0] for key, found in folded.items() if len(found) == 1}

    @property
    def products(self) -> tuple[str, ...]:
        return tuple(sorted(self._products))

    def exchange_default(self, exchange: Exchange) -> ProductSessions:
        try:
            return self._defaults[exchange]
        except KeyError:
            raise UnknownProductError(f"no default sessions for exchange {exchange}") from None

    def for_product(self, product: str, exchange: Exchange | None = None) -> ProductSessions:
        """The product's schedules; else the exchange's default (re-labelled with `product`)."""
        found = self._products.get(product) or self._by_folded.get(product.lower())
        if found is not None:
            if exchange is not None and found.exchange is not exchange:
                raise UnknownProductError(f"{product} trades on {found.exchange}, not {exchange}")
            return found
        if exchange is None:
            raise UnknownProductError(f"no sessions for product {product!r}; name its exchange")
        default = self.exchange_default(exchange)
        return ProductSessions(
            product=product,
            exchange=exchange,
            schedules=default.schedules,
            day_auction_after_night_from=default.day_auction_after_night_from,
        )

    def for_symbol(self, symbol: str, exchange: Exchange | None = None) -> ProductSessions:
        """Schedules for a contract symbol such as `rb2401`, `SR401` or `IF2003`."""
        match = _PRODUCT_OF_SYMBOL.match(symbol)
        if match is None:
            raise UnknownProductError(f"{symbol!r} is not a futures contract symbol")
        return self.for_product(match.group(1), exchange)


def parse_sessions_toml(text: str) -> SessionCatalog:
    """Build the catalogue from the TOML layout of `data/sessions.toml`."""
    document = tomllib.loads(text)
    day_sets = {
        name: tuple(_session(SessionKind.DAY, span) for span in spans)
        for name, spans in document.get("day_sessions", {}).items()
    }
    defaults: dict[Exchange, ProductSessions] = {}
    for code, table in document.get("exchanges", {}).items():
        exchange = Exchange(code)
        defaults[exchange] = ProductSessions(
            product="*",
            exchange=exchange,
            schedules=_schedules(table["default"], day_sets, f"exchanges.{code}"),
            day_auction_after_night_from=table.get("day_auction_after_night_from"),
        )
    products: dict[str, ProductSessions] = {}
    for product, table in document.get("products", {}).items():
        exchange = Exchange(table["exchange"])
        default = defaults.get(exchange)
        products[product] = ProductSessions(
            product=product,
            exchange=exchange,
            schedules=_schedules(table["schedules"], day_sets, f"products.{product}"),
            day_auction_after_night_from=(
                default.day_auction_after_night_from if default is not None else None
            ),
        )
    return SessionCatalog(products, defaults)


def _schedules(
    rows: list[dict[str, Any]], day_sets: Mapping[str, tuple[Session, ...]], where: str
) -> tuple[Schedule, ...]:
    schedules = []
    for row in rows:
        effective_from = row["from"]
        if not isinstance(effective_from, date):
            # A bad data file is a ValueError like every other parse error here.
            raise ValueError(f"{where}: `from` must be a TOML date, got {effective_from!r}")  # noqa: TRY004
        try:
            day = day_sets[row["day"]]
        except KeyError:
            raise ValueError(f"{where}: unknown day-session set {row.get('day')!r}") from None
        night = row.get("night")
        schedules.append(
            Schedule(
                effective_from=effective_from,
                day=day,
                night=_session(SessionKind.NIGHT, night) if night is not None else None,
            )
        )
    return tuple(schedules)


def _session(kind: SessionKind, span: str) -> Session:
    match = _SPAN.match(span)
    if match is None:
        raise ValueError(f"session span must look like 09:00-10:15, got {span!r}")
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    return Session(kind, time(start_hour, start_minute), time(end_hour, end_minute))
