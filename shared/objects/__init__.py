"""Object store port and its implementations: a local directory or S3."""

from __future__ import annotations

from shared.config import Settings
from shared.objects._keys import check_key
from shared.objects._port import ObjectNotFoundError, ObjectStore, ObjectStoreUnavailableError
from shared.objects.local import LocalObjectStore


def open_object_store(settings: Settings) -> ObjectStore:
    if settings.objects == "s3":
        from shared.objects.s3 import S3ObjectStore  # noqa: PLC0415  (boto3 is slow to import)

        return S3ObjectStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
        )
    return LocalObjectStore(settings.objects_dir)


__all__ = [
    "LocalObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "ObjectStoreUnavailableError",
    "check_key",
    "open_object_store",
]
