"""What only the S3 store has: buckets, key prefixes, content types, paging (against moto)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from shared.config import Settings
from shared.objects import ObjectStoreUnavailableError, open_object_store
from shared.objects.s3 import S3ObjectStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.contract.conftest import MotoS3

pytestmark = pytest.mark.slow


async def test_ping_on_a_missing_bucket_names_the_problem(
    make_s3_store: Callable[..., S3ObjectStore],
) -> None:
    store = make_s3_store(bucket="quant-no-such-bucket")

    with pytest.raises(ObjectStoreUnavailableError, match=r"quant-no-such-bucket.*does not exist"):
        await store.ping()


async def test_prefixes_isolate_stores_sharing_a_bucket(
    make_s3_store: Callable[..., S3ObjectStore],
) -> None:
    # "tenant" must not see "tenant-b": the prefix is a folder, not a string prefix.
    tenant = make_s3_store(prefix="tenant")
    tenant_b = make_s3_store(prefix="tenant-b")
    await tenant.put("reports/daily.csv", b"tenant")
    await tenant_b.put("reports/daily.csv", b"tenant-b")
    await tenant_b.put("only-b.bin", b"b")

    assert await tenant.get("reports/daily.csv") == b"tenant"
    assert await tenant_b.get("reports/daily.csv") == b"tenant-b"
    assert await tenant.list() == ["reports/daily.csv"]
    assert not await tenant.exists("only-b.bin")

    await tenant.delete("reports/daily.csv")
    assert await tenant_b.get("reports/daily.csv") == b"tenant-b"


async def test_objects_live_under_the_prefix_with_their_content_type(
    make_s3_store: Callable[..., S3ObjectStore], moto_s3: MotoS3
) -> None:
    store = make_s3_store(prefix="deploy-a/objects/")
    await store.put("reports/daily.csv", b"a,b\n", content_type="text/csv")

    head = await asyncio.to_thread(
        moto_s3.client.head_object, Bucket=moto_s3.bucket, Key="deploy-a/objects/reports/daily.csv"
    )
    assert head["ContentType"] == "text/csv"
    assert head["ContentLength"] == 4


async def test_list_reads_every_page(make_s3_store: Callable[..., S3ObjectStore]) -> None:
    store = make_s3_store(list_page_size=2)  # S3 pages at 1,000 keys; 2 shows the same loop
    keys = [f"chunks/{index:02d}.bin" for index in range(7)]
    for key in reversed(keys):
        await store.put(key, key.encode())
    await store.put("other/x.bin", b"x")

    assert await store.list("chunks/") == keys
    assert len(await store.list()) == 8


async def test_open_object_store_builds_an_s3_store_from_settings(moto_s3: MotoS3) -> None:
    settings = Settings(
        objects="s3",
        s3_bucket=moto_s3.bucket,
        s3_prefix="from-settings",
        s3_endpoint_url=moto_s3.endpoint_url,
        aws_region="cn-north-1",
    )
    store = open_object_store(settings)
    try:
        assert isinstance(store, S3ObjectStore)
        await store.ping()
        await store.put("probe.txt", b"ok", content_type="text/plain")
        assert await store.get("probe.txt") == b"ok"
        assert await store.list() == ["probe.txt"]
    finally:
        await store.delete("probe.txt")
        await store.close()
