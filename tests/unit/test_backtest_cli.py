"""`quant backtest run | optimize | strategies` on real bars, through the CLI's entry point.

Expected figures are computed here from the same files read independently (the UTC column of
the TQ file, sessions for its trading days, the shipped catalogue for its terms) and run
through `run_frame`, so the command is checked against the code the API runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from functions.backtest_settings import BacktestSettings, prepare
from functions.backtests import run_frame, summarize
from gateway import cli
from gateway.backtest_commands import stop_on_interrupt
from shared.domain import Exchange
from shared.instruments import ProductCatalogue, shipped_products
from shared.optimize import windows
from shared.sessions import assign_sessions, load_calendar, load_sessions

RB2002 = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"
GOOG = "backtesting_py/GOOG.csv"
PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def quant(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Any:
    # Nothing of the developer's environment: an embedded SQLite under tmp_path if any.
    for name in [n for n in os.environ if n.startswith("QUANT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("QUANT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/quant.db")

    def call(*args: str | Path) -> Done:
        monkeypatch.setattr(sys, "argv", ["quant", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        captured = capsys.readouterr()
        return Done(int(exit_info.value.code or 0), captured.out, captured.err)

    return call


def _rb2002_frame(path: Path) -> pl.DataFrame:
    raw = pl.read_csv(path)
    start = raw["datetime_ns_utc"].cast(pl.Datetime("ns", "UTC")).alias("start")
    sessions = load_sessions().for_symbol("rb2002", Exchange.SHFE)
    days = assign_sessions(sessions, load_calendar(), start).to_polars()["trading_day"]
    return pl.DataFrame(
        {
            "start": start,
            "trading_day": days,
            **{name: raw[name].cast(pl.Float64) for name in PRICES},
            "volume": raw["volume"].cast(pl.Float64),
            "open_interest": raw["close_oi"].cast(pl.Float64),
        }
    )


def _goog_frame(path: Path) -> pl.DataFrame:
    raw = pl.read_csv(path, infer_schema_length=0)
    days = raw[""].str.to_date("%Y-%m-%d")
    # Naive file times are exchange-local by default: midnight in Shanghai.
    start = days.cast(pl.Datetime("us")).dt.replace_time_zone("Asia/Shanghai")
    return pl.DataFrame(
        {
            "start": start.dt.convert_time_zone("UTC"),
            "trading_day": days,
            **{name: raw[name.title()].cast(pl.Float64) for name in PRICES},
            "volume": raw["Volume"].cast(pl.Float64),
        }
    )


def _expected(frame: pl.DataFrame, symbol: str, **settings: Any) -> dict[str, Any]:
    instrument = None
    if "." in symbol:
        instrument = ProductCatalogue(shipped_products()).contract(symbol)
    prepared = prepare(msgspec.convert(settings, BacktestSettings), instrument)
    summary = summarize(run_frame(prepared, frame, symbol))
    decoded: dict[str, Any] = json.loads(msgspec.json.encode(summary))
    return decoded


def test_rb2002_with_its_symbol_equals_run_frame(shared_data: Path, quant: Any) -> None:
    path = shared_data / RB2002
    done = quant(
        "backtest", "run", "--data", path, "--symbol", "SHFE.rb2002", "--strategy", "sma_cross",
        "--param", "fast=5", "--param", "slow=20", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    expected = _expected(
        _rb2002_frame(path), "SHFE.rb2002", strategy="sma_cross", params={"fast": 5, "slow": 20}
    )
    answer = done.json()
    assert answer["trades"] == expected["trades"] > 0
    assert answer["final_equity"] == expected["final_equity"]
    assert answer == expected
    # The catalogue's rebar terms applied: commission was charged on every fill.
    assert answer["metrics"]["total_commission"] > 0


def test_goog_without_a_symbol_equals_run_frame(shared_data: Path, quant: Any) -> None:
    path = shared_data / GOOG
    done = quant(
        "backtest", "run", "--data", path, "--strategy", "sma_cross", "--param", "fast=10",
        "--param", "slow=40", "--param", "mode=long_short", "--commission", "0.001",
        "--size", "equity:0.5", "--fill", "close", "--cash", "100000", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    expected = _expected(
        _goog_frame(path),
        "GOOG",
        strategy="sma_cross",
        params={"fast": 10, "slow": 40, "mode": "long_short"},
        commission=0.001,
        size="equity:0.5",
        fill="close",
        cash=100_000.0,
    )
    assert done.json() == expected
    assert expected["metrics"]["trading_day_count"] == pl.read_csv(path).height


def test_the_text_table_and_the_event_engine(shared_data: Path, quant: Any) -> None:
    args = ("--data", shared_data / RB2002, "--symbol", "SHFE.rb2002", "--strategy", "sma_cross")
    vectorized = quant("backtest", "run", *args, "--json").json()
    event = quant("backtest", "run", *args, "--engine", "event", "--json").json()
    assert event["trades"] == vectorized["trades"]
    assert event["final_equity"] == pytest.approx(vectorized["final_equity"], rel=1e-12)
    text = quant("backtest", "run", *args)
    assert text.code == 0, text.err
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.out.splitlines())
    assert rows["trades"] == f"{vectorized['trades']:,d}"
    assert rows["final equity"] == f"{vectorized['final_equity']:,.2f}"
    assert rows["win rate"].endswith("%")


def test_out_writes_the_artifacts(shared_data: Path, quant: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = quant(
        "backtest", "run", "--data", shared_data / GOOG, "--strategy", "sma_cross",
        "--out", out, "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert sorted(p.name for p in out.iterdir()) == [
        "daily.parquet", "equity.parquet", "fills.parquet", "trades.parquet",
    ]  # fmt: skip
    assert pl.read_parquet(out / "trades.parquet").height == done.json()["trades"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--strategy", "sma_crss"),
            "quant: strategy: unknown strategy 'sma_crss'; did you mean sma_cross?",
        ),
        (
            ("--strategy", "sma_cross", "--param", "fast=0"),
            "quant: params.fast: sma_cross: `fast` must be >= 1, got 0",
        ),
        (
            ("--strategy", "sma_cross", "--param", "fast=40", "--param", "slow=20"),
            "quant: params: sma_cross: parameters must satisfy fast < slow",
        ),
        (
            ("--strategy", "sma_cross", "--param", "speed=3"),
            "quant: params.speed: sma_cross: unknown parameter `speed`",
        ),
        (
            ("--strategy", "sma_cross", "--size", "lots:2"),
            "quant: size: size is units:N or equity:F, got 'lots:2'",
        ),
        (("--strategy", "sma_cross", "--cash", "0"), "quant: cash: Expected `float` > 0"),
    ],
)
def test_refusals_name_the_culprit(
    shared_data: Path, quant: Any, args: tuple[str, ...], message: str
) -> None:
    done = quant("backtest", "run", "--data", shared_data / GOOG, *args)
    assert done.code == 1
    assert done.err.startswith(message), done.err
    assert "Traceback" not in done.err


def test_stored_bars_and_an_empty_range(shared_data: Path, quant: Any) -> None:
    path = shared_data / RB2002
    imported = quant("data", "import", path)
    assert imported.code == 0, imported.err
    args = ("backtest", "run", "--strategy", "sma_cross", "--json")
    stored = quant(*args, "--symbol", "SHFE.rb2002")
    assert stored.code == 0, stored.err
    # The file has no auction bars to merge: the store holds the file's bars exactly.
    from_file = quant(*args, "--data", path, "--symbol", "SHFE.rb2002")
    assert stored.json() == from_file.json()

    empty = quant(*args, "--symbol", "SHFE.rb2002", "--start", "2030-01-01", "--end", "2030-02-01")
    assert empty.code == 1
    assert empty.err == "quant: no 1m bars of SHFE.rb2002 stored from 2030-01-01 to 2030-02-01\n"


def test_strategies_lists_parameters_and_bounds(quant: Any) -> None:
    done = quant("backtest", "strategies")
    assert done.code == 0, done.err
    assert "  fast\tint\tdefault 10\t[1, 10000]\tbars in the fast average" in done.out
    assert "  rule: fast < slow" in done.out
    assert {"sma_cross", "donchian_breakout", "rsi_reversion", "dual_thrust"} <= {
        line.split("\t")[0] for line in done.out.splitlines() if not line.startswith(" ")
    }


GRID = (
    "--range",
    "fast=5:15:5",
    "--range",
    "slow=20:30:10",
    "--range",
    "mode=long_only,long_short",
)


def test_a_grid_finds_the_best_of_every_point(shared_data: Path, quant: Any) -> None:
    path = shared_data / GOOG
    done = quant(
        "backtest", "optimize", "--data", path, "--strategy", "sma_cross", *GRID,
        "--heatmap", "fast,slow", "--top", "3", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    frame = _goog_frame(path)
    sharpe = {}
    for fast in (5, 10, 15):
        for slow in (20, 30):
            for mode in ("long_only", "long_short"):
                params = {"fast": fast, "slow": slow, "mode": mode}
                summary = _expected(frame, "GOOG", strategy="sma_cross", params=params)
                sharpe[(fast, slow, mode)] = summary["metrics"]["sharpe"]
    ranked = sorted(sharpe.items(), key=lambda item: item[1], reverse=True)
    answer = done.json()
    assert answer["evaluated"] == answer["total"] == len(sharpe)
    best = ranked[0][0]
    assert answer["best_params"] == {"fast": best[0], "slow": best[1], "mode": best[2]}
    assert answer["best_objective"] == ranked[0][1]
    assert [entry["objective"] for entry in answer["top"]] == [v for _, v in ranked[:3]]
    heatmap = answer["heatmap"]
    assert (heatmap["x"], heatmap["y"]) == ([5, 10, 15], [20, 30])
    assert heatmap["z"][0][0] == max(sharpe[(5, 20, m)] for m in ("long_only", "long_short"))
    # Not a terminal: the progress comes as plain lines on stderr, up to every run.
    assert f"runs: {len(sharpe)}/{len(sharpe)} (100%)" in done.err


@pytest.mark.slow  # spawns worker processes
def test_workers_give_the_same_result_as_one_process(shared_data: Path, quant: Any) -> None:
    args = ("backtest", "optimize", "--data", shared_data / GOOG, "--strategy", "sma_cross")
    one = quant(*args, *GRID, "--objective", "cagr", "--json")
    two = quant(*args, *GRID, "--objective", "cagr", "--json", "--workers", "2")
    assert one.code == two.code == 0, two.err
    assert two.json() == one.json()


def test_random_and_genetic_searches_are_reproducible(shared_data: Path, quant: Any) -> None:
    args = ("backtest", "optimize", "--data", shared_data / GOOG, "--strategy", "sma_cross")
    space = ("--range", "fast=2:30", "--range", "slow=10:80:5", "--seed", "7", "--json")
    random = quant(*args, *space, "--method", "random", "--trials", "12").json()
    assert random["evaluated"] == 12
    assert random == quant(*args, *space, "--method", "random", "--trials", "12").json()
    genetic = ("--method", "genetic", "--population", "6", "--generations", "2")
    drawdown = quant(*args, *space, *genetic, "--objective", "max_drawdown_pct").json()
    assert drawdown["maximize"] is False  # lower is better for a drawdown
    values = [entry["objective"] for entry in drawdown["top"]]
    assert values == sorted(values)


def test_walk_forward_prints_its_windows(shared_data: Path, quant: Any) -> None:
    path = shared_data / GOOG
    done = quant(
        "backtest", "optimize", "--data", path, "--strategy", "sma_cross", *GRID,
        "--walk-forward", "250:250",
    )  # fmt: skip
    assert done.code == 0, done.err
    days = _goog_frame(path)["trading_day"].cast(pl.Int32).to_numpy()
    planned = windows(days, 250, 250)
    rows = [line.split("\t") for line in done.out.splitlines() if line[:1].isdigit()]
    assert [int(row[0]) for row in rows] == list(range(1, len(planned) + 1))
    assert rows[0][1] == "2004-08-19.." + str(_goog_frame(path)["trading_day"][249])
    assert "out of sample: final equity" in done.out
    assert f"windows: {len(planned)}/{len(planned)} (100%)" in done.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--range", "fst=5:20"), "quant: params.fst: unknown parameter `fst`"),
        (("--range", "fast=0:20"), "quant: params.fast: `fast` must be >= 1, got 0"),
        (("--range", "fast=5:x"), "quant: --range 'fast=5:x': 'x' is not a number"),
        (("--objective", "sharp"), "quant: objective: unknown objective 'sharp'"),
        (("--range", "fast=5:9", "--heatmap", "fast,slow"), "quant: --heatmap: `slow` does not"),
        (("--range", "fast=5:9", "--walk-forward", "250"), "quant: --walk-forward '250': write"),
    ],
)
def test_optimize_refusals_name_the_culprit(
    shared_data: Path, quant: Any, args: tuple[str, ...], message: str
) -> None:
    base = ("backtest", "optimize", "--data", shared_data / GOOG, "--strategy", "sma_cross")
    done = quant(*base, *args)
    assert done.code == 1
    assert done.err.startswith(message), done.err


def test_the_first_ctrl_c_asks_the_search_to_stop() -> None:
    with stop_on_interrupt() as stopped:
        assert not stopped()
        signal.raise_signal(signal.SIGINT)
        assert stopped()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
