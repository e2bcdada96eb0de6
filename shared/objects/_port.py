"""The object store port: reports, backtest artifacts and large function results."""

from __future__ import annotations

from typing import Protocol


class ObjectNotFoundError(KeyError):
    """No object under that key."""


class ObjectStoreUnavailableError(ConnectionError):
    """The backend cannot be reached."""


class ObjectStore(Protocol):
    """Keys are ``/``-separated relative paths (``backtests/42/equity.parquet``); no ``..``."""

    async def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None: ...

    async def get(self, key: str) -> bytes:
        """Raise ``ObjectNotFoundError`` when absent."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Deleting an absent key is not an error."""

    async def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
