"""The event-driven engine with small custom strategies placing explicit orders on hand-made
bars: market, limit and stop fills along the bar path, cancels, the order and trade callbacks,
streaming indicators, context errors, and strategies over several series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import talib

from shared.backtest import (
    BacktestConfig,
    BacktestError,
    BacktestResult,
    BarSeries,
    EventBacktest,
    InstrumentTerms,
    SizeRule,
    run_event_driven,
)
from shared.strategy import BarView, OrderUpdate, Strategy, StrategyContext, TradeUpdate
from tests.support.bars_builder import series

CASH = 100_000.0
TICK1 = InstrumentTerms(price_tick=1.0)

Action = Callable[[StrategyContext, BarView], None]


class Scripted(Strategy):
    """Runs `script[bar.index]` (if any) in `on_bar`; records every callback."""

    name = "scripted"

    def __init__(self, script: dict[int, Action] | None = None) -> None:
        super().__init__()
        self.script = script or {}
        self.bars: list[tuple[str, int, float]] = []
        self.orders: list[tuple[str, str, float, float]] = []
        self.trades: list[tuple[str, str, float, float, float, int]] = []
        self.ids: dict[str, str] = {}  # a name the script gives -> the order id

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        self.bars.append((bar.symbol, bar.index, bar.close))
        action = self.script.get(bar.index)
        if action is not None:
            action(ctx, bar)

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        self.orders.append((order.order_id, order.status, order.volume, order.filled))

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        self.trades.append(
            (
                trade.order_id,
                trade.symbol,
                trade.volume,
                trade.price,
                trade.commission,
                trade.ts_ns,
            )
        )


def place(name: str, call: Callable[[StrategyContext], str]) -> Callable[[Scripted], Action]:
    """An action that places an order and remembers its id under `name`."""

    def bind(strategy: Scripted) -> Action:
        def act(ctx: StrategyContext, _bar: BarView) -> None:
            strategy.ids[name] = call(ctx)

        return act

    return bind


def do(call: Callable[[StrategyContext], object]) -> Callable[[Scripted], Action]:
    """An action that makes one context call."""

    def bind(_strategy: Scripted) -> Action:
        def act(ctx: StrategyContext, _bar: BarView) -> None:
            call(ctx)

        return act

    return bind


def scripted(**steps: Callable[[Scripted], Action]) -> Scripted:
    """`scripted(b0=place(...), b2=...)`: the action of each bar index."""
    strategy = Scripted()
    strategy.script = {int(key[1:]): make(strategy) for key, make in steps.items()}
    return strategy


def run(
    strategy: Strategy | Callable[[], Strategy],
    bars: BarSeries | list[BarSeries],
    *,
    fill: str = "next_open",
    terms: InstrumentTerms = TICK1,
    size: SizeRule | None = None,
) -> BacktestResult:
    config = BacktestConfig(
        cash=CASH,
        fill=fill,  # type: ignore[arg-type]
        terms=terms,
        size=size or SizeRule(),
    )
    return run_event_driven(strategy, bars, config)


# Market orders ----------------------------------------------------------------------------

# opens and closes differ at every bar
OPENS = [100.0, 102.0, 104.0, 103.0]
CLOSES = [101.0, 103.0, 102.0, 105.0]


def test_market_buy_in_next_open_mode_fills_at_the_next_open() -> None:
    strategy = scripted(b0=place("buy", lambda ctx: ctx.buy(2)))
    result = run(strategy, series(OPENS, CLOSES))
    assert result.fills.bar.tolist() == [1]
    assert result.fills.price.tolist() == [102.0]  # OPENS[1]
    assert result.fills.units.tolist() == [2.0]
    assert result.positions[:, 0].tolist() == [0, 2, 2, 2]
    # 2 units from 102, marked at CLOSES[3] = 105
    assert result.final_equity == pytest.approx(CASH + 2 * (105 - 102))
    (held,) = result.open_positions
    assert (held.units, held.entry_price, held.entry_bar) == (2.0, 102.0, 1)


def test_market_buy_in_close_mode_fills_at_this_close() -> None:
    strategy = scripted(b0=place("buy", lambda ctx: ctx.buy(1)))
    result = run(strategy, series(OPENS, CLOSES), fill="close")
    assert result.fills.bar.tolist() == [0]
    assert result.fills.price.tolist() == [101.0]  # CLOSES[0]
    assert result.positions[:, 0].tolist() == [1, 1, 1, 1]


def test_position_is_visible_to_the_strategy_once_filled() -> None:
    seen: list[float] = []

    class Watch(Strategy):
        name = "watch"

        def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
            seen.append(ctx.position())
            if bar.index == 0:
                ctx.sell(3)

    run(Watch(), series(OPENS, CLOSES))
    # decided at bar 0, filled at bar 1's open, so on_bar of bar 1 sees it
    assert seen == [0.0, -3.0, -3.0, -3.0]


def test_market_round_trip_makes_one_trade_with_both_commissions() -> None:
    strategy = scripted(
        b0=place("open", lambda ctx: ctx.buy(2)),
        b2=place("close", lambda ctx: ctx.sell(2)),
    )
    terms = InstrumentTerms(price_tick=1.0, multiplier=10, commission_per_unit=3.0)
    result = run(strategy, series(OPENS, CLOSES), terms=terms)
    # buy 2 at OPENS[1] = 102, sell 2 at OPENS[3] = 103; 2 * 3 commission per leg
    assert result.fills.price.tolist() == [102.0, 103.0]
    assert len(result.trades) == 1
    table = result.trades.table
    assert table.commission[0] == pytest.approx(12.0)
    assert table.pnl[0] == pytest.approx(2 * (103 - 102) * 10 - 12.0)
    assert result.final_equity == pytest.approx(CASH + 20.0 - 12.0)
    assert result.open_positions == ()


# Limit orders -----------------------------------------------------------------------------


def limit_buy_at(price: float) -> Scripted:
    return scripted(b0=place("limit", lambda ctx: ctx.buy(1, kind="limit", price=price)))


def test_buy_limit_below_the_market_rests_until_a_low_reaches_it() -> None:
    # bar 1 dips to 99 only; bar 2 (an up bar: open, low, high, close) touches 98
    bars = series(
        [100.0, 100.0, 100.0, 101.0],
        [100.0, 100.0, 101.0, 101.0],
        high=[100.0, 101.0, 101.0, 101.0],
        low=[100.0, 99.0, 98.0, 101.0],
    )
    strategy = limit_buy_at(98.0)
    result = run(strategy, bars)
    assert result.fills.bar.tolist() == [2]
    assert result.fills.price.tolist() == [98.0]
    assert result.positions[:, 0].tolist() == [0, 0, 1, 1]
    order_id = strategy.ids["limit"]
    assert strategy.trades[0][:4] == (order_id, "TEST", 1.0, 98.0)
    assert (order_id, "filled", 1.0, 1.0) in strategy.orders
    # marked at CLOSES[3] = 101 from 98
    assert result.final_equity == pytest.approx(CASH + 3.0)


def test_buy_limit_fills_at_its_price_when_the_low_goes_through_it() -> None:
    bars = series(
        [100.0, 100.0, 100.0, 101.0],
        [100.0, 100.0, 101.0, 101.0],
        high=[100.0, 101.0, 101.0, 101.0],
        low=[100.0, 99.0, 97.0, 101.0],  # bar 2 opens at 100, above the limit, and dips to 97
    )
    result = run(limit_buy_at(98.0), bars)
    assert result.fills.bar.tolist() == [2]
    assert result.fills.price.tolist() == [98.0]


def test_sell_limit_fills_at_its_price_when_the_high_goes_through_it() -> None:
    bars = series(
        [100.0, 100.0, 101.0],
        [100.0, 101.0, 101.0],
        high=[100.0, 103.0, 101.0],  # bar 1 opens at 100, below the limit, and rises to 103
        low=[100.0, 100.0, 101.0],
    )
    strategy = scripted(b0=place("limit", lambda ctx: ctx.sell(1, kind="limit", price=102.0)))
    result = run(strategy, bars)
    assert result.fills.price.tolist() == [102.0]


def test_buy_limit_fills_at_the_open_when_the_bar_gaps_below_it() -> None:
    # bar 1 stays above 98; bar 2 opens at 96, below the resting limit
    bars = series(
        [100.0, 100.0, 96.0, 97.0],
        [100.0, 100.0, 97.0, 97.0],
        high=[100.0, 101.0, 97.0, 97.0],
        low=[100.0, 99.0, 95.0, 97.0],
    )
    result = run(limit_buy_at(98.0), bars)
    assert result.fills.bar.tolist() == [2]
    assert result.fills.price.tolist() == [96.0]


def test_buy_limit_placed_above_the_next_open_fills_at_that_open() -> None:
    # the limit arrives at bar 1's open, 95, already below it: it takes the open
    bars = series([100.0, 95.0, 96.0], [100.0, 96.0, 96.0])
    result = run(limit_buy_at(98.0), bars)
    assert result.fills.bar.tolist() == [1]
    assert result.fills.price.tolist() == [95.0]


def test_buy_limit_never_reached_stays_unfilled() -> None:
    bars = series([100.0, 100.0, 100.0], high=[101.0] * 3, low=[99.0] * 3)
    strategy = limit_buy_at(98.0)
    result = run(strategy, bars)
    assert len(result.fills) == 0
    assert strategy.trades == []
    assert result.positions[:, 0].tolist() == [0, 0, 0]


def test_limit_off_the_tick_grid_is_rejected_and_reported() -> None:
    bars = series([100.0, 100.0, 100.0], high=[100.0] * 3, low=[100.0, 97.0, 100.0])
    strategy = limit_buy_at(97.5)  # the tick is 1.0
    result = run(strategy, bars)
    assert result.rejected_orders == 1
    assert len(result.fills) == 0
    assert strategy.orders == [(strategy.ids["limit"], "rejected", 1.0, 0.0)]


# Stop orders ------------------------------------------------------------------------------


def sell_stop_at(price: float) -> Scripted:
    return scripted(b0=place("stop", lambda ctx: ctx.sell(1, kind="stop", price=price)))


def test_sell_stop_triggers_at_the_trigger() -> None:
    # bar 1 dips to 96 (no trigger); bar 2, a down bar (open, high, low, close), falls to 94
    bars = series(
        [100.0, 100.0, 99.0, 97.0],
        [100.0, 100.0, 97.0, 97.0],
        high=[100.0, 101.0, 100.0, 97.0],
        low=[100.0, 96.0, 94.0, 97.0],
    )
    strategy = sell_stop_at(95.0)
    result = run(strategy, bars)
    assert result.fills.bar.tolist() == [2]
    assert result.fills.price.tolist() == [95.0]
    assert result.fills.units.tolist() == [-1.0]
    assert strategy.trades[0][2:4] == (-1.0, 95.0)
    # short from 95, marked at 97
    assert result.final_equity == pytest.approx(CASH - 2.0)


def test_sell_stop_fills_at_the_open_after_a_gap() -> None:
    bars = series(
        [100.0, 100.0, 93.0, 94.0],
        [100.0, 100.0, 94.0, 94.0],
        high=[100.0, 101.0, 94.0, 94.0],
        low=[100.0, 96.0, 92.0, 94.0],
    )
    result = run(sell_stop_at(95.0), bars)
    assert result.fills.bar.tolist() == [2]
    assert result.fills.price.tolist() == [93.0]


def test_buy_stop_triggers_at_the_trigger_above_the_market() -> None:
    bars = series(
        [100.0, 100.0, 101.0],
        [100.0, 104.0, 101.0],
        high=[100.0, 107.0, 101.0],
        low=[100.0, 99.0, 101.0],
    )
    strategy = scripted(b0=place("stop", lambda ctx: ctx.buy(2, kind="stop", price=105.0)))
    result = run(strategy, bars)
    assert result.fills.price.tolist() == [105.0]
    assert result.fills.units.tolist() == [2.0]


def test_stop_used_as_a_protective_exit_closes_the_trade() -> None:
    bars = series(
        [100.0, 101.0, 100.0, 96.0],
        [101.0, 100.0, 96.0, 96.0],
        high=[101.0, 101.0, 100.0, 96.0],
        low=[100.0, 99.0, 95.0, 96.0],
    )
    strategy = scripted(
        b0=place("entry", lambda ctx: ctx.buy(1)),
        b1=place("stop", lambda ctx: ctx.sell(1, kind="stop", price=97.0)),
    )
    result = run(strategy, bars)
    # bought at OPENS[1] = 101; bar 2 falls from 100 through 97: sold at 97
    assert result.fills.price.tolist() == [101.0, 97.0]
    assert result.trades.table.pnl.tolist() == [pytest.approx(97.0 - 101.0)]
    assert result.positions[:, 0].tolist() == [0, 1, 0, 0]


# Cancel, callbacks ------------------------------------------------------------------------


def test_cancelled_resting_limit_never_fills_and_is_reported() -> None:
    bars = series(
        [100.0, 100.0, 100.0, 100.0],
        high=[100.0, 101.0, 101.0, 101.0],
        low=[100.0, 99.0, 97.0, 97.0],  # bar 2 would have filled the limit
    )
    strategy = scripted(b0=place("limit", lambda ctx: ctx.buy(1, kind="limit", price=98.0)))
    strategy.script[1] = lambda ctx, _bar: ctx.cancel(strategy.ids["limit"])
    result = run(strategy, bars)
    assert len(result.fills) == 0
    assert strategy.trades == []
    assert strategy.orders == [(strategy.ids["limit"], "cancelled", 1.0, 0.0)]
    assert result.positions[:, 0].tolist() == [0, 0, 0, 0]


def test_cancel_of_a_pending_market_order_and_of_an_unknown_id() -> None:
    strategy = Scripted()

    def act(ctx: StrategyContext, _bar: BarView) -> None:
        strategy.ids["buy"] = ctx.buy(1)
        ctx.cancel(strategy.ids["buy"])
        ctx.cancel("no-such-order")  # ignored

    strategy.script[0] = act
    result = run(strategy, series(OPENS, CLOSES))
    assert len(result.fills) == 0
    assert strategy.orders == [(strategy.ids["buy"], "cancelled", 1.0, 0.0)]


def test_on_trade_receives_signed_volume_price_and_commission() -> None:
    terms = InstrumentTerms(price_tick=1.0, multiplier=10, commission_rate=1e-4)
    strategy = scripted(
        b0=place("sell", lambda ctx: ctx.sell(2)),
        b1=place("buy", lambda ctx: ctx.buy(2)),
    )
    bars = series(OPENS, CLOSES)
    result = run(strategy, bars, terms=terms)
    sell_id, buy_id = strategy.ids["sell"], strategy.ids["buy"]
    assert sell_id != buy_id
    # sell 2 at OPENS[1] = 102: commission 1e-4 * 102 * 2 * 10 = 0.204
    # buy 2 at OPENS[2] = 104:  commission 1e-4 * 104 * 2 * 10 = 0.208
    assert [t[:4] for t in strategy.trades] == [
        (sell_id, "TEST", -2.0, 102.0),
        (buy_id, "TEST", 2.0, 104.0),
    ]
    assert [t[4] for t in strategy.trades] == pytest.approx([0.204, 0.208])
    assert [t[5] for t in strategy.trades] == [int(bars.ts_ns[1]), int(bars.ts_ns[2])]
    assert strategy.orders == [
        (sell_id, "filled", -2.0, -2.0),
        (buy_id, "filled", 2.0, 2.0),
    ]
    # the short lost 2 * (104 - 102) * 10 = 40, less both commissions
    assert result.trades.table.pnl[0] == pytest.approx(-40.0 - 0.204 - 0.208)


def test_intent_fills_are_reported_to_on_trade() -> None:
    strategy = scripted(b0=do(lambda ctx: ctx.go_long()))
    result = run(strategy, series(OPENS, CLOSES), size=SizeRule(mode="units", value=3))
    assert result.fills.units.tolist() == [3.0]
    assert [t[2:4] for t in strategy.trades] == [(3.0, 102.0)]


def test_go_long_then_go_short_reverses_at_the_next_open() -> None:
    strategy = scripted(
        b0=do(lambda ctx: ctx.go_long()),
        b1=do(lambda ctx: ctx.go_long()),  # already long (pending): ignored
        b2=do(lambda ctx: ctx.go_short()),
    )
    result = run(strategy, series(OPENS, CLOSES))
    # long at OPENS[1] = 102; reversed at OPENS[3] = 103: +1 closes, -1 opens
    assert result.fills.units.tolist() == [1.0, -1.0, -1.0]
    assert result.fills.price.tolist() == [102.0, 103.0, 103.0]
    assert result.trades.table.pnl.tolist() == [pytest.approx(1.0)]
    # short from 103 marked at 105
    assert result.final_equity == pytest.approx(CASH + 1.0 - 2.0)


# Indicators -------------------------------------------------------------------------------


class SmaWatcher(Strategy):
    name = "sma_watcher"

    def on_start(self, ctx: StrategyContext) -> None:
        self.sma = ctx.indicator("sma", timeperiod=3)
        self.seen: list[float | None] = []

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        self.seen.append(self.sma.value)


def test_indicators_update_before_on_bar_and_match_talib() -> None:
    closes = [10.0, 11.0, 13.0, 12.0, 15.0, 14.0, 16.0]
    strategy = SmaWatcher()
    run(strategy, series(closes))
    # sma(3) including the bar being published: (10+11+13)/3, (11+13+12)/3, ...
    hand = [None, None, 34 / 3, 12.0, 40 / 3, 41 / 3, 15.0]
    assert strategy.seen[:2] == [None, None]
    assert strategy.seen[2:] == pytest.approx(hand[2:])
    batch = talib.SMA(np.array(closes), timeperiod=3)
    assert np.isnan(batch[:2]).all()
    assert strategy.seen[2:] == pytest.approx(batch[2:].tolist(), rel=1e-12)


def test_multi_input_indicator_streams_like_the_batch() -> None:
    opens = [10.0, 11.0, 12.0, 11.5, 13.0, 12.5, 14.0, 13.0]
    closes = [11.0, 12.0, 11.5, 13.0, 12.5, 14.0, 13.0, 15.0]
    highs = [max(o, c) + 0.5 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) - 0.5 for o, c in zip(opens, closes, strict=True)]

    class AtrWatcher(Strategy):
        name = "atr_watcher"

        def on_start(self, ctx: StrategyContext) -> None:
            self.atr = ctx.indicator("atr", timeperiod=3)
            self.seen: list[Any] = []

        def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
            self.seen.append(self.atr.value)

    strategy = AtrWatcher()
    run(strategy, series(opens, closes, high=highs, low=lows))
    batch = talib.ATR(np.array(highs), np.array(lows), np.array(closes), timeperiod=3)
    defined = ~np.isnan(batch)
    assert [v is None for v in strategy.seen] == (~defined).tolist()
    assert [v for v in strategy.seen if v is not None] == pytest.approx(batch[defined].tolist())


def test_declaring_an_indicator_after_start_raises() -> None:
    strategy = scripted(b1=do(lambda ctx: ctx.indicator("sma", timeperiod=2)))
    with pytest.raises(BacktestError, match="on_start") as caught:
        run(strategy, series(OPENS, CLOSES))
    assert caught.value.field == "indicator"


# Context errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda ctx: ctx.buy(1, "NOPE"),
        lambda ctx: ctx.position("NOPE"),
        lambda ctx: ctx.go_long("NOPE"),
    ],
)
def test_unknown_symbol_raises_naming_symbol(call: Callable[[StrategyContext], object]) -> None:
    strategy = scripted(b0=do(call))
    with pytest.raises(BacktestError, match="unknown symbol 'NOPE'") as caught:
        run(strategy, series(OPENS, CLOSES))
    assert caught.value.field == "symbol"


def test_unknown_symbol_in_an_indicator_declaration() -> None:
    class Declares(Strategy):
        name = "declares"

        def on_start(self, ctx: StrategyContext) -> None:
            ctx.indicator("sma", "NOPE", timeperiod=3)

    with pytest.raises(BacktestError) as caught:
        run(Declares(), series(OPENS, CLOSES))
    assert caught.value.field == "symbol"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda ctx: ctx.buy(0.5), "volume"),
        (lambda ctx: ctx.sell(1.5), "volume"),
        (lambda ctx: ctx.buy(0), "volume"),
        (lambda ctx: ctx.buy(1, kind="limit"), "price"),
        (lambda ctx: ctx.sell(1, kind="stop"), "price"),
        (lambda ctx: ctx.buy(1, kind="limit", price=0.0), "price"),
        (lambda ctx: ctx.buy(1, kind="iceberg", price=100.0), "kind"),
    ],
)
def test_order_validation(call: Callable[[StrategyContext], object], field: str) -> None:
    strategy = scripted(b0=do(call))
    with pytest.raises(BacktestError) as caught:
        run(strategy, series(OPENS, CLOSES))
    assert caught.value.field == field


def test_config_is_validated_before_running() -> None:
    with pytest.raises(BacktestError) as caught:
        run_event_driven(Scripted(), series(OPENS), BacktestConfig(cash=0.0))
    assert caught.value.field == "cash"


# Several series ---------------------------------------------------------------------------


def two_series() -> list[BarSeries]:
    # A at minutes 0, 1, 2; B at minutes 1, 2, 3 (grid rows 0..3)
    a = series([10.0, 11.0, 12.0], symbol="A")
    b = series([50.0, 51.0, 52.0], symbol="B", minutes=[1, 2, 3])
    return [a, b]


def test_one_instance_over_two_series_sees_both_series_bars() -> None:
    strategy = Scripted()
    result = run(strategy, two_series())
    # (symbol, grid row, close), series in order within a row
    assert strategy.bars == [
        ("A", 0, 10.0),
        ("A", 1, 11.0),
        ("B", 1, 50.0),
        ("A", 2, 12.0),
        ("B", 2, 51.0),
        ("B", 3, 52.0),
    ]
    assert result.symbols == ("A", "B")


def test_one_instance_trades_either_series_by_symbol() -> None:
    strategy = Scripted()

    def act(ctx: StrategyContext, bar: BarView) -> None:
        if bar.symbol == "A" and bar.index == 0:
            ctx.buy(1)  # the primary series (A)
            ctx.sell(2, "B")

    strategy.script[0] = act
    result = run(strategy, two_series())
    # A buys at its next open (row 1, 11); B has its first bar at row 1 too: sells at 50
    fills = zip(
        result.fills.symbol.tolist(),
        result.fills.units.tolist(),
        result.fills.price.tolist(),
        strict=True,
    )
    assert sorted(fills) == [(0, 1.0, 11.0), (1, -2.0, 50.0)]
    assert result.positions[-1].tolist() == [1.0, -2.0]
    # A held from 11, marked at its last close 12; B short 2 from 50, marked at 52
    assert result.final_equity == pytest.approx(CASH + 1.0 - 4.0)


def test_a_factory_gives_one_instance_per_series() -> None:
    made: list[Scripted] = []

    def factory() -> Scripted:
        strategy = Scripted()

        def act(ctx: StrategyContext, bar: BarView) -> None:
            ctx.buy(1)  # no symbol: each instance's own series

        strategy.script = {0: act, 1: act}
        made.append(strategy)
        return strategy

    result = run(factory, two_series())
    assert len(made) == 2
    first, second = made
    assert {s for s, _i, _c in first.bars} == {"A"}
    assert {s for s, _i, _c in second.bars} == {"B"}
    assert [i for _s, i, _c in first.bars] == [0, 1, 2]
    assert [i for _s, i, _c in second.bars] == [1, 2, 3]
    # first buys on grid rows 0 and 1 (A's bars) -> fills at rows 1, 2; second buys on row 1
    # (its first bar) -> fills at row 2
    assert result.positions[-1].tolist() == [2.0, 1.0]
    # each instance hears only its own fills
    assert {t[1] for t in first.trades} == {"A"}
    assert {t[1] for t in second.trades} == {"B"}


def test_a_list_of_strategies_must_match_the_series() -> None:
    with pytest.raises(BacktestError) as caught:
        EventBacktest([Scripted()], two_series(), BacktestConfig())
    assert caught.value.field == "strategy"
