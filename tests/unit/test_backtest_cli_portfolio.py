"""`quant backtest run | optimize` over several series at once: a portfolio sharing one account.

Expected figures come from the engines called directly on the same files read independently
(the UTC column of the TQ files, sessions for their trading days, the shipped catalogue for
each contract's terms), so the command is checked against `run_vectorized` and `evaluate_chunk`
with per-series terms, not against itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from functions.backtest_settings import BacktestSettings, prepare, terms_for
from functions.backtests import summarize
from gateway import cli
from shared.backtest import BarSeries, InstrumentTerms, run_event_driven, run_vectorized
from shared.domain import Exchange, Instrument
from shared.instruments import ProductCatalogue, shipped_products
from shared.optimize import evaluate_chunk, objective
from shared.sessions import assign_sessions, load_calendar, load_sessions
from shared.strategy import get_strategy

AU = ("SHFE.au1912", "cn_futures/bar_1m/SHFE_au1912_1m.csv")
BU = ("SHFE.bu1912", "cn_futures/bar_1m/SHFE_bu1912_1m.csv")
PRICES = ("open", "high", "low", "close")
PARAMS = {"fast": 10, "slow": 30}
GRID = ("--range", "fast=5:15:5", "--range", "slow=20:30:10")


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


def _tq_frame(path: Path, symbol: str) -> pl.DataFrame:
    raw = pl.read_csv(path)
    start = raw["datetime_ns_utc"].cast(pl.Datetime("ns", "UTC")).alias("start")
    exchange, code = symbol.split(".")
    sessions = load_sessions().for_symbol(code, Exchange(exchange))
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


def _contract(symbol: str) -> Instrument:
    return ProductCatalogue(shipped_products()).contract(symbol)


@dataclass(frozen=True)
class Portfolio:
    series: list[BarSeries]
    instruments: list[Instrument]
    paths: list[Path]

    def args(self) -> tuple[str | Path, ...]:
        pairs = zip(self.paths, self.series, strict=True)
        return tuple(arg for path, one in pairs for arg in ("--data", path, "--symbol", one.symbol))

    def terms(self, settings: BacktestSettings) -> list[InstrumentTerms]:
        return [terms_for(settings, instrument) for instrument in self.instruments]


@pytest.fixture
def portfolio(shared_data: Path) -> Portfolio:
    pairs = (AU, BU)
    paths = [shared_data / relative for _, relative in pairs]
    series = [
        BarSeries.from_frame(_tq_frame(path, symbol), symbol)
        for (symbol, _), path in zip(pairs, paths, strict=True)
    ]
    return Portfolio(series, [_contract(symbol) for symbol, _ in pairs], paths)


def _settings(**given: Any) -> BacktestSettings:
    return msgspec.convert({"strategy": "sma_cross", **given}, BacktestSettings)


def _direct(portfolio: Portfolio, settings: BacktestSettings) -> dict[str, Any]:
    # The first series' contract gives the defaults, as in the API.
    prepared = prepare(settings, portfolio.instruments[0])
    result = run_vectorized(
        prepared.definition,
        prepared.params,
        portfolio.series,
        prepared.config,
        portfolio.terms(settings),
    )
    decoded: dict[str, Any] = json.loads(msgspec.json.encode(summarize(result)))
    return decoded


def _params(**given: int) -> tuple[str, ...]:
    return tuple(arg for name, value in given.items() for arg in ("--param", f"{name}={value}"))


def test_two_files_run_equals_run_vectorized_with_per_series_terms(
    portfolio: Portfolio, quant: Any
) -> None:
    done = quant(
        "backtest", "run", *portfolio.args(), "--strategy", "sma_cross", *_params(**PARAMS),
        "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    answer = done.json()
    expected = _direct(portfolio, _settings(params=PARAMS))
    assert answer["trades"] == expected["trades"] > 0
    assert answer["final_equity"] == expected["final_equity"]
    for name in ("sharpe", "total_return", "max_drawdown_pct", "total_commission"):
        assert answer["metrics"][name] == expected["metrics"][name], name
    assert answer == expected
    # Both series traded, each under its own name.
    assert set(answer["symbols"]) == {AU[0], BU[0]}
    assert all(count > 0 for count in answer["symbols"].values())
    # Each contract priced by its own terms: gold's terms on both series give other figures.
    gold_everywhere = Portfolio(portfolio.series, [portfolio.instruments[0]] * 2, portfolio.paths)
    assert (
        _direct(gold_everywhere, _settings(params=PARAMS))["final_equity"]
        != (answer["final_equity"])
    )


def test_the_text_table_and_the_artifacts_of_a_portfolio(
    portfolio: Portfolio, quant: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ("backtest", "run", *portfolio.args(), "--strategy", "sma_cross")
    summary = quant(*args, "--json").json()
    text = quant(*args, "--out", out)
    assert text.code == 0, text.err
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.out.splitlines())
    assert rows["trades"] == f"{summary['trades']:,d}"
    assert rows["final equity"] == f"{summary['final_equity']:,.2f}"
    assert rows[f"trades {AU[0]}"] == f"{summary['symbols'][AU[0]]:,d}"
    assert rows[f"trades {BU[0]}"] == f"{summary['symbols'][BU[0]]:,d}"
    trades = pl.read_parquet(out / "trades.parquet")
    assert trades.height == summary["trades"]
    assert sorted(p.name for p in out.iterdir()) == [
        "daily.parquet", "equity.parquet", "fills.parquet", "trades.parquet",
    ]  # fmt: skip


def test_the_event_engine_runs_the_portfolio_too(portfolio: Portfolio, quant: Any) -> None:
    done = quant(
        "backtest", "run", *portfolio.args(), "--strategy", "sma_cross", "--engine", "event",
        "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    settings = _settings(engine="event")
    prepared = prepare(settings, portfolio.instruments[0])
    event_class = prepared.definition.event_class
    assert event_class is not None
    result = run_event_driven(
        lambda: event_class(prepared.params),
        portfolio.series,
        prepared.config,
        portfolio.terms(settings),
    )
    expected = json.loads(msgspec.json.encode(summarize(result)))
    assert done.json() == expected
    assert expected["trades"] > 0


def test_files_without_symbols_are_named_by_their_stems(portfolio: Portfolio, quant: Any) -> None:
    first, second = portfolio.paths
    done = quant("backtest", "run", "--data", first, "--data", second, "--strategy", "sma_cross",
                 "--json")  # fmt: skip
    assert done.code == 0, done.err
    assert set(done.json()["symbols"]) == {first.stem, second.stem}


def test_stored_bars_of_several_symbols(portfolio: Portfolio, quant: Any) -> None:
    for path in portfolio.paths:
        imported = quant("data", "import", path)
        assert imported.code == 0, imported.err
    args = ("backtest", "run", "--strategy", "sma_cross", "--json")
    stored = quant(*args, "--symbol", AU[0], "--symbol", BU[0])
    assert stored.code == 0, stored.err
    from_files = quant(*args, *portfolio.args())
    assert stored.json() == from_files.json()
    assert set(stored.json()["symbols"]) == {AU[0], BU[0]}


def _best_of_grid(portfolio: Portfolio) -> tuple[dict[str, Any], float]:
    settings = _settings()
    prepared = prepare(settings, portfolio.instruments[0])
    grid = [
        {"fast": fast, "slow": slow, "mode": "long_only"}
        for fast in (5, 10, 15)
        for slow in (20, 30)
    ]
    evaluations = evaluate_chunk(
        get_strategy("sma_cross"),
        grid,
        portfolio.series,
        prepared.config,
        objective("sharpe"),
        terms=portfolio.terms(settings),
    )
    valued = [e for e in evaluations if e.objective is not None]
    best = max(valued, key=lambda e: e.objective or 0.0)
    assert best.objective is not None
    return dict(best.params), best.objective


@pytest.mark.parametrize(
    "workers",
    ["1", pytest.param("2", marks=pytest.mark.slow)],  # 2 spawns worker processes
)
def test_optimize_finds_the_best_of_the_portfolio(
    portfolio: Portfolio, quant: Any, workers: str
) -> None:
    done = quant(
        "backtest", "optimize", *portfolio.args(), "--strategy", "sma_cross", *GRID,
        "--workers", workers, "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    answer = done.json()
    best_params, best_value = _best_of_grid(portfolio)
    assert answer["evaluated"] == answer["total"] == 6
    assert answer["best_params"] == best_params
    assert answer["best_objective"] == best_value


@pytest.mark.parametrize("method", ["random", "genetic"])
def test_random_and_genetic_searches_over_a_portfolio(
    portfolio: Portfolio, quant: Any, method: str
) -> None:
    search = ("--method", method, "--trials", "4", "--population", "4", "--generations", "1")
    done = quant(
        "backtest", "optimize", *portfolio.args(), "--strategy", "sma_cross", *GRID, *search,
        "--seed", "3", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    answer = done.json()
    assert answer["evaluated"] >= 1
    # Whatever the search tried, its best is scored as a direct portfolio run scores it.
    direct = _direct(portfolio, _settings(params=answer["best_params"]))
    assert answer["best_objective"] == pytest.approx(direct["metrics"]["sharpe"], rel=1e-12)


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (
            "run",
            ("--data", AU[1], "--data", BU[1], "--symbol", AU[0]),
            "quant: --symbol: 1 given for 2 --data files",
        ),
        (
            "optimize",
            ("--data", AU[1], "--symbol", AU[0], "--symbol", BU[0]),
            "quant: --symbol: 2 given for 1 --data files",
        ),
        (
            "run",
            ("--data", AU[1], "--symbol", AU[0], "--data", BU[1], "--symbol", AU[0]),
            f"quant: --symbol {AU[0]} is given twice",
        ),
        ("run", ("--symbol", BU[0], "--symbol", BU[0]), f"quant: --symbol {BU[0]} is given twice"),
        ("optimize", ("--data", AU[1], "--data", AU[1]), "quant: --data {au} is given twice"),
        (
            "optimize",
            ("--data", AU[1], "--data", BU[1], "--walk-forward", "20:20"),
            "quant: --walk-forward: walk-forward runs on one series",
        ),
    ],
)
def test_portfolio_refusals_name_the_option(
    shared_data: Path, quant: Any, command: str, args: tuple[str, ...], message: str
) -> None:
    given = [shared_data / arg if arg.endswith(".csv") else arg for arg in args]
    search = GRID[:2] if command == "optimize" else ()
    done = quant("backtest", command, *given, "--strategy", "sma_cross", *search)
    assert done.code == 1
    assert done.err.startswith(message.format(au=(shared_data / AU[1]).resolve())), done.err
    assert "Traceback" not in done.err


def test_two_files_of_one_stem_need_symbols(shared_data: Path, quant: Any, tmp_path: Path) -> None:
    copies = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        copies.append(shutil.copy(shared_data / AU[1], tmp_path / folder / "bars.csv"))
    args = ("backtest", "run", "--data", copies[0], "--data", copies[1], "--strategy", "sma_cross")
    done = quant(*args)
    assert done.code == 1
    assert done.err.startswith("quant: --data: two files are named 'bars'"), done.err
    named = quant(*args, "--symbol", AU[0], "--symbol", "SHFE.au2006", "--json")
    assert named.code == 0, named.err
    assert set(named.json()["symbols"]) == {AU[0], "SHFE.au2006"}
