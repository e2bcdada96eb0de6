"""Object store on a local directory (the embedded default)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from shared.objects._keys import check_key, check_prefix
from shared.objects._port import ObjectNotFoundError, ObjectStoreUnavailableError


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self._root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    async def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        del content_type  # a file has no content type; S3 keeps it
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Write then rename so a reader never sees half an object.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        return await asyncio.to_thread(_list_files, self._root, prefix)

    async def ping(self) -> None:
        try:
            await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise ObjectStoreUnavailableError(f"cannot use {self._root}: {exc}") from exc

    async def close(self) -> None:
        return None


def _list_files(root: Path, prefix: str) -> list[str]:
    if not root.is_dir():
        return []
    keys = (
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".tmp-")
    )
    return sorted(key for key in keys if key.startswith(prefix))
