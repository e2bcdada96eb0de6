"""Object store on S3 (or anything speaking its API: MinIO, moto) through boto3.

boto3 is blocking, so every call runs in a worker thread; one client is shared because boto3
clients are thread-safe and expensive to build. Keys live under an optional prefix, which lets
several deployments share one bucket without seeing each other's objects.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.objects._keys import check_key, check_prefix
from shared.objects._port import ObjectNotFoundError, ObjectStoreUnavailableError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
_DENIED_CODES = frozenset({"403", "AccessDenied", "Forbidden"})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _list_keys(
    client: S3Client, bucket: str, store_prefix: str, prefix: str, page_size: int
) -> list[str]:
    # A module function: inside the class, `list` names the port's method, not the builtin.
    keys: list[str] = []
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=store_prefix + prefix, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        keys.extend(item["Key"].removeprefix(store_prefix) for item in page.get("Contents", []))
    return sorted(keys)


class S3ObjectStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "cn-north-1",
        *,
        list_page_size: int = 1000,
    ) -> None:
        if not bucket:
            raise ValueError("S3 object store needs a bucket name")
        if not 1 <= list_page_size <= 1000:
            raise ValueError(
                f"list_page_size must be in 1..1000 (S3's limit), got {list_page_size}"
            )
        self._list_page_size = list_page_size
        check_prefix(prefix)
        self._bucket = bucket
        # The prefix is a folder: "tenant-a" and "tenant-ab" must not see each other's keys.
        self._prefix = prefix if prefix == "" or prefix.endswith("/") else f"{prefix}/"
        self._where = f"s3://{bucket}/{self._prefix} ({endpoint_url or f'AWS {region}'})"
        config = Config(
            connect_timeout=2,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # MinIO and moto serve buckets as paths, not as virtual hosts.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self._client: S3Client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    def _full_key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def _unavailable(self, action: str, exc: Exception) -> ObjectStoreUnavailableError:
        return ObjectStoreUnavailableError(f"cannot {action} in {self._where}: {exc}")

    async def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        full_key = self._full_key(key)
        try:
            await asyncio.to_thread(
                self._client.put_object,
                Bucket=self._bucket,
                Key=full_key,
                Body=data,
                ContentType=content_type,
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"put {key!r}", exc) from exc

    async def get(self, key: str) -> bytes:
        full_key = self._full_key(key)
        try:
            return await asyncio.to_thread(self._read, full_key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFoundError(key) from None
            raise self._unavailable(f"get {key!r}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"get {key!r}", exc) from exc

    def _read(self, full_key: str) -> bytes:
        response = self._client.get_object(Bucket=self._bucket, Key=full_key)
        with response["Body"] as body:
            return body.read()

    async def exists(self, key: str) -> bool:
        full_key = self._full_key(key)
        try:
            await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=full_key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return False
            raise self._unavailable(f"look up {key!r}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"look up {key!r}", exc) from exc
        return True

    async def delete(self, key: str) -> None:
        full_key = self._full_key(key)
        try:
            # S3 answers 204 for an absent key too, which is the port's contract.
            await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=full_key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"delete {key!r}", exc) from exc

    async def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        try:
            return await asyncio.to_thread(
                _list_keys, self._client, self._bucket, self._prefix, prefix, self._list_page_size
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"list {prefix!r}", exc) from exc

    async def ping(self) -> None:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self._bucket)
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NO_BUCKET_CODES:
                reason = "the bucket does not exist"
            elif code in _DENIED_CODES:
                reason = "access denied (check the credentials and the bucket policy)"
            else:
                reason = str(exc)
            raise ObjectStoreUnavailableError(f"{self._where} is not usable: {reason}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreUnavailableError(f"{self._where} is unreachable: {exc}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
