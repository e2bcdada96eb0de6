"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

EnumT = TypeVar("EnumT", bound=StrEnum)


class NaiveDatetimeError(ValueError):
    """A timestamp without a time zone reached the database layer."""


class UTCDateTime(TypeDecorator[datetime]):
    """An aware timestamp, stored in UTC and always read back as an aware UTC datetime.

    A naive value is refused rather than guessed: its zone (exchange local? UTC? the host?) is
    exactly the ambiguity this project rules out. SQLite keeps no offset, so UTC is implied there.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(
                f"refusing to store the naive datetime {value.isoformat()}: "
                "pass a timezone-aware datetime (storage is UTC)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME text has no offset; drop it explicitly after converting to UTC.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002  (SQLAlchemy's signature)
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumText(TypeDecorator[EnumT], Generic[EnumT]):
    """A StrEnum stored as its plain string value (no native enum type: new values need no DDL)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[EnumT], length: int = 16) -> None:
        longest = max(len(member.value) for member in enum)
        if longest > length:
            raise ValueError(
                f"{enum.__name__} has a value of {longest} chars, longer than {length}"
            )
        super().__init__(length)
        self.enum = enum

    def process_bind_param(
        self,
        value: EnumT | str | None,
        dialect: Dialect,  # noqa: ARG002  (SQLAlchemy's signature)
    ) -> str | None:
        if value is None:
            return None
        return self.enum(value).value  # raises ValueError on a value outside the enum

    def process_result_value(
        self,
        value: str | None,
        dialect: Dialect,  # noqa: ARG002  (SQLAlchemy's signature)
    ) -> EnumT | None:
        return None if value is None else self.enum(value)

    @property
    def python_type(self) -> type[EnumT]:
        return self.enum


# JSONB on PostgreSQL (indexable, compact); SQLite stores the JSON text.
JSONDocument: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

# 64-bit surrogate keys; SQLite only auto-increments an INTEGER PRIMARY KEY (its rowid).
BigIdentity: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
