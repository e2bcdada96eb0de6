"""Pre-trade risk: every check an order passes before it may leave the gateway.

`RiskEngine` holds one account's state, kept up to date from its orders, trades and account
snapshots, so a check is a handful of dictionary lookups (the target is well under 50 us).
It is pure: the caller passes the time and the latest quote, and records what it sent.

Orders that only close positions are never held back by the flow rules (rates, counts,
duplicates) or the capital rules: a trader must always be able to get out. Cancels are not
checked at all; the daily cancel limit stops new opening orders instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from shared.domain import (
    Account,
    Direction,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
    Trade,
    price_to_ticks,
)
from shared.orders import position_direction
from shared.risk._exposure import Exposure, margin_ratio
from shared.risk._flow import Fingerprint, FlowCounters
from shared.risk._limits import LimitWarning, Rejection, RiskLimits, Rule, TradingState

_LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.CONDITIONAL})


class RiskEngine:
    def __init__(
        self,
        account_id: str,
        instruments: Mapping[str, Instrument],
        limits: RiskLimits | None = None,
        strategy_limits: Mapping[str, RiskLimits] | None = None,
    ) -> None:
        self.account_id = account_id
        self._instruments = instruments
        self.limits = limits or RiskLimits()
        self._strategy_limits = dict(strategy_limits or {})
        self.state = TradingState.ACTIVE
        self.state_reason = ""
        self._flow = FlowCounters()
        self._strategy_flow: dict[str, FlowCounters] = defaultdict(FlowCounters)
        self.exposure = Exposure(instruments)
        self._capital = 0.0  # equity minus position margin, from the last account snapshot
        self._daily_pnl = 0.0  # realized + unrealized - commission, today

    # --- the check ------------------------------------------------------------------------------

    def check(self, order: Order, now: datetime, quote: Tick | None = None) -> Rejection | None:
        """None when ``order`` may be sent; else the first rule it breaks."""
        key = f"{order.exchange}.{order.symbol}"
        instrument = self._instruments.get(key)
        if instrument is None:
            return Rejection(Rule.UNKNOWN_INSTRUMENT, f"{key} is not in the catalogue")
        opening = order.offset is Offset.OPEN
        rejection = (
            self._state_rule(opening)
            or self._validity(order, instrument, quote)
            or (self._capital_rules(order, key, instrument, quote) if opening else None)
            or (None if opening else self._closable(order, key))
            or self._self_trade(order, key)
        )
        if rejection is None and opening:
            rejection = self._flow_rules(
                order, key, now, limits=self.limits, flow=self._flow, scope="account"
            )
            strategy = order.strategy_id
            if rejection is None and strategy is not None and strategy in self._strategy_limits:
                flow = self._strategy_flow[strategy]
                limits = self._strategy_limits[strategy]
                scope = f"strategy {strategy}"
                rejection = self._flow_rules(order, key, now, limits=limits, flow=flow, scope=scope)
        return rejection

    def admit(self, order: Order, now: datetime, quote: Tick | None = None) -> Rejection | None:
        """`check`, and when it passes, count the order as sent."""
        rejection = self.check(order, now, quote)
        if rejection is None:
            self.record_sent(order, now, quote)
        return rejection

    def _state_rule(self, opening: bool) -> Rejection | None:
        if self.state is TradingState.HALTED:
            return Rejection(Rule.TRADING_STATE, f"trading is halted: {self.state_reason}")
        if self.state is TradingState.REDUCING_ONLY and opening:
            reason = f"only closing orders are allowed: {self.state_reason}"
            return Rejection(Rule.TRADING_STATE, reason)
        return None

    def _validity(
        self, order: Order, instrument: Instrument, quote: Tick | None
    ) -> Rejection | None:
        if order.volume % instrument.min_volume:
            detail = f"volume {order.volume} is not a multiple of {instrument.min_volume}"
            return Rejection(Rule.VOLUME, detail)
        max_volume = self.limits.max_order_volume
        if max_volume is not None and order.volume > max_volume:
            return Rejection(Rule.VOLUME, f"volume {order.volume} is above {max_volume}")
        for name in ("price", "trigger_price"):
            price: float | None = getattr(order, name)
            if price is not None and not instrument.accepts_price(price):
                detail = f"{name} {price} is not on the {instrument.price_tick} tick grid"
                return Rejection(Rule.PRICE_TICK, detail)
        if order.type in _LIMIT_PRICED and order.price is not None and quote is not None:
            tick = instrument.price_tick
            price_ticks = price_to_ticks(order.price, tick)
            upper, lower = quote.upper_limit, quote.lower_limit
            if upper is not None and price_ticks > price_to_ticks(upper, tick):
                return Rejection(Rule.PRICE_LIMIT, f"price {order.price} is above limit-up {upper}")
            if lower is not None and price_ticks < price_to_ticks(lower, tick):
                detail = f"price {order.price} is below limit-down {lower}"
                return Rejection(Rule.PRICE_LIMIT, detail)
        return None

    def _capital_rules(
        self, order: Order, key: str, instrument: Instrument, quote: Tick | None
    ) -> Rejection | None:
        limits = self.limits
        price = _reference_price(order, quote)
        if price is None:
            return Rejection(Rule.MARGIN, "no price to value the order: no quote yet")
        notional = price * order.volume * instrument.multiplier
        if limits.max_order_notional is not None and notional > limits.max_order_notional:
            detail = f"notional {notional:,.0f} is above {limits.max_order_notional:,.0f}"
            return Rejection(Rule.NOTIONAL, detail)
        if limits.max_daily_loss is not None and -self._daily_pnl >= limits.max_daily_loss:
            self.set_state(TradingState.REDUCING_ONLY, "the daily loss limit was reached")
            detail = f"today's loss {-self._daily_pnl:,.2f} reached {limits.max_daily_loss:,.2f}"
            return Rejection(Rule.DAILY_LOSS, detail)
        required = notional * margin_ratio(instrument, order.side)
        available = self._capital - self.exposure.frozen_total
        if required > available:
            detail = f"needs {required:,.2f} margin, {available:,.2f} available"
            return Rejection(Rule.MARGIN, detail)
        return self._position_limits(order, key, instrument)

    def _position_limits(self, order: Order, key: str, instrument: Instrument) -> Rejection | None:
        limits = self.limits
        direction = position_direction(order.side, order.offset)
        exposure = self.exposure
        position = (key, direction)
        after = exposure.positions[position] + exposure.working_open[position] + order.volume
        cap = limits.max_position_per_instrument
        if cap is not None and after > cap:
            detail = f"{direction} {key} would reach {after} lots, limit {cap}"
            return Rejection(Rule.POSITION_LIMIT, detail)
        cap = limits.max_position_per_product
        if cap is not None:
            after = exposure.product_lots[instrument.product, direction] + order.volume
            if after > cap:
                detail = f"{direction} {instrument.product} would reach {after} lots, limit {cap}"
                return Rejection(Rule.PRODUCT_POSITION_LIMIT, detail)
        return None

    def _closable(self, order: Order, key: str) -> Rejection | None:
        position = (key, position_direction(order.side, order.offset))
        free = self.exposure.positions[position] - self.exposure.working_close[position]
        if order.volume > free:
            detail = f"closing {order.volume} of {position[1]} {key}, {free} held and not closing"
            return Rejection(Rule.CLOSE_EXCEEDS_POSITION, detail)
        return None

    def _self_trade(self, order: Order, key: str) -> Rejection | None:
        if not self.limits.prevent_self_trade:
            return None
        crossed = self.exposure.crossing(order, key)
        if crossed is None:
            return None
        return Rejection(Rule.SELF_TRADE, f"it would trade with the account's own order {crossed}")

    @staticmethod
    def _flow_rules(
        order: Order,
        key: str,
        now: datetime,
        *,
        limits: RiskLimits,
        flow: FlowCounters,
        scope: str,
    ) -> Rejection | None:
        checks: list[tuple[int | None, int, Rule, str]] = [
            (
                limits.max_orders_per_second,
                flow.orders_in_last_second(now),
                Rule.ORDER_RATE,
                "orders in the last second",
            ),
            (limits.max_active_orders, flow.active, Rule.ACTIVE_ORDERS, "working orders"),
            (limits.max_daily_orders, flow.orders, Rule.DAILY_ORDERS, "orders today"),
            (
                limits.max_daily_orders_per_instrument,
                flow.orders_by_key[key],
                Rule.DAILY_ORDERS,
                f"orders today on {key}",
            ),
            (limits.max_daily_cancels, flow.cancels, Rule.DAILY_CANCELS, "cancels today"),
            (
                limits.max_daily_cancels_per_instrument,
                flow.cancels_by_key[key],
                Rule.DAILY_CANCELS,
                f"cancels today on {key}",
            ),
            (limits.max_daily_trades, flow.trades, Rule.DAILY_TRADES, "trades today"),
        ]
        for cap, count, rule, what in checks:
            if cap is not None and count >= cap:
                return Rejection(rule, f"{count} {what}, limit {cap}", scope)
        window = limits.duplicate_window_s
        if window is not None:
            last = flow.last_sent(_fingerprint(order, key))
            if last is not None and now - last < timedelta(seconds=window):
                detail = f"the same order was sent {(now - last).total_seconds():.3f} s ago"
                return Rejection(Rule.DUPLICATE_ORDER, detail, scope)
        return None

    # --- keeping the state ----------------------------------------------------------------------

    def record_sent(self, order: Order, now: datetime, quote: Tick | None = None) -> None:
        key = f"{order.exchange}.{order.symbol}"
        fingerprint = _fingerprint(order, key)
        self._flow.record_order(key, fingerprint, now)
        if order.strategy_id is not None:
            self._strategy_flow[order.strategy_id].record_order(key, fingerprint, now)
        self.exposure.add(order, key, _reference_price(order, quote))

    def on_order(self, order: Order) -> None:
        """An update of a working order (fills shrink what it holds; the end releases it)."""
        if self.exposure.update(order):
            self._flow.order_finished()
            if order.strategy_id is not None:
                self._strategy_flow[order.strategy_id].order_finished()

    def on_cancel_sent(self, order: Order) -> None:
        key = f"{order.exchange}.{order.symbol}"
        self._flow.record_cancel(key)
        if order.strategy_id is not None:
            self._strategy_flow[order.strategy_id].record_cancel(key)

    def on_trade(self, trade: Trade, strategy_id: str | None = None) -> None:
        key = f"{trade.exchange}.{trade.symbol}"
        change = trade.volume if trade.offset is Offset.OPEN else -trade.volume
        self.exposure.trade(key, position_direction(trade.side, trade.offset), change)
        self._flow.record_trade()
        if strategy_id is not None:
            self._strategy_flow[strategy_id].record_trade()

    def on_account(self, account: Account) -> None:
        self._capital = account.equity - account.margin
        self._daily_pnl = account.realized_pnl + account.unrealized_pnl - account.commission

    def set_positions(self, positions: Mapping[tuple[str, Direction], int]) -> None:
        """Positions as the venue or the store has them (at start-up, after reconciling)."""
        self.exposure.set_positions(positions)

    def set_state(self, state: TradingState, reason: str) -> None:
        self.state = state
        self.state_reason = reason

    @property
    def strategy_limits(self) -> Mapping[str, RiskLimits]:
        return dict(self._strategy_limits)

    def set_limits(self, limits: RiskLimits, strategy_id: str | None = None) -> None:
        """The account's limits (or one strategy's), in force from the next check.

        The day's counters are kept: lowering a daily limit below today's count refuses the
        next opening order rather than starting the day over.
        """
        if strategy_id is None:
            self.limits = limits
        else:
            self._strategy_limits[strategy_id] = limits

    def remove_strategy_limits(self, strategy_id: str) -> bool:
        """The strategy trades under the account's limits alone; False if it had none."""
        return self._strategy_limits.pop(strategy_id, None) is not None

    def warnings(self) -> list[LimitWarning]:
        """The daily limits at or past their `warn_at` share, for the account and each
        strategy with limits of its own."""
        found = _near_limits(self.limits, self._flow, "account")
        limit = self.limits.max_daily_loss
        warn_at = self.limits.warn_at
        loss = -self._daily_pnl
        if limit is not None and warn_at is not None and loss >= warn_at * limit:
            detail = f"today's loss {loss:,.2f} of {limit:,.2f}"
            found.append(LimitWarning(Rule.DAILY_LOSS, loss, limit, detail))
        for strategy, limits in self._strategy_limits.items():
            flow = self._strategy_flow.get(strategy)
            if flow is not None:
                found += _near_limits(limits, flow, f"strategy {strategy}")
        return found

    def new_trading_day(self) -> None:
        self._flow.new_day()
        for flow in self._strategy_flow.values():
            flow.new_day()
        self._daily_pnl = 0.0
        if self.state is TradingState.REDUCING_ONLY and "daily loss" in self.state_reason:
            self.set_state(TradingState.ACTIVE, "a new trading day")


def _near_limits(limits: RiskLimits, flow: FlowCounters, scope: str) -> list[LimitWarning]:
    warn_at = limits.warn_at
    if warn_at is None:
        return []
    counts: list[tuple[int | None, int, Rule, str]] = [
        (limits.max_daily_orders, flow.orders, Rule.DAILY_ORDERS, "orders today"),
        (limits.max_daily_cancels, flow.cancels, Rule.DAILY_CANCELS, "cancels today"),
        (limits.max_daily_trades, flow.trades, Rule.DAILY_TRADES, "trades today"),
        (limits.max_active_orders, flow.active, Rule.ACTIVE_ORDERS, "working orders"),
    ]
    for key, count in flow.orders_by_key.items():
        cap = limits.max_daily_orders_per_instrument
        counts.append((cap, count, Rule.DAILY_ORDERS, f"orders today on {key}"))
    for key, count in flow.cancels_by_key.items():
        cap = limits.max_daily_cancels_per_instrument
        counts.append((cap, count, Rule.DAILY_CANCELS, f"cancels today on {key}"))
    return [
        LimitWarning(rule, count, cap, f"{count} {what} of {cap}", scope)
        for cap, count, rule, what in counts
        if cap is not None and count >= warn_at * cap
    ]


def _reference_price(order: Order, quote: Tick | None) -> float | None:
    if order.price is not None:
        return order.price
    if order.trigger_price is not None:
        return order.trigger_price
    if quote is None:
        return None
    opposite = quote.ask_price if order.side is Side.BUY else quote.bid_price
    return opposite if opposite is not None else quote.last_price


def _fingerprint(order: Order, key: str) -> Fingerprint:
    # Micro-units, not the float: 3500.0 and 3500.0000000001 are the same price.
    price = None if order.price is None else round(order.price * 1_000_000)
    return (key, str(order.side), str(order.offset), price, order.volume)
