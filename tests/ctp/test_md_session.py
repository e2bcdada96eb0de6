"""The CTP market-data session, with the real openctp-ctp library.

Against a local TCP listener standing in for a front: the API connects to it, and when the
listener drops the connection the session reports why and the API connects again. (A bare
listener cannot complete CTP's handshake, so logging in is driven at the SPI instead.) At the
SPI, with the request side replaced by a recorder at the API boundary: the session logs in on
every connect, retries a refused login with backoff, subscribes once logged in, and hands each
tick to the loop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from openctp_ctp import mdapi

from gateway.venues.ctp.mapping import tick_from_depth
from gateway.venues.ctp.md_session import MarketDataSession
from gateway.venues.ctp.reconnect import Backoff
from shared.domain import ComponentState, Exchange
from shared.sessions import load_calendar
from tests.support.ctp_api import ApiLifecycle

EVENTS = Path(__file__).resolve().parent.parent / "events" / "ctp"


async def _until(check: Any, within: float = 8.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.02)


async def test_the_api_connects_and_after_a_drop_reports_why_and_connects_again(
    tmp_path: Path,
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    session = MarketDataSession(
        fronts=(f"tcp://127.0.0.1:{port}",),
        broker_id="9999",
        user_id="u1",
        password="secret",
        flow_dir=tmp_path / "flow" / "md",
        on_depth=lambda fields: None,
    )
    session.start()
    try:
        assert session.state is ComponentState.STARTING
        await _until(lambda: len(connections) >= 1)
        connections[0].close()  # the front goes away
        await _until(lambda: session.state is ComponentState.DOWN)
        assert "0x1001" in session.detail
        await _until(lambda: len(connections) >= 2)  # the API came back by itself
    finally:
        session.stop()
        listener.close()
        for writer in connections:
            writer.close()
        await listener.wait_closed()
    assert (tmp_path / "flow" / "md").is_dir()


class RecordingApi(ApiLifecycle):
    """The request side of the API, at its boundary: what the session asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[tuple[str, str, str]] = []
        self.subscribed: list[list[bytes]] = []
        self.unsubscribed: list[list[bytes]] = []

    def ReqUserLogin(self, request: Any, request_id: int) -> int:  # noqa: N802
        self.logins.append((request.BrokerID, request.UserID, request.Password))
        return 0

    def UnSubscribeMarketData(self, symbols: list[bytes], count: int) -> int:  # noqa: N802
        assert count == len(symbols)
        self.unsubscribed.append(symbols)
        return 0

    def SubscribeMarketData(self, symbols: list[bytes], count: int) -> int:  # noqa: N802
        assert count == len(symbols)
        self.subscribed.append(symbols)
        return 0


def _rsp_info(error_id: int, message: str) -> Any:
    info = mdapi.CThostFtdcRspInfoField()
    info.ErrorID = error_id
    info.ErrorMsg = message
    return info


async def test_logs_in_on_every_connect_retries_a_refusal_and_streams_ticks(
    tmp_path: Path,
) -> None:
    depths: list[dict[str, Any]] = []
    api = RecordingApi()
    session = MarketDataSession(
        fronts=("tcp://192.0.2.1:41213",),
        broker_id="9999",
        user_id="u1",
        password="secret",
        flow_dir=tmp_path / "md",
        on_depth=depths.append,
        backoff=Backoff(first_s=0.05, jitter=0.0),
    )
    session.start(api)
    spi = session.spi
    session.subscribe(["rb2405"])  # before login: remembered, sent once logged in
    await asyncio.to_thread(spi.OnFrontConnected)  # from a library-like thread
    await _until(lambda: len(api.logins) == 1)
    assert api.logins == [("9999", "u1", "secret")]
    assert api.subscribed == []

    refusal = _rsp_info(3, "invalid login")
    await asyncio.to_thread(spi.OnRspUserLogin, None, refusal, 1, True)
    await _until(lambda: session.state is ComponentState.DEGRADED)
    assert "retrying" in session.detail
    await _until(lambda: len(api.logins) == 2)  # retried after the backoff

    await asyncio.to_thread(spi.OnRspUserLogin, None, _rsp_info(0, ""), 2, True)
    await _until(lambda: session.state is ComponentState.UP)
    assert api.subscribed == [[b"rb2405"]]

    recorded = json.loads((EVENTS / "tick_shfe_day.json").read_text())["callbacks"][0]
    depth = mdapi.CThostFtdcDepthMarketDataField()
    for name, value in recorded["fields"].items():
        setattr(depth, name, value)
    await asyncio.to_thread(spi.OnRtnDepthMarketData, depth)
    await _until(lambda: len(depths) == 1)
    tick = tick_from_depth(depths[0], exchange=Exchange.SHFE, calendar=load_calendar())
    assert tick is not None
    assert (tick.symbol, tick.last_price) == ("rb2405", recorded["fields"]["LastPrice"])

    # A contract that expired is dropped; one listed anew is added, each once.
    session.subscribe(["rb2405", "rb2410"])
    session.unsubscribe(["rb2405", "zz0000"])
    assert api.subscribed[-1] == [b"rb2410"]
    assert api.unsubscribed == [[b"rb2405"]]
    assert session.symbols == {"rb2410"}

    await asyncio.to_thread(spi.OnFrontDisconnected, 0x2001)
    await _until(lambda: session.state is ComponentState.DOWN)
    assert "heartbeat" in session.detail
    await asyncio.to_thread(spi.OnFrontConnected)  # the API reconnected: log in again
    await _until(lambda: len(api.logins) == 3)
    await asyncio.to_thread(spi.OnRspUserLogin, None, _rsp_info(0, ""), 3, True)
    await _until(lambda: len(api.subscribed) == 3)
    assert api.subscribed[-1] == [b"rb2410"]  # what is wanted now, after the reconnect
    session.stop()
