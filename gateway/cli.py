"""``quant``: serve the gateway, migrate the database, manage users, import market data,
run backtests."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.data_commands import (
    DataCommandError,
    ImportOptions,
    export_file,
    import_file,
    parse_mapping,
)
from shared.config import Settings, SettingsError, load_settings
from shared.domain import EXCHANGE_TZ, Interval
from shared.memory_reuse import reuse_freed_memory
from shared.store import (
    Role,
    UserExistsError,
    UserRepository,
    create_engine,
    migrate,
    session_factory,
)


class CliError(Exception):
    """Reported as one line on stderr with exit status 1."""


class CannotStartError(Exception):
    """What the server needs is missing: one line on stderr, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (settings from QUANT_* / .env)")
    serve.add_argument("--host", help="override QUANT_HOST")
    serve.add_argument("--port", type=int, help="override QUANT_PORT")

    db = commands.add_parser("db", help="database schema migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate up (default: to the newest)")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = db_commands.add_parser("downgrade", help="migrate down to REVISION ('base': empty)")
    downgrade.add_argument("revision")
    db_commands.add_parser("current", help="print the schema revision of the database")

    user = commands.add_parser("user", help="user accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create a user")
    create.add_argument("username", help="3-64 letters, digits, dots, underscores or dashes")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER.value)
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_commands.add_parser("list", help="list users")
    _data_parser(commands)
    _indicators_parser(commands)
    _backtest_parser(commands)
    return parser


def _bar_options(command: argparse.ArgumentParser) -> None:
    data = command.add_argument_group(
        "bars: files, or stored bars of --symbol (several series form a portfolio)"
    )
    data.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="CSV or Parquet bar file (else the database); repeat for a portfolio, one per series",
    )
    data.add_argument(
        "--symbol",
        action="append",
        default=[],
        help="EXCHANGE.code: stored bars, or a file's trading days (sessions) and contract terms; "
        "repeat for a portfolio (with --data: one per file, in the files' order)",
    )
    data.add_argument("--interval", choices=[i.value for i in Interval], default="1m")
    data.add_argument("--start", help="stored bars: ISO time (naive: exchange-local), inclusive")
    data.add_argument("--end", help="stored bars: ISO time (naive: exchange-local), exclusive")
    data.add_argument("--timezone", default=str(EXCHANGE_TZ), help="zone of naive file times")
    data.add_argument("--map", action="append", default=[], metavar="COLUMN=field")


def _convention_options(command: argparse.ArgumentParser) -> None:
    terms = command.add_argument_group("conventions (contract terms default to the catalogue's)")
    terms.add_argument("--strategy", required=True, help="see `quant backtest strategies`")
    terms.add_argument("--cash", type=float)
    terms.add_argument("--fill", choices=["next_open", "close"])
    terms.add_argument("--size", metavar="units:N|equity:F", help="default units:1")
    terms.add_argument("--commission", type=float, help="fraction of turnover")
    terms.add_argument("--commission-per-unit", type=float)
    terms.add_argument("--close-today-commission", type=float)
    terms.add_argument("--close-today-commission-per-unit", type=float)
    terms.add_argument("--multiplier", type=float)
    terms.add_argument("--margin", type=float, help="margin rate, e.g. 0.1")
    terms.add_argument("--price-tick", type=float)
    terms.add_argument("--slippage-ticks", type=float)
    terms.add_argument("--periods-per-year", type=int)
    terms.add_argument("--risk-free-rate", type=float)
    terms.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="repeat for more"
    )
    command.add_argument("--json", action="store_true", help="JSON instead of a text table")


def _backtest_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backtest = commands.add_parser("backtest", help="backtests and parameter searches")
    subcommands = backtest.add_subparsers(dest="backtest_command", required=True)
    subcommands.add_parser("strategies", help="the built-in strategies and their parameters")
    run = subcommands.add_parser("run", help="one backtest: trades, final equity, metrics")
    _bar_options(run)
    _convention_options(run)
    run.add_argument("--engine", choices=["vectorized", "event"], default="vectorized")
    run.add_argument("--out", type=Path, help="write equity/trades/fills/daily Parquet here")
    search = subcommands.add_parser("optimize", help="search parameters for the best objective")
    _bar_options(search)
    _convention_options(search)
    search.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="NAME=MIN:MAX[:STEP]|NAME=A,B",
        help="a parameter to vary (repeat for more)",
    )
    search.add_argument("--method", choices=["grid", "random", "genetic"], default="grid")
    search.add_argument("--trials", type=int, default=100, help="random: parameter sets")
    search.add_argument("--population", type=int, default=30, help="genetic")
    search.add_argument("--generations", type=int, default=10, help="genetic")
    search.add_argument("--seed", type=int, default=0, help="random and genetic")
    search.add_argument("--objective", default="sharpe", help="a metric name, e.g. cagr")
    search.add_argument("--minimize", action="store_true", help="lower objective is better")
    search.add_argument("--top", type=int, default=10, help="rows in the ranking")
    search.add_argument("--heatmap", metavar="X,Y", help="best objective per pair of values")
    search.add_argument("--workers", type=int, default=1, help="processes running backtests")
    search.add_argument(
        "--walk-forward", metavar="TRAIN_DAYS:TEST_DAYS[:anchored]", help="walk-forward analysis"
    )


def _indicators_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    indicators = commands.add_parser("indicators", help="technical indicators over bar files")
    subcommands = indicators.add_subparsers(dest="indicators_command", required=True)
    compute = subcommands.add_parser(
        "compute", help="compute catalogue indicators over a CSV or Parquet OHLCV file"
    )
    compute.add_argument("--data", type=Path, required=True, help="CSV or Parquet bar file")
    compute.add_argument(
        "--indicator",
        action="append",
        default=[],
        metavar="NAME[:param=value,...]",
        help="e.g. macd:fastperiod=5,slowperiod=35 (repeat for more; id=NAME names the output)",
    )
    compute.add_argument(
        "--formula",
        action="append",
        default=[],
        metavar="ID=EXPRESSION",
        help='a formula, e.g. "spread=ema(close, 12) - ema(close, 26)" (repeat for more)',
    )
    compute.add_argument("--format", choices=["json", "csv"], default="json")
    compute.add_argument("--out", type=Path, help="write here instead of standard output")
    compute.add_argument(
        "--symbol", help="EXCHANGE.code: trading days from its sessions (for VWAP and the like)"
    )
    compute.add_argument("--timezone", default=str(EXCHANGE_TZ), help="zone of naive file times")
    compute.add_argument("--map", action="append", default=[], metavar="COLUMN=field")
    listing = subcommands.add_parser("list", help="the catalogue: name, group, defaults, outputs")
    listing.add_argument("--group", help='only this group, e.g. "Overlap Studies"')


def _data_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = commands.add_parser("data", help="market data files in and out of the database")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    intervals = [i.value for i in Interval]
    load = data_commands.add_parser("import", help="import bars or ticks from CSV or Parquet")
    load.add_argument("path", type=Path)
    load.add_argument("--kind", choices=["bars", "ticks"], help="default: ticks for CTP files")
    load.add_argument("--symbol", help="EXCHANGE.code for every row (else the file's column)")
    load.add_argument("--interval", choices=intervals, default="1m")
    load.add_argument("--timezone", default=str(EXCHANGE_TZ), help="zone of naive file times")
    load.add_argument("--map", action="append", default=[], metavar="COLUMN=field")
    load.add_argument("--time-label", choices=["start", "end"], default="start")
    dump = data_commands.add_parser("export", help="export stored bars or ticks to Parquet")
    dump.add_argument("--kind", choices=["bars", "ticks"], default="bars")
    dump.add_argument("--symbol", required=True, help="EXCHANGE.code, e.g. SHFE.au1912")
    dump.add_argument("--interval", choices=intervals, default="1m")
    dump.add_argument("--start", help="ISO time (naive: exchange-local), inclusive")
    dump.add_argument("--end", help="ISO time (naive: exchange-local), exclusive")
    dump.add_argument("--out", type=Path, required=True)


def _read_password(from_stdin: bool) -> str:
    from gateway.auth.passwords import WeakPasswordError, check_password_policy  # noqa: PLC0415

    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CliError("the passwords do not match")
    try:
        check_password_policy(password)
    except WeakPasswordError as exc:
        raise CliError(str(exc)) from None
    return password


async def _create_user(settings: Settings, username: str, role: Role, password: str) -> int:
    from gateway.auth.passwords import hash_password  # noqa: PLC0415

    engine = create_engine(settings.database_url)
    try:
        users = UserRepository(session_factory(engine))
        try:
            record = await users.create(username, hash_password(password), role)
        except UserExistsError:
            raise CliError(f"user {username!r} exists already") from None
        return record.id
    finally:
        await engine.dispose()


async def _list_users(settings: Settings) -> list[str]:
    engine = create_engine(settings.database_url)
    try:
        users = await UserRepository(session_factory(engine)).list_users()
    finally:
        await engine.dispose()
    return [
        f"{u.id}\t{u.username}\t{u.role}\t{'active' if u.is_active else 'disabled'}" for u in users
    ]


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn  # noqa: PLC0415  (only this command needs the server)

    from gateway.venues import VenueNotAvailableError, prepare_ctp  # noqa: PLC0415
    from gateway.ws.direct import UVICORN_OPTIONS  # noqa: PLC0415

    if settings.venue == "ctp":
        # Checked before the server starts, so that what is missing is said in one line,
        # not in a start-up traceback.
        try:
            prepare_ctp(settings)
        except VenueNotAvailableError as exc:
            raise CannotStartError(str(exc)) from exc

    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        **UVICORN_OPTIONS,
    )


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        match args.command:
            case "serve":
                _serve(settings, args.host, args.port)
            case "db":
                _db(settings, args)
            case "user":
                _user(settings, args)
            case "data":
                _data(settings, args)
            case "indicators":
                _indicators(args)
            case "backtest":
                _backtest(settings, args)
    except SettingsError as exc:
        sys.stderr.write(f"quant: configuration error: {exc}\n")
        return 2
    except CannotStartError as exc:
        sys.stderr.write(f"quant: cannot start: {exc}\n")
        return 2
    except (CliError, DataCommandError) as exc:
        sys.stderr.write(f"quant: {exc}\n")
        return 1
    return 0


def _db(settings: Settings, args: argparse.Namespace) -> None:
    match args.db_command:
        case "upgrade":
            migrate.upgrade(settings.database_url, args.revision)
            sys.stdout.write(f"database at {migrate.current_revision(settings.database_url)}\n")
        case "downgrade":
            migrate.downgrade(settings.database_url, args.revision)
            sys.stdout.write(f"database at {migrate.current_revision(settings.database_url)}\n")
        case "current":
            sys.stdout.write(f"{migrate.current_revision(settings.database_url) or 'empty'}\n")


def _user(settings: Settings, args: argparse.Namespace) -> None:
    if settings.mode == "embedded":
        migrate.upgrade(settings.database_url)  # as the gateway would on its first start
    match args.user_command:
        case "create":
            # The account modules pull in the web stack: only `user create` pays for it.
            from gateway.auth.users_controller import (  # noqa: PLC0415
                USERNAME_PATTERN,
                valid_username,
            )

            if not valid_username(args.username):
                raise CliError(f"username must match {USERNAME_PATTERN}")
            password = _read_password(args.password_stdin)
            user_id = asyncio.run(_create_user(settings, args.username, Role(args.role), password))
            sys.stdout.write(f"created user {args.username!r} (id {user_id}, role {args.role})\n")
        case "list":
            for line in asyncio.run(_list_users(settings)):
                sys.stdout.write(line + "\n")


def _indicators(args: argparse.Namespace) -> None:
    # The computation pulls in numpy, polars and TA-Lib: only this command pays for them.
    from gateway import indicator_commands as commands  # noqa: PLC0415

    if args.indicators_command == "list":
        for line in commands.catalogue_lines(args.group):
            sys.stdout.write(line + "\n")
        return
    specs = [commands.parse_indicator(text) for text in args.indicator]
    specs += [commands.parse_formula(text) for text in args.formula]
    if not specs:
        raise CliError("give at least one --indicator or --formula")
    bars = commands.load_bars(
        args.data, symbol=args.symbol, timezone=args.timezone, mapping=args.map
    )
    output = commands.render(commands.compute_file(bars, specs), args.format)
    if args.out is None:
        sys.stdout.buffer.write(output)
    else:
        args.out.write_bytes(output)


def _backtest(settings: Settings, args: argparse.Namespace) -> None:
    # Backtests pull in numpy, polars and the engines: only this command pays for them.
    from gateway import backtest_commands as commands  # noqa: PLC0415

    if args.backtest_command == "strategies":
        for line in commands.strategy_lines():
            sys.stdout.write(line + "\n")
        return
    if not args.data and settings.mode == "embedded":
        migrate.upgrade(settings.database_url)  # as the gateway would on its first start
    if args.backtest_command == "run":
        output = commands.run_command(args, settings.database_url)
    else:
        output = commands.optimize_command(args, settings.database_url)
    sys.stdout.buffer.write(output)


def _data(settings: Settings, args: argparse.Namespace) -> None:
    if settings.mode == "embedded":
        migrate.upgrade(settings.database_url)  # as the gateway would on its first start
    if args.data_command == "import":
        options = ImportOptions(
            kind=args.kind,
            symbol=args.symbol,
            interval=Interval(args.interval),
            timezone=args.timezone,
            mapping=parse_mapping(args.map),
            time_label=args.time_label,
        )
        summary = import_file(settings.database_url, args.path, options)
        sys.stdout.write(summary.line() + "\n")
    else:
        count = export_file(
            settings.database_url,
            args.kind,
            args.symbol,
            Interval(args.interval),
            args.start,
            args.end,
            args.out,
        )
        sys.stdout.write(f"exported {count} {args.kind} to {args.out}\n")


def main() -> None:
    # Every command may run functions in this process (serve runs them inline).
    reuse_freed_memory()
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`quant indicators list | head`): not an error of ours. Stdout
        # is pointed at devnull so the interpreter's last flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
