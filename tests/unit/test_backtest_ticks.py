"""The tick-driven engine on hand-made IF2101 ticks (2021-01-04, inside the morning session):
market orders against the displayed size, a limit order filled in part over two ticks by the
matching engine's queue rules, stops on the last price, `go_*` sizing, cancels, the equity
per tick; then `sma_cross` on 1-minute bars built from a real day of IF2101 ticks."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from shared.backtest import BacktestConfig, BacktestError, BacktestResult, InstrumentTerms, SizeRule
from shared.backtest._tick_engine import run_ticks
from shared.bars import ctp_tick_frame, ticks_to_minute_bars
from shared.domain import EXCHANGE_TZ, Exchange, Instrument, Interval, Tick, price_to_ticks
from shared.sessions import load_calendar, load_sessions
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
) -> dict[str, Any]:
    """One tick row: `second` after 09:31:00, `volume` the day's cumulative lots."""
    return {
        "ts": START + timedelta(seconds=second),
        "trading_day": DAY,
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
    """Runs `script[i]` in `on_tick` of the i-th tick; records every callback."""

    name = "scripted_ticks"

    def __init__(self, script: dict[int, Action]) -> None:
        super().__init__()
        self.script = script
        self.ticks = 0
        self.ids: list[object] = []  # what each action returned (order ids)
        self.orders: list[tuple[str, str, float, float, str]] = []
        self.trades: list[tuple[str, float, float, float]] = []
        self.equity: list[float] = []

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        action = self.script.get(self.ticks)
        if action is not None:
            self.ids.append(action(ctx))
        self.equity.append(ctx.equity)
        self.ticks += 1

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        self.orders.append((order.order_id, order.status, order.volume, order.filled, order.reason))

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        self.trades.append((trade.order_id, trade.volume, trade.price, trade.commission))


def run(
    strategy: Strategy,
    ticks: pl.DataFrame,
    *,
    terms: InstrumentTerms | None = None,
    size: SizeRule | None = None,
) -> BacktestResult:
    config = BacktestConfig(cash=CASH, terms=terms or InstrumentTerms(), size=size or SizeRule())
    return run_ticks(strategy, ticks, IF2101, config, bar_interval=None)


# Market orders -----------------------------------------------------------------------------


def test_market_buy_takes_the_displayed_ask_and_the_rest_is_cancelled() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(5), 1: lambda ctx: ctx.sell(3)})
    ticks = frame(
        quote(0, 5000.0, (5000.0, 5), (5000.2, 3)),  # only 3 offered at the ask
        quote(1, 5000.4, (5000.4, 10), (5000.6, 10)),
    )
    result = run(strategy, ticks)
    assert result.fills.units.tolist() == [3.0, -3.0]
    assert result.fills.price.tolist() == [5000.2, 5000.4]  # the ask, then the bid
    assert result.fills.bar.tolist() == [0, 1]
    (first, rest), _ = strategy.orders[:2], strategy.orders[2:]
    assert first[:4] == ("O1", "partially_filled", 5.0, 3.0)
    assert rest[:4] == ("O1", "cancelled", 5.0, 3.0)
    assert "2 left" in rest[4]
    assert strategy.trades[0] == ("O1", 3.0, 5000.2, 0.0)
    # 3 lots bought at 5000.2 and sold at 5000.4: 3 * 0.2 * 300 = 180.
    assert result.trades.table.pnl.tolist() == pytest.approx([180.0])
    assert result.final_equity == pytest.approx(CASH + 180.0)


def test_market_order_with_slippage_and_no_opposite_side() -> None:
    strategy = Scripted({0: lambda ctx: ctx.sell(1), 1: lambda ctx: ctx.buy(1)})
    no_bid = quote(0, 5000.0, (5000.0, 0), (5000.2, 4))  # nobody bids
    result = run(
        strategy,
        frame(no_bid, quote(1, 5000.0, (5000.0, 4), (5000.2, 4))),
        terms=InstrumentTerms(slippage_ticks=2),
    )
    assert strategy.orders[0][1] == "cancelled"
    assert "no bid" in strategy.orders[0][4]
    assert result.fills.price.tolist() == [5000.6]  # the ask 5000.2 + 2 ticks of 0.2


# Limit orders ------------------------------------------------------------------------------


def test_resting_limit_fills_in_part_over_two_ticks_from_the_volume_traded_at_its_price() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(5, kind="limit", price=5000.0)})
    ticks = frame(
        # The order joins the bid at 5000.0 behind the 5 lots displayed there.
        quote(0, 5000.0, (5000.0, 5), (5000.2, 3), volume=100),
        # 7 lots trade at 5000.0: 5 clear the queue ahead, 2 reach the order.
        quote(1, 5000.0, (5000.0, 2), (5000.2, 4), volume=107),
        # 4 more trade at 5000.0 with nobody ahead: the 3 lots left fill.
        quote(2, 5000.0, (5000.0, 1), (5000.2, 4), volume=111),
        # More trades at the price: nothing left to fill.
        quote(3, 5000.0, (5000.0, 1), (5000.2, 4), volume=120),
    )
    result = run(strategy, ticks)
    assert result.fills.units.tolist() == [2.0, 3.0]
    assert result.fills.price.tolist() == [5000.0, 5000.0]
    assert result.fills.bar.tolist() == [1, 2]
    assert [o[:4] for o in strategy.orders] == [
        ("O1", "partially_filled", 5.0, 2.0),
        ("O1", "filled", 5.0, 5.0),
    ]
    assert [t[1] for t in strategy.trades] == [2.0, 3.0]  # on_trade per partial fill
    assert result.positions[:, 0].tolist() == [0.0, 2.0, 5.0, 5.0]


def test_marketable_limit_takes_the_better_ask_and_rests_for_the_rest() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(3, kind="limit", price=5000.4)})
    ticks = frame(
        quote(0, 5000.0, (5000.0, 5), (5000.2, 1)),
        # The market trades down through the limit: the rest fills at the limit.
        quote(1, 5000.2, (5000.0, 5), (5000.4, 3), volume=110),
    )
    result = run(strategy, ticks)
    # 1 lot at the displayed 5000.2; then the ask stands at the limit: 2 lots there.
    assert result.fills.units.tolist() == [1.0, 2.0]
    assert result.fills.price.tolist() == [5000.2, 5000.4]


def test_limit_off_the_price_grid_is_rejected() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(1, kind="limit", price=5000.1)})
    result = run(strategy, frame(quote(0, 5000.0, (5000.0, 5), (5000.2, 5))))
    assert strategy.orders[0][1] == "rejected"
    assert "grid" in strategy.orders[0][4]
    assert result.rejected_orders == 1
    assert len(result.fills) == 0


def test_cancelled_limit_does_not_fill_when_the_market_trades_through_it() -> None:
    strategy = Scripted(
        {
            0: lambda ctx: ctx.buy(2, kind="limit", price=4999.0),
            1: lambda ctx: ctx.cancel("O1"),
            2: lambda ctx: ctx.cancel("O1"),  # again: nothing left to cancel, no report
        }
    )
    ticks = frame(
        quote(0, 5000.0, (4999.8, 5), (5000.0, 5)),
        quote(1, 5000.0, (4999.8, 5), (5000.0, 5)),
        quote(2, 4998.0, (4997.8, 5), (4998.0, 5), volume=150),  # through 4999.0
    )
    result = run(strategy, ticks)
    assert [o[:4] for o in strategy.orders] == [("O1", "cancelled", 2.0, 0.0)]
    assert len(result.fills) == 0


def test_day_orders_expire_when_the_trading_day_changes() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(1, kind="limit", price=4990.0)})
    next_day = quote(0, 5000.0, (4999.8, 5), (5000.0, 5)) | {
        "ts": START + timedelta(days=1),
        "trading_day": date(2021, 1, 5),
        "volume": 10,
    }
    run(strategy, frame(quote(0, 5000.0, (4999.8, 5), (5000.0, 5)), next_day))
    assert [o[:2] for o in strategy.orders] == [("O1", "expired")]


# Stop orders -------------------------------------------------------------------------------


def test_sell_stop_triggers_on_the_last_price_and_fills_at_the_bid() -> None:
    strategy = Scripted(
        {0: lambda ctx: (ctx.buy(2), ctx.sell(2, kind="stop", price=4999.0))},
    )
    ticks = frame(
        quote(0, 5000.0, (4999.8, 5), (5000.0, 5)),
        # The bid touches the trigger but the last price does not: nothing happens.
        quote(1, 4999.4, (4999.0, 5), (4999.4, 5), volume=101),
        quote(2, 4999.0, (4998.6, 5), (4999.0, 5), volume=102),
        quote(3, 4990.0, (4989.8, 5), (4990.0, 5), volume=103),
    )
    result = run(strategy, ticks)
    assert result.fills.units.tolist() == [2.0, -2.0]
    assert result.fills.bar.tolist() == [0, 2]
    assert result.fills.price.tolist() == [5000.0, 4998.6]
    # 2 * (4998.6 - 5000.0) * 300
    assert result.trades.table.pnl.tolist() == pytest.approx([-840.0])
    assert strategy.orders[-1][:4] == ("O2", "filled", -2.0, -2.0)


def test_bad_prints_and_ticks_after_the_close_trigger_no_stop() -> None:
    strategy = Scripted({0: lambda ctx: ctx.sell(1, kind="stop", price=4999.0)})
    after_close = quote(0, 4990.0, (4989.8, 5), (4990.0, 5), volume=130) | {
        "ts": datetime(2021, 1, 4, 15, 10, tzinfo=EXCHANGE_TZ).astimezone(UTC)
    }
    ticks = frame(
        quote(0, 5000.0, (4999.8, 5), (5000.0, 5)),
        quote(1, 0.0, (4999.8, 5), (5000.0, 5), volume=110),
        quote(2, math.nan, (4999.8, 5), (5000.0, 5), volume=120),
        after_close,
    )
    result = run(strategy, ticks)
    assert len(result.fills) == 0
    assert strategy.orders == []  # still waiting for its trigger


def test_buy_stop_waits_for_the_next_tick_and_can_be_cancelled() -> None:
    strategy = Scripted(
        {
            0: lambda ctx: (
                ctx.buy(1, kind="stop", price=5000.0),  # the last is there already
                ctx.buy(1, kind="stop", price=5001.0),
            ),
            1: lambda ctx: ctx.cancel("O2"),
        }
    )
    ticks = frame(
        quote(0, 5000.0, (4999.8, 5), (5000.0, 5)),
        quote(1, 5000.0, (4999.8, 5), (5000.2, 5)),
        quote(2, 5002.0, (5001.8, 5), (5002.0, 5), volume=120),
    )
    result = run(strategy, ticks)
    # O1 is checked from the tick after it was placed; O2 was cancelled before 5001 traded.
    assert result.fills.bar.tolist() == [1]
    assert result.fills.price.tolist() == [5000.2]
    assert ("O2", "cancelled", 1.0, 0.0, "cancelled before its trigger") in strategy.orders


# Intents and equity ------------------------------------------------------------------------


def test_go_long_is_sized_at_the_ask_when_sent_and_go_short_reverses() -> None:
    strategy = Scripted({0: lambda ctx: ctx.go_long(), 1: lambda ctx: ctx.go_short()})
    ticks = frame(
        quote(0, 5000.0, (4999.8, 100), (5000.0, 100)),
        quote(1, 5010.0, (5010.0, 100), (5010.2, 100), volume=200),
    )
    terms = InstrumentTerms(margin_rate=0.12, commission_per_unit=2.0)
    result = run(strategy, ticks, terms=terms, size=SizeRule(mode="equity", value=1.0))
    # A lot's cost at the ask: 5000.0 * 300 * 0.12 + 2.0 = 180_002: floor(1e6 / 180_002) = 5.
    # The reversal sells 5 at the bid 5010.0 (gross 5 * 10 * 300 = 15_000), then sizes the
    # short from equity 1e6 - 10 - 10 + 15_000 = 1_014_980 at 5010.0 * 300 * 0.12 + 2 =
    # 180_362 a lot: floor(5.627...) = 5.
    assert result.fills.units.tolist() == [5.0, -5.0, -5.0]
    assert result.fills.price.tolist() == [5000.0, 5010.0, 5010.0]
    assert [t[0] for t in strategy.trades] == ["O1", "O2", "O3"]
    assert result.positions[:, 0].tolist() == [5.0, -5.0]
    assert result.final_equity == pytest.approx(CASH - 10.0 - 10.0 + 15_000.0 - 10.0)


def test_go_long_fills_what_is_displayed() -> None:
    strategy = Scripted({0: lambda ctx: ctx.go_long(), 1: lambda ctx: ctx.go_long()})
    ticks = frame(
        quote(0, 5000.0, (4999.8, 100), (5000.0, 2)),
        quote(1, 5000.0, (4999.8, 100), (5000.0, 100)),
    )
    terms = InstrumentTerms(margin_rate=0.12)
    result = run(strategy, ticks, terms=terms, size=SizeRule(mode="units", value=3))
    # 2 of 3 fill; the intent is not retried: already long, the second go_long does nothing.
    assert result.fills.units.tolist() == [2.0]
    assert strategy.orders[-1][:2] == ("O1", "cancelled")


def test_equity_per_tick_keeps_the_last_tick_of_a_timestamp() -> None:
    strategy = Scripted({0: lambda ctx: ctx.buy(2)})
    ticks = frame(
        quote(0.0, 5000.0, (5000.0, 5), (5000.2, 5)),
        quote(0.5, 5000.6, (5000.4, 5), (5000.6, 5), volume=110),
        quote(0.5, 4999.8, (4999.6, 5), (4999.8, 5), volume=120),  # same stamp
        quote(1.0, 5001.0, (5000.8, 5), (5001.0, 5), volume=130),
    )
    result = run(strategy, ticks, terms=InstrumentTerms(commission_per_unit=1.0))
    cash = CASH - 2.0  # 2 lots at 5000.2, 1.0 a lot
    expected = [
        cash + 2 * (5000.0 - 5000.2) * 300,  # 999_878
        cash + 2 * (4999.8 - 5000.2) * 300,  # the later tick at 0.5 s: 999_758
        cash + 2 * (5001.0 - 5000.2) * 300,  # 1_000_478
    ]
    assert result.equity.tolist() == pytest.approx(expected)
    assert strategy.equity == pytest.approx([expected[0], cash + 240.0, *expected[1:]])
    assert result.ts_ns.size == 3
    assert bool((result.ts_ns[1:] > result.ts_ns[:-1]).all())
    assert result.positions[:, 0].tolist() == [2.0, 2.0, 2.0]


def test_orders_before_the_first_tick_are_rejected_and_errors_are_reported() -> None:
    class EarlyBird(Strategy):
        name = "early"

        def on_start(self, ctx: StrategyContext) -> None:
            ctx.buy(1)

    result = run(EarlyBird(), frame(quote(0, 5000.0, (4999.8, 5), (5000.0, 5))))
    assert result.rejected_orders == 1
    with pytest.raises(BacktestError) as missing:
        run(Scripted({}), frame(quote(0, 5000.0, (4999.8, 5), (5000.0, 5))).drop("ask_volume"))
    assert missing.value.field == "ticks"
    wrong = Scripted({0: lambda ctx: ctx.buy(1, "IF2102")})
    with pytest.raises(BacktestError, match="unknown symbol"):
        run(wrong, frame(quote(0, 5000.0, (4999.8, 5), (5000.0, 5))))


# Real ticks --------------------------------------------------------------------------------


def if_ticks(shared_data: Path) -> pl.DataFrame:
    """A day of IF2101 ticks with the best level's sizes (which `ctp_tick_frame` leaves out)."""
    raw = (shared_data / "cn_futures" / "tick" / "CFFEX_IF2101_tick_20210104.csv").read_bytes()
    sizes = pl.read_csv(io.BytesIO(raw), columns=["BidVolume1", "AskVolume1"])
    return ctp_tick_frame(raw).with_columns(
        bid_volume=sizes.get_column("BidVolume1").cast(pl.Int64),
        ask_volume=sizes.get_column("AskVolume1").cast(pl.Int64),
    )


class Tap(Strategy):
    """Passes every event to `inner`, keeping the bars it saw."""

    name = "tap"

    def __init__(self, inner: Strategy) -> None:
        super().__init__()
        self.inner = inner
        self.bars: list[tuple[int, float, float, float, float, float]] = []

    def on_start(self, ctx: StrategyContext) -> None:
        self.inner.on_start(ctx)

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        self.bars.append((bar.ts_ns, bar.open, bar.high, bar.low, bar.close, bar.volume))
        self.inner.on_bar(ctx, bar)

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        self.inner.on_tick(ctx, tick)

    def on_order(self, ctx: StrategyContext, order: OrderUpdate) -> None:
        self.inner.on_order(ctx, order)

    def on_trade(self, ctx: StrategyContext, trade: TradeUpdate) -> None:
        self.inner.on_trade(ctx, trade)

    def on_stop(self, ctx: StrategyContext) -> None:
        self.inner.on_stop(ctx)


def test_sma_cross_on_minute_bars_built_from_real_ticks(shared_data: Path) -> None:
    ticks = if_ticks(shared_data)
    definition = get_strategy("sma_cross")
    assert definition.event_class is not None
    inner = definition.event_class({"fast": 5, "slow": 20, "mode": "long_short"})
    strategy = Tap(inner)
    terms = InstrumentTerms(margin_rate=0.12, commission_rate=0.000023)
    config = BacktestConfig(cash=CASH, terms=terms)
    result = run_ticks(strategy, ticks, IF2101, config, bar_interval=Interval.M1)

    # The bars on_bar saw are the batch bars of the same ticks.
    batch, _ = ticks_to_minute_bars(ticks, load_sessions().for_product("IF"), load_calendar())
    assert len(strategy.bars) == batch.height == 240
    expected = batch.select(
        pl.col("start").dt.epoch("ns"), "open", "high", "low", "close", "volume"
    ).rows()
    assert [bar[0] for bar in strategy.bars] == [row[0] for row in expected]
    for got, want in zip(strategy.bars, expected, strict=True):
        assert got[1:] == pytest.approx(want[1:])

    fills = result.fills_frame()
    assert fills.height >= 4
    # Every fill is a market order of the strategy: on the grid, at the quote of its moment.
    quotes = ticks.select(pl.col("ts").dt.epoch("ns").alias("ts_ns"), "bid_price", "ask_price")
    by_stamp: dict[int, list[tuple[float, float]]] = {}
    for ts_ns, bid, ask in quotes.iter_rows():
        by_stamp.setdefault(ts_ns, []).append((bid, ask))
    for ts_ns, units, price in zip(
        result.ts_ns[result.fills.bar], result.fills.units, result.fills.price, strict=True
    ):
        level = price_to_ticks(price, 0.2)
        assert math.isclose(level * 0.2, price, abs_tol=1e-6)
        quoted = [price_to_ticks(ask if units > 0 else bid, 0.2) for bid, ask in by_stamp[ts_ns]]
        assert level in quoted, (ts_ns, units, price)

    # The books: final equity = cash + realized + open P&L, all from the fills.
    commissions = float(result.fills.commission.sum())
    flows = float((-result.fills.units * result.fills.price).sum()) * 300
    held = float(result.fills.units.sum())
    last = float(ticks.get_column("last_price")[-1])
    assert result.final_equity == pytest.approx(CASH + flows - commissions + held * last * 300)
    realized = float(result.trades.table.pnl.sum())  # net of the closed trades' commissions
    unattributed = commissions - float(result.trades.table.commission.sum())
    open_pnl = sum(p.units * (p.mark - p.entry_price) * 300 for p in result.open_positions)
    assert result.final_equity == pytest.approx(CASH + realized - unattributed + open_pnl)
    assert result.positions[-1, 0] == held
    assert result.metrics.total_return == pytest.approx(result.final_equity / CASH - 1)
