from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from gateway.auth.passwords import (
    WeakPasswordError,
    check_password_policy,
    hash_password,
    verify_password,
)
from gateway.auth.tokens import InvalidTokenError, TokenIssuer
from shared.store import Role

SECRET = "s" * 40
NOW = datetime.now(UTC)


def test_password_hash_verifies_only_the_right_password() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$15$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_password("correct horse") != encoded  # salted


@pytest.mark.parametrize(
    "encoded", ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$15$8$1$!!$!!", "scrypt$x$8$1$aa$bb"]
)
def test_malformed_stored_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_password_policy() -> None:
    check_password_policy("8 chars!")
    with pytest.raises(WeakPasswordError, match="at least 8"):
        check_password_policy("short")
    with pytest.raises(WeakPasswordError, match="at most 256"):
        check_password_policy("x" * 257)


def _issuer(secret: str = SECRET) -> TokenIssuer:
    return TokenIssuer(secret, access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=7))


def test_tokens_carry_the_user_and_role() -> None:
    pair = _issuer().issue_pair(7, "ann", Role.TRADER, NOW)
    claims = _issuer().verify(pair.access_token, "access")
    assert (claims.user_id, claims.username, claims.role) == (7, "ann", Role.TRADER)
    assert claims.exp - claims.iat == 15 * 60
    refresh = _issuer().verify(pair.refresh_token, "refresh")
    assert refresh.exp - refresh.iat == 7 * 24 * 3600
    assert refresh.jti != claims.jti


def test_a_refresh_token_is_not_an_access_token_and_vice_versa() -> None:
    pair = _issuer().issue_pair(7, "ann", Role.VIEWER, NOW)
    with pytest.raises(InvalidTokenError, match="expected an access token"):
        _issuer().verify(pair.refresh_token, "access")
    with pytest.raises(InvalidTokenError, match="expected an refresh token"):
        _issuer().verify(pair.access_token, "refresh")


def test_expired_forged_and_tampered_tokens_are_refused() -> None:
    old = _issuer().issue("access", 7, "ann", Role.ADMIN, NOW - timedelta(hours=1))
    with pytest.raises(InvalidTokenError, match="expired"):
        _issuer().verify(old, "access")
    forged = _issuer("f" * 40).issue("access", 7, "ann", Role.ADMIN, NOW)
    with pytest.raises(InvalidTokenError, match="invalid token"):
        _issuer().verify(forged, "access")
    claims = jwt.decode(
        _issuer().issue("access", 7, "ann", Role.VIEWER, NOW), options={"verify_signature": False}
    )
    claims["role"] = "admin"
    header, _, signature = _issuer().issue("access", 7, "ann", Role.VIEWER, NOW).rpartition(".")
    tampered_payload = jwt.encode(claims, "o" * 40, algorithm="HS256").split(".")[1]
    tampered = f"{header.split('.')[0]}.{tampered_payload}.{signature}"
    with pytest.raises(InvalidTokenError):
        _issuer().verify(tampered, "access")
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        _issuer().verify(unsigned, "access")
    with pytest.raises(InvalidTokenError):
        _issuer().verify("not.a.jwt", "access")
