"""Column types that give each backend its natural shape while the code sees one.

PostgreSQL users query ``timestamptz`` and ``jsonb``; SQLite keeps what it has always stored (unix
epoch seconds as REAL for the ledger's times, ISO 8601 text for ``ingested_at``, JSON as text for
JSON1). The Python side is the same on both: epoch seconds as ``float``, ``ingested_at`` as an
ISO 8601 string, JSON as dicts and lists. So the ledger's arithmetic on times (``now + lease``)
stays in Python and every comparison with a bound value converts through the column's type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class EpochTime(TypeDecorator[float]):
    """Unix epoch seconds in Python; ``timestamptz`` on PostgreSQL, REAL elsewhere."""

    impl = Float
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(Float())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql" or isinstance(value, datetime):
            return value
        return datetime.fromtimestamp(value, UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        if isinstance(value, datetime):
            return value.timestamp()
        return value


class IsoTime(TypeDecorator[str]):
    """An ISO 8601 UTC string in Python (``2026-11-25T17:47:37.936324+00:00``); ``timestamptz``
    on PostgreSQL, that text elsewhere (it sorts in time order as text: one format, one zone)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return value


def json_column_type(*, none_as_null: bool = False) -> TypeEngine[Any]:
    """JSON text on SQLite (JSON1 reads it), ``jsonb`` on PostgreSQL (GIN-indexable)."""
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )
