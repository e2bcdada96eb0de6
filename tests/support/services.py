"""Reaching the real services: PostgreSQL and Redis on this machine, per-run namespaces.

Each test run gets its own PostgreSQL database and Redis key prefix and removes them at the
end. With QUANT_REQUIRE_SERVICES=1 (CI) a missing service fails the test instead of skipping.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "QUANT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("QUANT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def services_required() -> bool:
    return os.environ.get("QUANT_REQUIRE_SERVICES", "") not in {"", "0", "false"}


def unavailable(service: str, reason: str) -> None:
    """Skip (a developer without the service) or fail (CI, which promises the service)."""
    message = f"{service} is not reachable: {reason}"
    if services_required():
        pytest.fail(f"{message} (QUANT_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def sqlalchemy_url(libpq_url: str, database: str) -> str:
    base = libpq_url.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{database}"
