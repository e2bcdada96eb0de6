"""The CTP market-data session: connect, log in (again after every disconnect and after every
failed login), subscribe, and hand each tick to the gateway's event loop.

openctp-ctp calls the SPI on threads of its own. Each callback copies what it needs out of the
struct at once (structs die with the callback) and passes plain values to the loop with
`call_soon_threadsafe`; everything else, state included, happens on the loop. The API
reconnects to the front by itself after a disconnect; the session logs in again each time it
is told the front is connected, and retries a failed login with backoff.

Import this module only after `environment.prepare_locale`: it imports the library.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from openctp_ctp import mdapi

from gateway.venues.ctp._session import CtpSession
from gateway.venues.ctp.mapping import DEPTH_FIELDS, error_message, fields_of
from gateway.venues.ctp.reconnect import Backoff
from shared.domain import ComponentState

log = logging.getLogger(__name__)

# OnFrontDisconnected reasons, as the CTP documentation numbers them.
DISCONNECT_REASONS = {
    0x1001: "network read failed",
    0x1002: "network write failed",
    0x2001: "heartbeat not received",
    0x2002: "heartbeat could not be sent",
    0x2003: "malformed packet received",
}


def disconnect_reason(code: int) -> str:
    return f"{DISCONNECT_REASONS.get(code, 'unknown reason')} ({code:#06x})"


class MarketDataSession(CtpSession):
    """``on_depth`` gets each tick's fields (`mapping.DEPTH_FIELDS`), on the loop."""

    def __init__(
        self,
        *,
        fronts: Sequence[str],
        broker_id: str,
        user_id: str,
        password: str,
        flow_dir: Path,
        on_depth: Callable[[dict[str, Any]], None],
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__("ctp md", fronts=fronts, flow_dir=flow_dir)
        self._broker_id = broker_id
        self._user_id = user_id
        self._password = password
        self._on_depth = on_depth
        self._backoff = backoff or Backoff()
        self._symbols: set[str] = set()
        self._connected = False
        self._logged_in = False

    def _create_api(self, flow_prefix: str) -> Any:
        return mdapi.CThostFtdcMdApi.CreateFtdcMdApi(flow_prefix)

    def _create_spi(self, loop: asyncio.AbstractEventLoop) -> Any:
        return _Spi(self, loop)

    def _stopping(self) -> None:
        self._connected = False
        self._logged_in = False

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    def subscribe(self, symbols: Iterable[str]) -> None:
        new = set(symbols) - self._symbols
        self._symbols |= new
        if new and self._logged_in:
            self._send_subscribe(sorted(new))

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        gone = set(symbols) & self._symbols
        self._symbols -= gone
        if gone and self._logged_in:
            wire = [s.encode() for s in sorted(gone)]
            code = self._api.UnSubscribeMarketData(wire, len(wire))
            if code != 0:
                log.warning(
                    "ctp md: unsubscribing %d symbol(s) not sent (code %s)", len(wire), code
                )

    # --- on the loop, from the SPI ------------------------------------------------------------

    def connected(self) -> None:
        self._connected = True
        self._set(ComponentState.STARTING, "front connected, logging in")
        self._login()

    def disconnected(self, code: int) -> None:
        self._connected = False
        self._logged_in = False
        self._cancel_retry()
        # The API reconnects by itself; `connected` logs in again when it has.
        self._set(ComponentState.DOWN, f"front disconnected: {disconnect_reason(code)}")

    def login_answered(self, error_id: int, error_text: str) -> None:
        if error_id != 0:
            delay = self._backoff.next_delay()
            self._set(
                ComponentState.DEGRADED,
                f"login refused: {error_text}; retrying in {delay:.0f}s",
            )
            self._retry_login(delay)
            return
        self._backoff.reset()
        self._logged_in = True
        self._set(ComponentState.UP, "logged in")
        if self._symbols:
            self._send_subscribe(sorted(self._symbols))

    def depth(self, fields: dict[str, Any]) -> None:
        self._on_depth(fields)

    # --- requests -------------------------------------------------------------------------------

    def _login(self) -> None:
        request = mdapi.CThostFtdcReqUserLoginField()
        request.BrokerID = self._broker_id
        request.UserID = self._user_id
        request.Password = self._password
        code = self._api.ReqUserLogin(request, self._next_request_id())
        if code != 0:
            delay = self._backoff.next_delay()
            self._set(
                ComponentState.DEGRADED, f"login not sent (code {code}); retrying in {delay:.0f}s"
            )
            self._retry_login(delay)

    def _retry_login(self, delay: float) -> None:
        def again() -> None:
            if self._connected and not self._logged_in:
                self._login()

        self._retry_after(delay, again)

    def _send_subscribe(self, symbols: list[str]) -> None:
        code = self._api.SubscribeMarketData([s.encode() for s in symbols], len(symbols))
        if code != 0:
            log.warning("ctp md: subscribing %d symbol(s) not sent (code %s)", len(symbols), code)


# The library is untyped: its SPI base class is `Any` to mypy.
class _Spi(mdapi.CThostFtdcMdSpi):  # type: ignore[misc]
    """Runs on the library's threads: copy, hand over, return. (Method names are the
    library's; it calls them with positional arguments.)"""

    def __init__(self, session: MarketDataSession, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._session = session
        self._loop = loop

    def _call(self, method: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(self._deliver, method, args)

    def _deliver(self, method: Callable[..., None], args: tuple[Any, ...]) -> None:
        # A callback the library made before the session stopped (or restarted) is stale.
        if self._session.spi is self:
            method(*args)

    def OnFrontConnected(self) -> None:  # noqa: N802
        self._call(self._session.connected)

    def OnFrontDisconnected(self, reason: int) -> None:  # noqa: N802
        self._call(self._session.disconnected, int(reason))

    def OnRspUserLogin(self, _login: Any, info: Any, _request_id: int, _last: bool) -> None:  # noqa: N802
        error_id = int(info.ErrorID) if info is not None else 0
        text = error_message(error_id, info.ErrorMsg) if error_id else ""
        self._call(self._session.login_answered, error_id, text)

    def OnRtnDepthMarketData(self, depth: Any) -> None:  # noqa: N802
        if depth is None:
            return
        fields = fields_of(depth, DEPTH_FIELDS)
        self._call(self._session.depth, fields)
