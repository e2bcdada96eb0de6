"""`/ws`: authenticate, then read the client's messages until it leaves.

The route is outside the bearer-token middleware because a browser's WebSocket cannot set
headers: the access token comes as the `token` query parameter or in a first `auth` message,
within `QUANT_WS_AUTH_TIMEOUT_S`, or the socket is closed with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from litestar import WebSocket, websocket
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth.identity import AuthUser
from gateway.auth.tokens import InvalidTokenError, TokenClaims
from gateway.ws.client import Client
from gateway.ws.direct import direct_wire
from gateway.ws.protocol import (
    MARKET_CHANNELS,
    Auth,
    Channel,
    ClientMessage,
    CloseCode,
    Format,
    Ping,
    Pong,
    ProtocolError,
    ServerPong,
    Subscribe,
    Unsubscribe,
    Welcome,
    decode_client_message,
)
from gateway.ws.subscriptions import SubscriptionHandler
from gateway.ws.wire import AsgiWire, Wire

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 5.0


class _RejectedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@websocket("/ws", name="ws")
async def ws_endpoint(socket: WebSocket[Any, Any, Any]) -> None:
    services = cast("Services", socket.app.state.services)
    await socket.accept()
    try:
        claims, fmt = await _authenticate(socket, services)
    except _RejectedError as exc:
        with contextlib.suppress(Exception):
            await socket.close(exc.code, exc.reason[:120])
        return
    await _serve(socket, services, claims, fmt)


async def _receive(socket: WebSocket[Any, Any, Any]) -> str | bytes | None:
    """The next frame's data; None when the client left."""
    message = await socket.receive()
    if message["type"] != "websocket.receive":
        return None
    text = message.get("text")
    return text if text is not None else (message.get("bytes") or b"")


async def _authenticate(
    socket: WebSocket[Any, Any, Any], services: Services
) -> tuple[TokenClaims, Format]:
    requested = socket.query_params.get("format", "json")
    if requested not in {"json", "msgpack"}:
        raise _RejectedError(
            CloseCode.BAD_REQUEST, f"format must be json or msgpack, got {requested!r}"
        )
    fmt = cast("Format", requested)
    token = socket.query_params.get("token")
    if token is None:
        try:
            async with asyncio.timeout(services.settings.ws_auth_timeout_s):
                data = await _receive(socket)
        except TimeoutError:
            raise _RejectedError(CloseCode.UNAUTHENTICATED, "no access token in time") from None
        if data is None:
            raise _RejectedError(CloseCode.UNAUTHENTICATED, "left before authenticating")
        try:
            message = decode_client_message(data)
        except ProtocolError as exc:
            reason = f"first message: {exc.detail}"
            raise _RejectedError(CloseCode.UNAUTHENTICATED, reason) from None
        if not isinstance(message, Auth):
            raise _RejectedError(CloseCode.UNAUTHENTICATED, "the first message must be `auth`")
        token = message.token
        fmt = message.format or fmt
    try:
        claims = services.tokens.verify(token, "access")
    except InvalidTokenError as exc:
        raise _RejectedError(CloseCode.UNAUTHENTICATED, f"invalid access token: {exc}") from None
    await _require_active(services, claims)
    return claims, fmt


async def _require_active(services: Services, claims: TokenClaims) -> None:
    """A user disabled after the token was issued gets no new connection. With the database
    away the token, valid and short-lived, is trusted: streaming market data must not stop."""
    try:
        user = await services.users.get(claims.user_id)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("ws: cannot check that user %d is active (%s)", claims.user_id, exc)
        return
    if user is None or not user.is_active:
        raise _RejectedError(CloseCode.FORBIDDEN, "the user is disabled or no longer exists")


async def _serve(
    socket: WebSocket[Any, Any, Any], services: Services, claims: TokenClaims, fmt: Format
) -> None:
    hub = services.hub
    settings = hub.settings
    handler_task = asyncio.current_task()

    async def asgi_send(frame: bytes, binary: bool) -> None:
        if binary:
            await socket.send({"type": "websocket.send", "bytes": frame, "text": None})
        else:
            await socket.send({"type": "websocket.send", "text": frame.decode(), "bytes": None})

    wire: Wire = direct_wire(socket.scope) or AsgiWire(asgi_send)

    async def close(code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await socket.close(code, reason[:120])
        except TimeoutError:
            wire.abort()  # a client that reads nothing would not read the close frame either
        finally:
            # The read loop would otherwise wait for a client that is not answering.
            if handler_task is not None:
                handler_task.cancel()

    user = AuthUser(id=claims.user_id, username=claims.username, role=claims.role)
    client = Client(
        user,
        fmt,
        wire,
        close,
        max_pending=settings.max_pending,
    )
    client.token_expires_at = float(claims.exp)
    handler = SubscriptionHandler(hub, client, services)
    hub.register(client)
    client.push_control(
        Welcome(
            seq=0,
            user=user.username,
            role=str(user.role),
            format=fmt,
            heartbeat_s=settings.heartbeat_s,
            idle_timeout_s=settings.idle_timeout_s,
            channels=list(Channel),
        )
    )
    try:
        while True:
            data = await _receive(socket)
            if data is None:
                break
            client.last_heard = time.monotonic()
            await _handle(data, client, handler, services)
    except asyncio.CancelledError:
        if not client.closing:
            raise
        # Closed by the server (slow, idle, expired): this connection is over, not the gateway.
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        client.closing = True
        hub.unregister(client)
        if isinstance(wire, AsgiWire):
            await wire.aclose()


async def _handle(
    data: str | bytes, client: Client, handler: SubscriptionHandler, services: Services
) -> None:
    try:
        message: ClientMessage = decode_client_message(data)
        match message:
            case Subscribe():
                await handler.subscribe(message)
            case Unsubscribe():
                handler.unsubscribe(message)
            case Ping():
                client.push_control(ServerPong(seq=0, ts=time.time(), id=message.id))
            case Pong():
                pass  # hearing from the client is all a pong is for
            case Auth():
                _reauthenticate(client, message, services)
    except ProtocolError as exc:
        client.error("bad_message", exc.detail, exc.field, exc.request_id)


def _reauthenticate(client: Client, message: Auth, services: Services) -> None:
    """A fresh access token before the current one expires keeps the connection open."""
    try:
        claims = services.tokens.verify(message.token, "access")
    except InvalidTokenError as exc:
        raise ProtocolError(f"invalid access token: {exc}", "token", message.id) from None
    if claims.user_id != client.user.id:
        raise ProtocolError("the token is another user's", "token", message.id)
    client.token_expires_at = float(claims.exp)


__all__ = ["MARKET_CHANNELS", "ws_endpoint"]
