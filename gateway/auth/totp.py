"""TOTP (RFC 6238) over ``pyotp``: secrets, provisioning URIs, and codes usable once.

Codes are 6 digits on 30-second steps, as every authenticator app expects. One step either side
of now is accepted to absorb clock drift between the phone and the server.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "quant-backend"
DIGITS = 6
STEP_SECONDS = 30
# Steps accepted either side of the current one.
WINDOW = 1


def new_secret() -> str:
    """A random base32 secret (160 bits, the RFC 4226 recommendation)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app imports (usually shown as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code is ``code`` within the window around ``now``, or None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    found: int | None = None
    # Every candidate is compared, so the time taken does not reveal which step matched.
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


class TotpVerifier:
    """Verifies codes and refuses any code at or before the last step accepted for the user.

    Without this a code seen over someone's shoulder (or in a proxy log) would stay usable for
    up to a minute and a half. The last steps live in this process's memory only.
    """

    def __init__(self) -> None:
        self._last_step: dict[int, int] = {}

    def verify(self, user_id: int, secret: str, code: str, now: datetime) -> bool:
        step = matching_step(secret, code, now)
        if step is None or step <= self._last_step.get(user_id, -1):
            return False
        self._last_step[user_id] = step
        return True

    def reset(self) -> None:
        self._last_step.clear()
