"""The simulated venue replaying the database: stored ticks, ticks synthesized from stored bars."""

from __future__ import annotations

import asyncio
import gzip
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.services import running_services
from gateway.venues import NoReplayDataError, SimulatedVenue, StoredReplay
from gateway.venues.simulated import DEFAULT_REPLAY_FILE
from shared.bars import ctp_tick_frame
from shared.config import Settings, SettingsError, load_settings
from shared.domain import prices_equal
from shared.store import Role, create_engine
from shared.store.market_data import BarStore, TickStore
from tests.support.gateway import add_user, embedded_settings
from tests.support.market_data import real_bars
from tests.support.sinks import RecordingSink

AU_TICK = 0.02
PASSWORD = "ann-password-1"


def _au_days(shared_data: Path, days: int = 3) -> pl.DataFrame:
    bars = real_bars(shared_data)
    kept = bars.get_column("trading_day").unique().sort().head(days)
    return bars.filter(pl.col("trading_day").is_in(kept.implode()))


async def _store(settings: Settings, bars: pl.DataFrame, ticks: pl.DataFrame | None = None) -> None:
    await add_user(settings, "ann", PASSWORD, Role.VIEWER)  # also migrates the database
    engine = create_engine(settings.database_url)
    try:
        await BarStore(engine).ingest(bars)
        if ticks is not None:
            await TickStore(engine).ingest(ticks)
    finally:
        await engine.dispose()


def _shipped_if2101_ticks() -> pl.DataFrame:
    frame = ctp_tick_frame(gzip.decompress(DEFAULT_REPLAY_FILE.read_bytes()))
    return frame.select(
        pl.lit("CFFEX").alias("exchange"), pl.lit("IF2101").alias("symbol"), pl.all()
    ).unique("ts", keep="last", maintain_order=True)


async def test_quotes_come_from_bars_stored_in_the_database(
    tmp_path: Path, shared_data: Path
) -> None:
    settings = embedded_settings(tmp_path, replay_symbols="SHFE.au1912", replay_speed=0)
    bars = _au_days(shared_data)
    await _store(settings, bars)
    async with AsyncTestClient(app=create_app(settings)) as client:
        token = await client.post(
            "/api/v1/auth/token", json={"username": "ann", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for _ in range(200):
            quote = await client.get("/api/v1/quotes/SHFE.au1912", headers=headers)
            if quote.status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert quote.status_code == 200, quote.text
        venue = (await client.get("/ready")).json()
    tick = quote.json()
    assert tick["symbol"] == "au1912"
    ts = pl.Series([tick["ts"]]).str.to_datetime(time_zone="UTC").item()
    # The quote is one of the four ticks of the bar whose minute holds its timestamp.
    bar = bars.filter(pl.col("start") <= ts, pl.col("start") > ts - timedelta(minutes=1))
    assert bar.height == 1
    prices = bar.select("open", "high", "low", "close").row(0)
    assert any(prices_equal(tick["last_price"], price, AU_TICK) for price in prices)
    assert tick["trading_day"] == bar.get_column("trading_day").item().isoformat()
    assert "au1912" in str(venue)


async def test_a_symbol_with_no_data_stops_the_gateway_naming_it(
    tmp_path: Path, shared_data: Path
) -> None:
    settings = embedded_settings(tmp_path, replay_symbols="SHFE.au1912, DCE.m9999", replay_speed=0)
    await _store(settings, _au_days(shared_data, 1))
    with pytest.raises(NoReplayDataError, match=r"DCE\.m9999"):
        async with running_services(settings):
            pass


async def test_symbols_are_merged_in_time_order_ticks_and_bars_alike(
    tmp_path: Path, shared_data: Path, store_url: str
) -> None:
    settings = embedded_settings(tmp_path, database_url=store_url)
    bars = _au_days(shared_data)
    stored_ticks = _shipped_if2101_ticks()
    await _store(settings, bars, stored_ticks)
    engine = create_engine(settings.database_url)
    received = RecordingSink()
    try:
        source = StoredReplay(
            [("CFFEX", "IF2101"), ("SHFE", "au1912")], TickStore(engine), BarStore(engine)
        )
        venue = SimulatedVenue(speed=0, loop_forever=False, source=source)
        await venue.start(received)
        assert "IF2101 (ticks)" in venue.detail
        assert "au1912 (ticks synthesized" in venue.detail
        for _ in range(500):
            if "finished" in venue.detail:
                break
            await asyncio.sleep(0.02)
        await venue.stop()
    finally:
        await engine.dispose()
    times = [tick.ts for tick in received.ticks]
    assert times == sorted(times)
    by_symbol = {s: [t for t in received.ticks if t.symbol == s] for s in ("au1912", "IF2101")}
    assert len(by_symbol["au1912"]) == 4 * bars.height
    assert len(by_symbol["IF2101"]) == stored_ticks.height
    # Cumulative volume carries across the day-long read windows: each day's last synthetic
    # tick holds that day's whole volume.
    last_of_day = {t.trading_day: t.volume for t in by_symbol["au1912"]}
    daily = bars.group_by("trading_day").agg(pl.col("volume").sum()).rows()
    assert last_of_day == dict(daily)


@pytest.mark.parametrize("value", ["au1912", "NYMEX.CL2101", "SHFE.", "SHFE.au 1912"])
def test_a_malformed_replay_list_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="QUANT_REPLAY_SYMBOLS"):
        load_settings({"QUANT_REPLAY_SYMBOLS": value}, env_file=None)


def test_a_replay_list_reads_as_exchange_symbol_pairs() -> None:
    settings = load_settings({"QUANT_REPLAY_SYMBOLS": " SHFE.au1912,,CFFEX.IF2101 "}, None)
    assert settings.replay_series == (("SHFE", "au1912"), ("CFFEX", "IF2101"))
    assert load_settings({}, None).replay_series == ()
