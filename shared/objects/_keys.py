"""Object keys are validated once, here, for every backend."""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"[A-Za-z0-9._=-]+")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative path, else raise ``ValueError`` saying why."""
    if not key or len(key) > 1024:
        raise ValueError("object key must have 1 to 1024 characters")
    parts = key.split("/")
    for part in parts:
        if part in {"", ".", ".."} or not _SEGMENT.fullmatch(part):
            raise ValueError(f"object key {key!r} has an invalid segment {part!r}")
    return key


def check_prefix(prefix: str) -> str:
    if prefix == "":
        return prefix
    check_key(prefix.rstrip("/"))
    return prefix
