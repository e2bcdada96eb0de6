"""Each user's saved indicator formulas (``indicator_formulas``): a name, the expression as
the user wrote it, and a description; unique per user and name, replaced when saved again."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.domain import to_utc
from shared.store.tables import FormulaRow

if TYPE_CHECKING:
    from sqlalchemy import CursorResult
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class SavedFormula(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    expression: str
    description: str = ""
    updated_at: datetime


def _saved(row: FormulaRow) -> SavedFormula:
    return SavedFormula(
        name=row.name,
        expression=row.expression,
        description=row.description,
        updated_at=row.updated_at,
    )


class FormulaStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(
        self, user_id: int, name: str, expression: str, description: str, *, now: datetime
    ) -> SavedFormula:
        values = {
            "user_id": user_id,
            "name": name,
            "expression": expression,
            "description": description,
            "updated_at": to_utc(now),
        }
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(FormulaRow).values(values)
            statement = statement.on_conflict_do_update(
                index_elements=["user_id", "name"],
                set_={
                    k: statement.excluded[k] for k in ("expression", "description", "updated_at")
                },
            )
            await session.execute(statement)
        return SavedFormula(
            name=name, expression=expression, description=description, updated_at=to_utc(now)
        )

    async def list(self, user_id: int) -> list[SavedFormula]:
        query = select(FormulaRow).where(FormulaRow.user_id == user_id).order_by(FormulaRow.name)
        async with self._sessions() as session:
            return [_saved(row) for row in await session.scalars(query)]

    async def get(self, user_id: int, name: str) -> SavedFormula | None:
        query = select(FormulaRow).where(FormulaRow.user_id == user_id, FormulaRow.name == name)
        async with self._sessions() as session:
            row = await session.scalar(query)
        return None if row is None else _saved(row)

    async def delete(self, user_id: int, name: str) -> bool:
        async with self._sessions.begin() as session:
            statement = delete(FormulaRow).where(
                FormulaRow.user_id == user_id, FormulaRow.name == name
            )
            result = cast("CursorResult[Any]", await session.execute(statement))
        return result.rowcount > 0
