"""Bearer-token authentication for every route that is not explicitly public."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from gateway.auth.identity import AuthUser
from gateway.auth.tokens import InvalidTokenError, TokenIssuer

# Reachable without a token: probes, API docs, and getting a token in the first place.
PUBLIC_PATHS = (
    "^/health$",
    "^/ready$",
    "^/docs",
    "^/api/v1/auth/token$",
    "^/api/v1/auth/refresh$",
    "^/ws$",  # authenticates itself: a browser's WebSocket cannot send headers
)


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Authorization header must be `Bearer <access token>`")
        return token.strip()
    # Browsers cannot set headers on a WebSocket: the token may come as a query parameter.
    if connection.scope["type"] == ScopeType.WEBSOCKET:
        return connection.query_params.get("token")
    return None


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, issuer: TokenIssuer) -> None:
        super().__init__(app, exclude=list(PUBLIC_PATHS))
        self._issuer = issuer

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        if token is None:
            raise NotAuthorizedException("missing access token (Authorization: Bearer <token>)")
        try:
            claims = self._issuer.verify(token, "access")
        except InvalidTokenError as exc:
            raise NotAuthorizedException(str(exc)) from None
        user = AuthUser(id=claims.user_id, username=claims.username, role=claims.role)
        return AuthenticationResult(user=user, auth=claims)
