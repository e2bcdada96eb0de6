"""Password hashing with scrypt (memory-hard KDF from the standard library).

Encoded as ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`` so parameters can be raised later
without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_LOG2_N = 15  # 2**15 * 8 * 128 bytes = 32 MiB per hash: ~60 ms here, costly to brute-force
_R = 8
_P = 1
_KEY_BYTES = 32
_MAXMEM = 128 * 1024 * 1024

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class WeakPasswordError(ValueError):
    fields = ["password"]  # noqa: RUF012  (read by the error handler)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, _LOG2_N, _R, _P)
    return f"scrypt${_LOG2_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, log2_n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _derive(password, _unb64(salt), int(log2_n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the user does not exist, so that a wrong username costs as much time
# as a wrong password and usernames cannot be probed by timing.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
