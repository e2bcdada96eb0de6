"""Settings: one frozen Struct, read from the environment (and a .env file), validated at start.

Every field ``name`` is read from ``QUANT_NAME``. The defaults are the embedded mode: a SQLite
file under ``var/``, an in-process bus, inline functions, a local object directory and the
simulated venue, so that ``uv run just serve`` needs nothing else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec
from dotenv import dotenv_values

from shared.domain import Exchange, Interval

ENV_PREFIX = "QUANT_"
# Known only so that we can refuse it outside the embedded mode.
DEFAULT_JWT_SECRET = "embedded-mode-insecure-secret-change-me"  # noqa: S105

Mode = Literal["embedded", "production"]
BusKind = Literal["memory", "redis"]
DispatcherKind = Literal["inline", "dramatiq", "lambda"]
ObjectsKind = Literal["local", "s3"]
VenueKind = Literal["simulated", "ctp", "none"]


class SettingsError(ValueError):
    """The configuration is unusable; the message names the environment variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Mode = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    var_dir: str = "var"

    database_url: str = "sqlite+aiosqlite:///var/quant.db"
    database_pool_size: int = 10

    bus: BusKind = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "quant"  # every Redis key and channel, and the Dramatiq namespace

    dispatcher: DispatcherKind = "inline"
    inline_workers: int = 4  # concurrent function calls inside the gateway
    function_timeout_s: float = 60.0
    lambda_function_prefix: str = "quant-"  # AWS function name = prefix + function name
    lambda_endpoint_url: str | None = None  # set for a local emulator; None = AWS

    objects: ObjectsKind = "local"
    objects_dir: str = "var/objects"
    s3_bucket: str = "quant-objects"
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None  # set for MinIO / moto; None = AWS
    aws_region: str = "cn-north-1"

    # "simulated" replays real data, "ctp" trades through a broker, "none" serves clients with
    # what another replica's venue publishes on the (Redis) bus.
    venue: VenueKind = "simulated"
    replay_speed: float = 1.0  # simulated venue: 1.0 = real time, 0 = as fast as possible
    # Simulated venue: "EXCHANGE.symbol,..." replayed from the database; "" = the shipped file.
    replay_symbols: str = ""
    # Intervals of the live bars built from the venue's ticks and published on the bus.
    live_bar_intervals: str = "1m,5m,15m,30m,1h,1d"
    # What the gateway writes to the database as it streams: "ticks", "bars", both
    # ("ticks,bars"), "none"; "auto" records both from a live venue, nothing from a replay.
    record: str = "auto"

    # WebSocket hub (/ws)
    ws_heartbeat_s: float = 15.0  # server `ping` every so often
    ws_idle_timeout_s: float = 45.0  # a client silent this long is closed (4408)
    ws_flush_interval_s: float = 0.025  # ticks go out batched, once per interval
    ws_max_lag_s: float = 10.0  # a client not reading this long is disconnected (4429)
    ws_auth_timeout_s: float = 5.0  # without a token, the first `auth` message must come by then

    # Computed indicator answers are kept this long, in memory up to this size (embedded) or
    # on Redis (with the Redis bus).
    result_cache_ttl_s: float = 600.0
    result_cache_mb: int = 64

    # Trading. A paper account (simulated venue) opens with this much cash; market orders on
    # the paper exchange fill this many ticks beyond the opposite best; positions are marked
    # to the last price this often; a trading token (the step-up orders need) lasts this long.
    paper_starting_balance: float = 1_000_000.0
    paper_slippage_ticks: int = 0
    mark_interval_s: float = 5.0
    trading_token_ttl_s: int = 600

    # The CTP venue (QUANT_VENUE=ctp): the broker's market-data and trading fronts
    # ("tcp://host:port", several comma-separated), the account, and the AppID/AuthCode the
    # broker issued for this program; flow files go under `ctp_flow_dir`.
    ctp_md_fronts: str = ""
    ctp_td_fronts: str = ""
    ctp_broker_id: str = ""
    ctp_user_id: str = ""
    ctp_password: str = ""
    ctp_app_id: str = ""
    ctp_auth_code: str = ""
    ctp_flow_dir: str = "var/ctp"
    # The gateway account whose orders go to CTP ("" = the CTP user id), opened for this user
    # when the broker first reports the account; every other account stays a paper account.
    ctp_account_id: str = ""
    ctp_account_owner: str = "admin"
    # Market data subscribed: "" = every future in the instrument table not yet expired.
    ctp_symbols: str = ""
    # Connect only around the products' sessions (False: at any hour, e.g. for openctp's
    # round-the-clock simulation).
    ctp_connect_window: bool = True

    jwt_secret: str = DEFAULT_JWT_SECRET
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 7 * 24 * 3600

    bootstrap_admin: bool = True  # embedded mode: create an admin on first start

    def __post_init__(self) -> None:
        _check_positive(self, "port", "database_pool_size", "inline_workers")
        _check_positive(self, "function_timeout_s", "access_token_ttl_s", "refresh_token_ttl_s")
        _check_positive(
            self, "ws_heartbeat_s", "ws_idle_timeout_s", "ws_max_lag_s", "ws_auth_timeout_s"
        )
        _check_positive(self, "paper_starting_balance", "mark_interval_s", "trading_token_ttl_s")
        _check_positive(self, "result_cache_ttl_s", "result_cache_mb")
        if not 0 <= self.paper_slippage_ticks <= 100:
            raise ValueError(
                f"`paper_slippage_ticks` must be in 0..100, got {self.paper_slippage_ticks}"
            )
        if self.ws_flush_interval_s < 0:
            raise ValueError(f"`ws_flush_interval_s` must be >= 0, got {self.ws_flush_interval_s}")
        if self.ws_idle_timeout_s <= self.ws_heartbeat_s:
            raise ValueError("`ws_idle_timeout_s` must be longer than `ws_heartbeat_s`")
        if not 0 < self.port < 65536:
            raise ValueError(f"`port` must be in 1..65535, got {self.port}")
        if self.venue == "none" and self.bus == "memory":
            raise ValueError(
                "`venue` none serves what another replica's venue publishes on the bus; "
                "set `bus` to redis"
            )
        if self.replay_speed < 0:
            raise ValueError(f"`replay_speed` must be >= 0, got {self.replay_speed}")
        _ = self.replay_series  # refuses a malformed list at start
        _ = self.bar_intervals
        _ = self.recorded
        if self.refresh_token_ttl_s <= self.access_token_ttl_s:
            raise ValueError("`refresh_token_ttl_s` must be longer than `access_token_ttl_s`")
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", self.redis_prefix):
            raise ValueError(
                f"`redis_prefix` may hold only [A-Za-z0-9_.:-], got {self.redis_prefix!r}"
            )
        if self.venue == "ctp":
            _check_ctp(self)
        if self.mode == "production":
            if self.jwt_secret == DEFAULT_JWT_SECRET:
                raise ValueError(
                    "`jwt_secret` is the embedded default; set a random secret of 32+ characters "
                    "outside the embedded mode"
                )
            if len(self.jwt_secret) < 32:
                raise ValueError("`jwt_secret` must be at least 32 characters in production mode")

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: secrets are shown as set or not, never as is.
        shown = ", ".join(
            f"{name}={'<set>' if getattr(self, name) else '<empty>'}"
            if name in SECRET_FIELDS
            else f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
        )
        return f"Settings({shown})"

    @property
    def ctp_trading_account(self) -> str:
        """The gateway account that trades through CTP."""
        return self.ctp_account_id or self.ctp_user_id

    @property
    def ctp_symbol_list(self) -> tuple[str, ...]:
        return _comma_list(self.ctp_symbols)

    @property
    def ctp_fronts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(market-data fronts, trading fronts), in the order given."""
        return _comma_list(self.ctp_md_fronts), _comma_list(self.ctp_td_fronts)

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def replay_series(self) -> tuple[tuple[str, str], ...]:
        """``replay_symbols`` as (exchange, symbol) pairs, in the order given."""
        series: list[tuple[str, str]] = []
        for entry in (part.strip() for part in self.replay_symbols.split(",")):
            if not entry:
                continue
            exchange, _, symbol = entry.partition(".")
            if exchange not in _EXCHANGES or not _SYMBOL.fullmatch(symbol):
                raise ValueError(
                    f"`replay_symbols` entries must be EXCHANGE.symbol with EXCHANGE one of "
                    f"{', '.join(_EXCHANGES)} (e.g. SHFE.au1912), got {entry!r}"
                )
            series.append((exchange, symbol))
        return tuple(series)

    @property
    def bar_intervals(self) -> tuple[Interval, ...]:
        """``live_bar_intervals`` parsed, in the order given."""
        intervals: list[Interval] = []
        for entry in (part.strip() for part in self.live_bar_intervals.split(",")):
            if not entry:
                continue  # "" builds no live bars
            try:
                intervals.append(Interval(entry))
            except ValueError:
                raise ValueError(
                    f"`live_bar_intervals` entries must be one of "
                    f"{', '.join(Interval)}, got {entry!r}"
                ) from None
        return tuple(dict.fromkeys(intervals))

    @property
    def recorded(self) -> frozenset[str]:
        """What to record: a subset of {"ticks", "bars"}."""
        value = self.record.strip().lower()
        if value == "auto":
            live = self.venue not in {"simulated", "none"}
            return frozenset({"ticks", "bars"}) if live else frozenset()
        if value == "none":
            return frozenset()
        parts = {part.strip() for part in value.split(",")}
        if not parts <= _RECORDABLE:
            raise ValueError(
                f"`record` must be auto, none, or a list of ticks and bars, got {self.record!r}"
            )
        return frozenset(parts)


SECRET_FIELDS = frozenset({"jwt_secret", "ctp_password", "ctp_auth_code"})
_RECORDABLE = frozenset({"ticks", "bars"})
_FRONT = re.compile(r"(tcp|ssl|socks5)://[A-Za-z0-9_.-]+:[0-9]{1,5}")


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check_ctp(settings: Settings) -> None:
    for name in ("ctp_md_fronts", "ctp_td_fronts"):
        fronts = _comma_list(getattr(settings, name))
        if not fronts:
            raise ValueError(
                f"`{name}` is required with venue ctp, e.g. tcp://180.168.146.187:10211"
            )
        for front in fronts:
            if not _FRONT.fullmatch(front):
                raise ValueError(f"`{name}` entries must look like tcp://host:port, got {front!r}")
    for name in ("ctp_broker_id", "ctp_user_id", "ctp_password"):
        if not getattr(settings, name):
            raise ValueError(f"`{name}` is required with venue ctp")
    if bool(settings.ctp_app_id) != bool(settings.ctp_auth_code):
        raise ValueError("`ctp_app_id` and `ctp_auth_code` go together: set both or neither")
    if not _ACCOUNT_ID.fullmatch(settings.ctp_trading_account):
        raise ValueError(
            "`ctp_account_id` (or `ctp_user_id` standing in for it) must be 1-64 of "
            f"A-Z a-z 0-9 _ . : -, got {settings.ctp_trading_account!r}"
        )
    if not settings.ctp_account_owner:
        raise ValueError("`ctp_account_owner` must name the user who owns the CTP account")
    for symbol in settings.ctp_symbol_list:
        if not _SYMBOL.fullmatch(symbol):
            raise ValueError(f"`ctp_symbols` entries must be contract codes, got {symbol!r}")


_EXCHANGES = tuple(exchange.value for exchange in Exchange)
_SYMBOL = re.compile(r"[A-Za-z0-9_-]+")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _check_positive(settings: Settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name) <= 0:
            raise ValueError(f"`{name}` must be positive, got {getattr(settings, name)!r}")


_FIELD_PATH = re.compile(r"\$\.(\w+)")
_FIELD_QUOTED = re.compile(r"`(\w+)`")


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Build settings from ``.env`` (if present) overlaid by the environment."""
    raw: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    raw.update(os.environ if environ is None else environ)
    fields: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in raw.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in Settings.__struct_fields__:
            fields[name] = value
        elif name not in _IGNORED_NAMES:
            unknown.append(key)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    nullable = {name for name in fields if fields[name] == "" and _is_optional(name)}
    values: dict[str, object] = {k: (None if k in nullable else v) for k, v in fields.items()}
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_env_var(str(exc))) from None


# Variables with the prefix that configure the tests and tools, not the application.
_IGNORED_NAMES = frozenset({"require_services", "test_postgres_url", "test_redis_url"})


def _is_optional(name: str) -> bool:
    return Settings.__struct_defaults__[Settings.__struct_fields__.index(name)] is None


def _name_env_var(message: str) -> str:
    # Type errors carry the path (`$.port`); errors from __post_init__ quote the field name.
    path = _FIELD_PATH.search(message)
    candidates = [path.group(1)] if path else []
    candidates += _FIELD_QUOTED.findall(message)
    for field in candidates:
        if field in Settings.__struct_fields__:
            return f"{ENV_PREFIX}{field.upper()}: {message}"
    return f"invalid settings: {message}"
