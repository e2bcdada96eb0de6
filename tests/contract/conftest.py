"""Contract-suite fixtures: one moto S3 server per session, with a bucket made for this run."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from shared.objects.s3 import S3ObjectStore
from tests.support.moto import MotoServerError, fake_aws_credentials, running_moto_server
from tests.support.services import RUN_ID, unavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

REGION = "cn-north-1"


@dataclass(frozen=True, slots=True)
class MotoS3:
    endpoint_url: str
    bucket: str
    client: Any  # a boto3 S3 client, for looking behind a store's back


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """A running moto S3 server, fake credentials in the environment and an empty bucket."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_moto_server())
        except MotoServerError as exc:
            unavailable("moto S3 server", str(exc))
        stack.enter_context(fake_aws_credentials())
        client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION)
        stack.callback(client.close)
        bucket = f"quant-test-{RUN_ID}"
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield MotoS3(server.endpoint_url, bucket, client)


@pytest.fixture
async def make_s3_store(moto_s3: MotoS3) -> AsyncIterator[Callable[..., S3ObjectStore]]:
    """Builds S3 stores on the session bucket; each test's prefixes are emptied afterwards."""
    stores: list[S3ObjectStore] = []

    def make(
        prefix: str | None = None, bucket: str | None = None, list_page_size: int = 1000
    ) -> S3ObjectStore:
        store = S3ObjectStore(
            bucket=bucket or moto_s3.bucket,
            prefix=f"t-{uuid.uuid4().hex[:12]}" if prefix is None else prefix,
            endpoint_url=moto_s3.endpoint_url,
            region=REGION,
            list_page_size=list_page_size,
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        if store.bucket == moto_s3.bucket:
            for key in await store.list():
                await store.delete(key)
        await store.close()
