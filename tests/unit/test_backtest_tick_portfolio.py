"""The tick engine over several instruments sharing one account (`run_tick_portfolio`).

Hand-made ticks of IF2101 and IC2101 (2021-01-04, morning session) check that each instrument
keeps its own quote, stops, position and mark, and that the feeds merge in time order. Then
`sma_cross` on a real day of IF2101 ticks beside a second instrument, IF2102, which is really
IF2101's ticks of the next day (2021-01-05) moved back one day: a different price path
interleaved in time with the first, not a real IF2102 feed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from shared.backtest import (
    BacktestConfig,
    BacktestError,
    BacktestResult,
    InstrumentTerms,
    SizeRule,
    run_tick_portfolio,
    run_ticks,
)
from shared.bars import ctp_tick_frame
from shared.domain import EXCHANGE_TZ, Exchange, Instrument, Interval, Tick
from shared.strategy import (
    BarView,
    OrderUpdate,
    Strategy,
    StrategyContext,
    TradeUpdate,
    get_strategy,
)

IF2101 = Instrument(
    symbol="IF2101", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)
IC2101 = Instrument(
    symbol="IC2101", exchange=Exchange.CFFEX, product="IC", multiplier=200, price_tick=0.2
)
CASH = 1_000_000.0
DAY = date(2021, 1, 4)
# 09:31:00 local: continuous trading.
START = datetime(2021, 1, 4, 9, 31, tzinfo=EXCHANGE_TZ).astimezone(UTC)

Action = Callable[[StrategyContext], object]


def quote(
    second: float,
    last: float,
    bid: tuple[float, int],
    ask: tuple[float, int],
    volume: int = 100,
    day: int = 0,
) -> dict[str, Any]:
    """One tick row: `second` after 09:31:00 of DAY plus `day` days (and trading days)."""
    return {
        "ts": START + timedelta(days=day, seconds=second),
        "trading_day": DAY + timedelta(days=day),
        "last_price": last,
        "volume": volume,
        "turnover": 0.0,
        "open_interest": 1000.0,
        "bid_price": bid[0],
        "bid_volume": bid[1],
        "ask_price": ask[0],
        "ask_volume": ask[1],
    }


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    schema = {
        "ts": pl.Datetime("ns", "UTC"),
        "trading_day": pl.Date(),
        "last_price": pl.Float64(),
        "volume": pl.Int64(),
        "turnover": pl.Float64(),
        "open_interest": pl.Float64(),
        "bid_price": pl.Float64(),
        "bid_volume": pl.Int64(),
        "ask_price": pl.Float64(),
        "ask_volume": pl.Int64(),
    }
    return pl.DataFrame(list(rows), schema=schema)


class Scripted(Strategy):
    """Runs `script[i]` in `on_tick` of the i-th tick of the merged stream; records what it
    heard and, after each tick, the positions and equity it sees."""

    name = "scripted_portfolio"

    def __init__(self, script: dict[int, Action] | None = None) -> None:
        super().__init__()
        self.script = script or {}
        self.seen: list[tuple[str, float]] = []  # (symbol, last price) per tick
        self.positions: list[tuple[float, float]] = []  # (default, IC2101) after each tick
        self.equity: list[float] = []
        self.orders: list[tuple[str, str, str, float, float, str]] = []
        self.trades: list[tuple[str, str, float, float]] = []

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        action = self.script.get(len(self.seen))
        self.seen.append((tick.symbol, tick.last_price))
        if action is not None:
            action(ctx)
        self.positions.append((ctx.position(), ctx.position("IC2101")))
        self.equity.append(ctx.equity)

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        self.orders.append(
            (
                order.order_id,
                order.symbol,
                order.status,
                order.volume,
                order.filled,
                order.reason,
            )
        )

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        self.trades.append((trade.order_id, trade.symbol, trade.volume, trade.price))


def run(
    strategy: Strategy | Callable[[], Strategy],
    if_ticks: pl.DataFrame,
    ic_ticks: pl.DataFrame,
    *,
    size: SizeRule | None = None,
) -> BacktestResult:
    config = BacktestConfig(cash=CASH, terms=InstrumentTerms(), size=size or SizeRule())
    return run_tick_portfolio(
        strategy, [(IF2101, if_ticks), (IC2101, ic_ticks)], config, bar_interval=None
    )


# Merging, quotes and orders by symbol ------------------------------------------------------


def test_feeds_merge_in_time_order_with_feed_order_at_equal_stamps() -> None:
    strategy = Scripted()
    result = run(
        strategy,
        frame(
            quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5)),
            quote(1.0, 5000.2, (5000.0, 5), (5000.2, 5)),
        ),
        frame(
            quote(0.0, 6000.0, (5999.8, 5), (6000.2, 5)),  # same stamp as IF's first
            quote(0.5, 6000.4, (6000.2, 5), (6000.4, 5)),
        ),
    )
    assert strategy.seen == [
        ("IF2101", 5000.0),
        ("IC2101", 6000.0),
        ("IC2101", 6000.4),
        ("IF2101", 5000.2),
    ]
    assert result.symbols == ("IF2101", "IC2101")
    assert result.ts_ns.size == 3  # one sample per distinct stamp
    assert result.positions.shape == (3, 2)


def test_an_order_fills_on_its_own_instruments_quote() -> None:
    strategy = Scripted(
        {
            # IC has no tick yet: its order has no quote to meet, whatever IF shows.
            0: lambda ctx: ctx.sell(1, "IC2101"),
            # On IC's tick: IC at IC's ask; the default symbol (IF) at IF's last ask.
            1: lambda ctx: (ctx.buy(1, "IC2101"), ctx.buy(2)),
        }
    )
    result = run(
        strategy,
        frame(quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5))),
        frame(quote(0.5, 6000.0, (5999.8, 5), (6000.2, 5))),
    )
    assert strategy.orders[0][1:3] == ("IC2101", "rejected")
    assert "no tick of IC2101 yet" in strategy.orders[0][5]
    assert result.rejected_orders == 1
    assert result.fills.symbol.tolist() == [1, 0]
    assert result.fills.units.tolist() == [1.0, 2.0]
    assert result.fills.price.tolist() == [6000.2, 5000.0]
    assert [t[1] for t in strategy.trades] == ["IC2101", "IF2101"]
    assert result.positions[-1].tolist() == [2.0, 1.0]


def test_a_stop_triggers_only_from_its_own_instruments_last_price() -> None:
    strategy = Scripted(
        {
            0: lambda ctx: (
                ctx.sell(1, "IC2101", kind="stop", price=5990.0),  # IF trades far below
                ctx.buy(1, kind="stop", price=5500.0),  # IC trades far above
            ),
        }
    )
    result = run(
        strategy,
        frame(
            quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5)),
            quote(2.0, 4990.0, (4989.8, 5), (4990.0, 5), volume=110),
        ),
        frame(
            quote(1.0, 6000.0, (5999.8, 5), (6000.2, 5)),
            quote(3.0, 5990.0, (5989.6, 5), (5990.0, 5), volume=110),  # IC's trigger
        ),
    )
    assert result.fills.symbol.tolist() == [1]
    assert result.fills.units.tolist() == [-1.0]
    assert result.fills.price.tolist() == [5989.6]  # IC's bid on IC's triggering tick
    assert result.ts_ns[result.fills.bar].tolist() == [
        int((START + timedelta(seconds=3)).timestamp() * 1e9)
    ]
    # The IF stop still waits: no report of it.
    assert [o[1:3] for o in strategy.orders] == [("IC2101", "filled")]


def test_positions_and_equity_mark_each_instrument_at_its_own_last_price() -> None:
    strategy = Scripted({1: lambda ctx: (ctx.buy(2, "IF2101"), ctx.sell(1, "IC2101"))})
    result = run(
        strategy,
        frame(
            quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5)),
            quote(2.0, 5010.0, (5009.8, 5), (5010.0, 5), volume=110),
        ),
        frame(
            quote(1.0, 6000.0, (5999.8, 5), (6000.2, 5)),
            quote(2.0, 5990.0, (5989.8, 5), (5990.0, 5), volume=110),  # IF's stamp
        ),
    )
    assert strategy.positions == [(0.0, 0.0), (2.0, -1.0), (2.0, -1.0), (2.0, -1.0)]
    # IF: 2 lots bought at 5000.0; IC: 1 lot sold at 5999.8.
    at_one = CASH + 2 * (5000.0 - 5000.0) * 300 - (6000.0 - 5999.8) * 200
    # Both marks move within the stamp of 2 s: the sample keeps the state after both ticks.
    at_two = CASH + 2 * (5010.0 - 5000.0) * 300 - (5990.0 - 5999.8) * 200
    assert result.equity.tolist() == pytest.approx([CASH, at_one, at_two])
    assert strategy.equity[2] == pytest.approx(CASH + 6000.0 - 40.0)  # IC not yet moved
    assert result.positions.tolist() == [[0.0, 0.0], [2.0, -1.0], [2.0, -1.0]]
    assert {p.symbol: p.mark for p in result.open_positions} == {
        "IF2101": 5010.0,
        "IC2101": 5990.0,
    }


def test_unknown_symbols_and_inconsistent_feeds_are_errors() -> None:
    ticks = frame(quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5)))
    for call in (
        lambda ctx: ctx.buy(1, "IH2101"),
        lambda ctx: ctx.position("IH2101"),
        lambda ctx: ctx.go_long("IH2101"),
    ):
        with pytest.raises(BacktestError, match="unknown symbol 'IH2101'") as caught:
            run(Scripted({0: call}), ticks, ticks)
        assert caught.value.field == "symbol"
        assert "IF2101, IC2101" in str(caught.value)
    config = BacktestConfig(cash=CASH)
    with pytest.raises(BacktestError) as twice:
        run_tick_portfolio(Scripted(), [(IF2101, ticks), (IF2101, ticks)], config)
    assert twice.value.field == "instruments"
    with pytest.raises(BacktestError, match="IC2101: the tick frame lacks ask_volume"):
        run(Scripted(), ticks, ticks.drop("ask_volume"))
    # IC's tick is of the day before the IF tick preceding it: one account, one trading day.
    later = frame(quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5), day=1))
    earlier = frame(quote(86_400.5, 6000.0, (5999.8, 5), (6000.2, 5)))
    with pytest.raises(BacktestError) as days:
        run(Scripted(), later, earlier)
    assert days.value.field == "trading_day"


def test_a_new_trading_day_expires_every_instruments_orders_and_stale_quotes_do_not_trade() -> None:
    strategy = Scripted(
        {
            0: lambda ctx: ctx.buy(1, kind="limit", price=4990.0),
            # Day 2 opened on IC: IF's quote is yesterday's, no price to trade at.
            2: lambda ctx: ctx.buy(1),
        }
    )
    result = run(
        strategy,
        frame(
            quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5)),
            quote(5.0, 5000.0, (4999.8, 5), (5000.0, 5), volume=20, day=1),
        ),
        frame(
            quote(1.0, 6000.0, (5999.8, 5), (6000.2, 5)),
            quote(1.0, 6000.0, (5999.8, 5), (6000.2, 5), volume=20, day=1),
        ),
    )
    assert [o[:3] for o in strategy.orders] == [
        ("O1", "IF2101", "expired"),
        ("O2", "IF2101", "rejected"),
    ]
    assert "stale" in strategy.orders[1][5]
    assert len(result.fills) == 0


def test_a_factory_gives_each_feed_its_own_strategy() -> None:
    made: list[Scripted] = []

    def factory() -> Scripted:
        # Each instance buys on the first tick it hears, with no symbol: its own instrument.
        strategy = Scripted({0: lambda ctx: ctx.buy(1)})
        made.append(strategy)
        return strategy

    result = run(
        factory,
        frame(quote(0.0, 5000.0, (4999.8, 5), (5000.0, 5))),
        frame(quote(0.5, 6000.0, (5999.8, 5), (6000.2, 5))),
    )
    first, second = made
    assert [s for s, _ in first.seen] == ["IF2101"]
    assert [s for s, _ in second.seen] == ["IC2101"]
    assert [t[1] for t in first.trades] == ["IF2101"]
    assert [t[1] for t in second.trades] == ["IC2101"]
    assert result.positions[-1].tolist() == [1.0, 1.0]


# Real ticks --------------------------------------------------------------------------------

IF2102 = Instrument(
    symbol="IF2102", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)


def day_of_ticks(shared_data: Path, day: str) -> pl.DataFrame:
    """A day of IF2101 ticks with the best level's sizes (which `ctp_tick_frame` leaves out)."""
    path = shared_data / "cn_futures" / "tick" / f"CFFEX_IF2101_tick_{day}.csv"
    raw = path.read_bytes()
    sizes = pl.read_csv(io.BytesIO(raw), columns=["BidVolume1", "AskVolume1"])
    return ctp_tick_frame(raw).with_columns(
        bid_volume=sizes.get_column("BidVolume1").cast(pl.Int64),
        ask_volume=sizes.get_column("AskVolume1").cast(pl.Int64),
    )


def real_feeds(shared_data: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """IF2101 on 2021-01-04, and "IF2102": IF2101's ticks of 2021-01-05 moved back a day."""
    first = day_of_ticks(shared_data, "20210104")
    moved = day_of_ticks(shared_data, "20210105").with_columns(
        pl.col("ts") - pl.duration(days=1), pl.col("trading_day") - pl.duration(days=1)
    )
    return first, moved


class Tap(Strategy):
    """Passes every event to `inner`, counting the bars it saw per symbol."""

    name = "tap"

    def __init__(self, inner: Strategy) -> None:
        super().__init__()
        self.inner = inner
        self.bars: dict[str, int] = {}

    def on_start(self, ctx: StrategyContext) -> None:
        self.inner.on_start(ctx)

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        self.bars[bar.symbol] = self.bars.get(bar.symbol, 0) + 1
        self.inner.on_bar(ctx, bar)

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        self.inner.on_order(ctx, order)

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        self.inner.on_trade(ctx, trade)


def sma_cross(fast: int, slow: int) -> Strategy:
    definition = get_strategy("sma_cross")
    assert definition.event_class is not None
    return definition.event_class({"fast": fast, "slow": slow, "mode": "long_short"})


def real_config(size: SizeRule | None = None) -> BacktestConfig:
    terms = InstrumentTerms(margin_rate=0.12, commission_rate=0.000023)
    return BacktestConfig(cash=CASH, terms=terms, size=size or SizeRule())


def fills_of(result: BacktestResult, symbol: int) -> list[tuple[int, float, float, float]]:
    """(time, units, price, commission) of the instrument's fills: samples differ by run."""
    mine = result.fills.symbol == symbol
    return list(
        zip(
            result.ts_ns[result.fills.bar[mine]].tolist(),
            result.fills.units[mine].tolist(),
            result.fills.price[mine].tolist(),
            result.fills.commission[mine].tolist(),
            strict=True,
        )
    )


def test_a_strategy_trading_one_instrument_ignores_the_others_ticks(shared_data: Path) -> None:
    first, second = real_feeds(shared_data)
    config = real_config()
    alone = run_ticks(sma_cross(5, 20), first, IF2101, config, bar_interval=Interval.M1)
    # One sma_cross instance: its averages and orders are IF2101's (the default symbol), and
    # it hears IF2102's bars and ticks too.
    tap = Tap(sma_cross(5, 20))
    both = run_tick_portfolio(tap, [(IF2101, first), (IF2102, second)], config)

    assert tap.bars == {"IF2101": 240, "IF2102": 240}
    assert len(alone.fills) >= 4
    assert fills_of(both, 0) == fills_of(alone, 0)
    assert set(both.fills.symbol.tolist()) == {0}
    assert both.trades.table.pnl.tolist() == alone.trades.table.pnl.tolist()
    assert both.final_equity == alone.final_equity
    assert not both.positions[:, 1].any()
    stamps = pl.concat([first.get_column("ts"), second.get_column("ts")]).n_unique()
    assert both.ts_ns.size == stamps > alone.ts_ns.size
    assert bool((both.ts_ns[1:] > both.ts_ns[:-1]).all())


def test_one_strategy_per_feed_adds_up_to_the_single_feed_runs(shared_data: Path) -> None:
    first, second = real_feeds(shared_data)
    config = real_config(SizeRule(mode="units", value=1))
    a = run_ticks(sma_cross(5, 20), first, IF2101, config)
    b = run_ticks(sma_cross(10, 40), second, IF2102, config)
    made = iter([sma_cross(5, 20), sma_cross(10, 40)])
    both = run_tick_portfolio(lambda: next(made), [(IF2101, first), (IF2102, second)], config)

    assert len(a.fills) >= 4
    assert len(b.fills) >= 4
    assert fills_of(both, 0) == fills_of(a, 0)
    assert fills_of(both, 1) == fills_of(b, 0)
    assert both.final_equity == pytest.approx(a.final_equity + b.final_equity - CASH)
    assert both.metrics.total_return == pytest.approx(both.final_equity / CASH - 1)
    # Each column, at the single run's stamps, is that run's position.
    for column, alone in ((0, a), (1, b)):
        rows = np.searchsorted(both.ts_ns, alone.ts_ns)
        assert (both.ts_ns[rows] == alone.ts_ns).all()
        assert both.positions[rows, column].tolist() == alone.positions[:, 0].tolist()
    # And every sample's equity is the two runs' P&L at their latest samples.
    a_at = np.searchsorted(a.ts_ns, both.ts_ns, side="right") - 1
    b_at = np.searchsorted(b.ts_ns, both.ts_ns, side="right") - 1
    pnl_a = np.where(a_at >= 0, a.equity[np.maximum(a_at, 0)] - CASH, 0.0)
    pnl_b = np.where(b_at >= 0, b.equity[np.maximum(b_at, 0)] - CASH, 0.0)
    assert both.equity == pytest.approx(CASH + pnl_a + pnl_b)
