"""Access, refresh and trading tokens: HS256 JWTs signed with the configured secret.

A trading token is the short-lived proof of a trading-password (and TOTP) step-up; it is never
accepted where an access token is expected, nor the other way round.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Literal

import jwt
import msgspec

from shared.store import Role

TokenType = Literal["access", "refresh", "trading"]
_ALGORITHM = "HS256"
_VERIFIED_KEPT = 10_000
_ISSUER = "quant-backend"


class InvalidTokenError(Exception):
    """The token is missing, malformed, expired, forged or of the wrong type."""


class TokenClaims(msgspec.Struct, frozen=True, kw_only=True):
    sub: str  # user id
    username: str
    role: Role
    type: TokenType
    iat: int
    exp: int
    jti: str
    iss: str = _ISSUER

    @property
    def user_id(self) -> int:
        return int(self.sub)


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int
    refresh_expires_in: int
    role: Role


class TokenIssuer:
    def __init__(
        self,
        secret: str,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        trading_ttl: timedelta = timedelta(minutes=10),
    ) -> None:
        self._secret = secret
        self._verified: dict[str, TokenClaims] = {}
        self._ttl: dict[TokenType, timedelta] = {
            "access": access_ttl,
            "refresh": refresh_ttl,
            "trading": trading_ttl,
        }

    def ttl(self, token_type: TokenType) -> timedelta:
        return self._ttl[token_type]

    def issue(
        self, token_type: TokenType, user_id: int, username: str, role: Role, now: datetime
    ) -> str:
        issued = int(now.timestamp())
        claims = TokenClaims(
            sub=str(user_id),
            username=username,
            role=role,
            type=token_type,
            iat=issued,
            exp=issued + int(self._ttl[token_type].total_seconds()),
            jti=uuid.uuid4().hex,
        )
        return jwt.encode(msgspec.to_builtins(claims), self._secret, algorithm=_ALGORITHM)

    def issue_pair(self, user_id: int, username: str, role: Role, now: datetime) -> TokenPair:
        return TokenPair(
            access_token=self.issue("access", user_id, username, role, now),
            refresh_token=self.issue("refresh", user_id, username, role, now),
            expires_in=int(self._ttl["access"].total_seconds()),
            refresh_expires_in=int(self._ttl["refresh"].total_seconds()),
            role=role,
        )

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        # A token checked before is not checked again until it expires: the signature check
        # costs more than the rest of a request. Keyed by the whole token, signature and
        # all, so a token that differs in a single byte is checked afresh.
        claims = self._verified.get(token)
        if claims is None or claims.exp <= time.time():
            claims = self._decode(token)
            if len(self._verified) >= _VERIFIED_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims.type != expected:
            raise InvalidTokenError(f"expected an {expected} token, got a {claims.type} token")
        return claims

    def _decode(self, token: str) -> TokenClaims:
        try:
            raw = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "jti"]},
            )
            claims = msgspec.convert(raw, TokenClaims)
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("token has expired") from None
        except (jwt.InvalidTokenError, msgspec.ValidationError) as exc:
            raise InvalidTokenError(f"invalid token: {exc}") from None
        return claims
