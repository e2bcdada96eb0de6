"""Taking a row's write lock before reading it, the same way on both databases.

A read-modify-write (an order and its next event, an account and its booking run) must not
interleave with another one on the same row. PostgreSQL would let ``SELECT ... FOR UPDATE``
do it; SQLite ignores that clause, and its deferred transactions let two writers read the same
old state before either writes. A no-op ``UPDATE`` as the first statement takes a row lock on
PostgreSQL and the database's write lock on SQLite (waiting out ``busy_timeout``), so the second
writer reads only once the first has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def lock_row(session: AsyncSession, key: InstrumentedAttribute[Any], value: object) -> None:
    """Lock the row(s) of ``key``'s table where ``key == value`` until the transaction ends."""
    statement = update(key.class_).where(key == value).values({key.key: key})
    await session.execute(statement)


async def lock_rows(
    session: AsyncSession, key: InstrumentedAttribute[Any], values: Sequence[object]
) -> None:
    """`lock_row` for every row whose ``key`` is one of ``values``."""
    statement = update(key.class_).where(key.in_(values)).values({key.key: key})
    await session.execute(statement)
