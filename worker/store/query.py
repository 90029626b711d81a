"""Which article records to read: a filter (``ArticleFilter``) and the SQL it becomes.

``newsingest articles`` and ``newsingest export`` build an ``ArticleFilter`` from their options;
``article_query`` turns it into one ``SELECT`` over ``articles`` (records in the order they were
first ingested), and ``Store.iter_articles`` streams its rows a page at a time with their sources.

The same filter on both backends: SQLite through JSON1 (``json_each``), PostgreSQL through
``jsonb`` functions on the columns cast to ``jsonb`` (a no-op once they are ``jsonb``), so the
code works whether the enrichment columns are ``json`` or ``jsonb``. Nothing here imports
typer, Celery or a PostgreSQL dialect module unless the store is PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, exists, func, or_, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from worker.store.schema import articles

# the kinds of --person/--org/--place in the record's ``entities``
ENTITY_KINDS = {"person": "person", "org": "org", "place": "location"}


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """What to read. Every field left at its default keeps all records (canonical ones only,
    unless ``include_duplicates`` or ``versions_of``).

    Attributes:
        since, until: ``ingested_at`` in ``[since, until)``; naive datetimes are UTC.
        language: ISO 639-1 (``en``), any case.
        country: ISO 3166-1 alpha-2 in ``countries`` (``RU``), any case.
        person, org, place: an entity's ``text`` in ``entities.person`` / ``org`` /
            ``location``, the whole text, case-insensitive (on SQLite, for ASCII letters only:
            its ``lower()`` leaves other letters as they are).
        credit: ``image_credit`` (``AFP``), case-insensitive like the entities.
        search: text in the title or the body, case-insensitive.
        versions_of: an article id: its story (the canonical record and all its versions, the
            id given being either); implies the versions.
        include_duplicates: versions (near-duplicates) too, not only canonical records.
        limit: at most this many records.
    """

    since: datetime | None = None
    until: datetime | None = None
    language: str | None = None
    country: str | None = None
    person: str | None = None
    org: str | None = None
    place: str | None = None
    credit: str | None = None
    search: str | None = None
    versions_of: str | None = None
    include_duplicates: bool = False
    limit: int | None = None


def article_query(selected: ArticleFilter, dialect: str) -> Select[Any]:
    """``SELECT articles.* … ORDER BY`` first ingestion, for a store of ``dialect``
    (``engine.dialect.name``: ``sqlite`` or ``postgresql``)."""
    query = select(articles).where(*filter_clauses(selected, dialect))
    query = query.order_by(articles.c.ingested_at, articles.c.first_sha256, articles.c.first_index)
    if selected.limit is not None:
        query = query.limit(selected.limit)
    return query


def count_query(selected: ArticleFilter, dialect: str) -> Select[Any]:
    """How many records ``article_query`` gives (``limit`` applied)."""
    matching = select(articles.c.id).where(*filter_clauses(selected, dialect))
    if selected.limit is not None:
        matching = matching.limit(selected.limit)
    return select(func.count()).select_from(matching.subquery())


def filter_clauses(selected: ArticleFilter, dialect: str) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions of ``selected``, ANDed by the caller."""
    a = articles.c
    clauses: list[ColumnElement[bool]] = []
    if selected.versions_of is not None:
        # the story of that id: its canonical record's id (itself when it is the canonical one)
        canonical = (
            select(func.coalesce(a.duplicate_of, a.id))
            .where(a.id == selected.versions_of)
            .scalar_subquery()
        )
        story = func.coalesce(canonical, selected.versions_of)
        clauses.append(or_(a.id == story, a.duplicate_of == story))
    elif not selected.include_duplicates:
        clauses.append(_canonical_clause(dialect))
    if selected.since is not None:
        clauses.append(a.ingested_at >= _ingested_at_bound(selected.since))
    if selected.until is not None:
        clauses.append(a.ingested_at < _ingested_at_bound(selected.until))
    if selected.language is not None:
        clauses.append(a.language == selected.language.strip().lower())
    if selected.credit is not None:
        clauses.append(func.lower(a.image_credit) == func.lower(selected.credit.strip()))
    if selected.country is not None:
        clauses.append(_country_clause(selected.country.strip().upper(), dialect))
    for option, kind in ENTITY_KINDS.items():
        text = getattr(selected, option)
        if text is not None:
            clauses.append(_entity_clause(kind, text.strip(), dialect))
    if selected.search is not None:
        clauses.append(_search_clause(selected.search, selected.language, dialect))
    return clauses


def _canonical_clause(dialect: str) -> ColumnElement[bool]:
    """Canonical records only: ``duplicate_of IS NULL``.

    Most records are canonical, but SQLite's planner, without statistics (nothing runs ANALYZE
    there), takes ``ix_articles_duplicate_of`` for this condition, then sorts every canonical
    record into a temporary b-tree before returning the first: ``articles --limit 10`` read the
    whole store. Written ``+duplicate_of IS NULL`` (SQLite's way of keeping a term off an index),
    the records come in ``ix_articles_order`` order, the first at once. PostgreSQL plans from
    its statistics."""
    column = articles.c.duplicate_of
    if dialect == "sqlite":
        column = UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
    return column.is_(None)


def _ingested_at_bound(moment: datetime) -> Any:
    """The value ``ingested_at`` is compared with for ``moment``.

    The column's type (``IsoTime``) takes ISO 8601 UTC strings as written by
    ``datetime.isoformat()`` (``2026-11-25T17:47:37.936324+00:00``): SQLite stores that text,
    which sorts in time order (``+`` before ``.`` before the digits), and an instant equal to a
    stored one compares equal; on PostgreSQL the type binds it as a ``timestamptz``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _search_clause(text: str, language: str | None, dialect: str) -> ColumnElement[bool]:
    """``--search``: the records whose title or body match ``text`` (web-search syntax: words,
    "a phrase", OR, -word), through the full-text index (``worker/store/search.py``): the
    ``search`` tsvector on PostgreSQL (the query read in ``language``'s configuration when the
    filter names one, else in each article's own), FTS5 on SQLite."""
    from worker.store.search import search_clause

    return search_clause(dialect, text, language.strip().lower() if language else None)


def _country_clause(code: str, dialect: str) -> ColumnElement[bool]:
    """``code`` is one of the record's ``countries`` (stored upper-case)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        # containment: what the GIN index on countries (migration 0002) answers; NULL: no match
        return cast(articles.c.countries, JSONB).contains([code])
    element = func.json_each(articles.c.countries).table_valued("value").alias("country")
    return exists(select(1).select_from(element).where(element.c.value == code))


def _entity_clause(kind: str, text: str, dialect: str) -> ColumnElement[bool]:
    """An entity of ``kind`` (``person``, ``org``, ``location``) whose ``text`` is ``text``,
    ignoring case. ``entities`` is ``{"person": [{"text", "count"}], …}`` or null.

    PostgreSQL: ``newsingest_entity_keys(entities)`` (migration 0002) is the array of every
    ``kind:lower(name)`` of a record, GIN-indexed: containment of ``kind:lower(text)`` is one
    index lookup. SQLite: ``json_each`` over the kind's list, record by record."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY, TEXT, array

        wanted = array([func.concat(f"{kind}:", func.lower(text))], type_=TEXT)
        keys = func.newsingest_entity_keys(articles.c.entities, type_=ARRAY(TEXT))
        return keys.op("@>")(wanted)
    element = func.json_each(articles.c.entities, f"$.{kind}").table_valued("value").alias("entity")
    name = func.json_extract(element.c.value, "$.text")
    return exists(select(1).select_from(element).where(func.lower(name) == func.lower(text)))


# --- --since / --until --------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A ``--since``/``--until`` value as an aware UTC datetime.

    Accepted: an ISO 8601 date (``2026-11-25``: its midnight, UTC), date and time
    (``2026-11-25T17:47``, ``2026-11-25 17:47:37``; UTC unless it carries an offset such as
    ``+02:00`` or ``Z``), or a time before now: a number and a unit, ``s``, ``m``, ``h``, ``d``
    or ``w`` (``90m``, ``24h``, ``7d``, ``2w``). Raises ``ValueError`` otherwise."""
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative[1]), relative[2].lower()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 date or datetime (2026-11-25, 2026-11-25T17:47,"
            " 2026-11-25T17:47:00+02:00) nor a time ago such as 90m, 24h, 7d, 2w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
