"""The ObjectStore contract, run against every implementation: local directory and S3 (moto)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from shared.objects import (
    LocalObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreUnavailableError,
)
from shared.objects.s3 import S3ObjectStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.slow)]
BINARY = bytes(range(256)) * 64 + b"\x00\xff"  # every byte value, NULs included

INVALID_KEYS = ["", "../x", "a//b", "/abs", "a/./b", "a/../b", "trailing/", "sp ace"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    make_s3_store: Callable[..., S3ObjectStore] = request.getfixturevalue("make_s3_store")
    return make_s3_store()


@pytest.fixture(params=BACKENDS)
async def unusable_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ObjectStore]:
    """A store whose first real I/O fails, to prove key checks happen before any I/O."""
    if request.param == "local":
        blocker = tmp_path / "a-file"
        blocker.write_bytes(b"not a directory")
        yield LocalObjectStore(blocker / "objects")
        return
    request.getfixturevalue("moto_s3")  # fake credentials, so only the endpoint is wrong
    # Nothing listens on port 1: any request fails with a connection error.
    store = S3ObjectStore(bucket="quant-nowhere", endpoint_url="http://127.0.0.1:1")
    yield store
    await store.close()


async def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    await store.put("backtests/42/equity.parquet", BINARY)
    await store.put("empty.bin", b"")

    assert await store.get("backtests/42/equity.parquet") == BINARY
    assert await store.get("empty.bin") == b""


async def test_put_overwrites(store: ObjectStore) -> None:
    await store.put("reports/daily.csv", b"old,1\n", content_type="text/csv")
    await store.put("reports/daily.csv", b"new,2\n", content_type="text/csv")

    assert await store.get("reports/daily.csv") == b"new,2\n"
    assert await store.list("reports/") == ["reports/daily.csv"]


async def test_exists(store: ObjectStore) -> None:
    assert not await store.exists("reports/daily.csv")
    await store.put("reports/daily.csv", b"x")

    assert await store.exists("reports/daily.csv")
    assert not await store.exists("reports")  # a folder is not an object
    assert not await store.exists("reports/daily.csv.bak")


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put("a/b.bin", b"1")
    await store.put("a/c.bin", b"2")

    await store.delete("a/b.bin")
    await store.delete("a/b.bin")
    await store.delete("never/there.bin")

    assert not await store.exists("a/b.bin")
    assert await store.get("a/c.bin") == b"2"
    with pytest.raises(ObjectNotFoundError):
        await store.get("a/b.bin")


async def test_list_filters_by_prefix_and_sorts(store: ObjectStore) -> None:
    keys = [
        "reports/b.csv",
        "reports/a.csv",
        "reports/2024/z.csv",
        "reports-old/x.csv",
        "backtests/1/equity.parquet",
    ]
    for key in keys:
        await store.put(key, key.encode())

    assert await store.list() == sorted(keys)
    assert await store.list("reports/") == ["reports/2024/z.csv", "reports/a.csv", "reports/b.csv"]
    assert await store.list("reports") == [
        "reports-old/x.csv",
        "reports/2024/z.csv",
        "reports/a.csv",
        "reports/b.csv",
    ]
    assert await store.list("nothing/") == []


async def test_missing_key_raises_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError) as raised:
        await store.get("reports/missing.csv")

    assert isinstance(raised.value, KeyError)
    assert "reports/missing.csv" in str(raised.value)


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_are_refused_before_any_io(
    unusable_store: ObjectStore, key: str
) -> None:
    with pytest.raises(ValueError, match="object key"):
        await unusable_store.put(key, b"x")
    with pytest.raises(ValueError, match="object key"):
        await unusable_store.get(key)
    with pytest.raises(ValueError, match="object key"):
        await unusable_store.exists(key)
    with pytest.raises(ValueError, match="object key"):
        await unusable_store.delete(key)


async def test_invalid_list_prefix_is_refused(unusable_store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="object key"):
        await unusable_store.list("../")


async def test_ping_succeeds_on_a_usable_store(store: ObjectStore) -> None:
    await store.ping()


async def test_ping_on_an_unusable_store_raises_unavailable(unusable_store: ObjectStore) -> None:
    with pytest.raises(ObjectStoreUnavailableError):
        await unusable_store.ping()
