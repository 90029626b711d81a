"""The filters of ``articles``/``export`` (worker/store/query.py) on a real store, SQLite and
PostgreSQL: each filter keeps the records it should and drops the others; records are streamed."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.helpers_unit import sha
from worker.dedupe import article_id
from worker.models import ArticleRecord, ParsedArticle, Source
from worker.store import Store
from worker.store.db import insert_ignore
from worker.store.query import ArticleFilter, _ingested_at_bound, parse_moment
from worker.store.schema import articles, sources

FILE = "query.txt"
SHA = sha(FILE)


def _word(key: str, i: int) -> str:
    """The ``i``-th word of ``key``'s body: letters only, so that a search for digits finds
    only what a title says."""
    return key + "".join(chr(ord("a") + int(d)) for d in str(i))


def _body(key: str, words: int = 80, last: str = "end") -> str:
    """A body of words no other story shares (so that only a deliberate version is one)."""
    return " ".join(_word(key, i) for i in range(words - 1)) + f" {last}"


def _story(
    key: str,
    title: str,
    ingested_at: str,
    *,
    body: str | None = None,
    language: str | None = "en",
    countries: list[str] | None = None,
    people: tuple[str, ...] = (),
    orgs: tuple[str, ...] = (),
    places: tuple[str, ...] = (),
    credit: str | None = None,
    entities: bool = True,
) -> ArticleRecord:
    body = body if body is not None else _body(key)
    parsed = ParsedArticle(title=title, paragraphs=(body,))
    return ArticleRecord(
        id=article_id(parsed),
        title=title,
        body=body,
        image_caption=f"A caption ({credit})" if credit else None,
        image_credit=credit,
        lead=body,
        language=language,
        countries=countries,
        entities=(
            {
                "person": [{"text": t, "count": 2} for t in people],
                "org": [{"text": t, "count": 1} for t in orgs],
                "location": [{"text": t, "count": 3} for t in places],
            }
            if entities
            else None
        ),
        ingested_at=ingested_at,
        pipeline_version="test",
    )


# In ingest order. "lavrov_v2" is a version of "lavrov" (one word changed): the publish links it.
STORIES: dict[str, ArticleRecord] = {
    "lavrov": _story(
        "lavrov",
        "Lavrov: Moscow keeps talking to Damascus",
        "2026-11-20T10:00:00.250000+00:00",
        countries=["RU", "SY"],
        people=("Sergei Lavrov", "Bashar al-Assad"),
        orgs=("United Nations",),
        places=("Syria", "Moscow"),
        credit="AFP",
    ),
    "lavrov_v2": _story(
        "lavrov_v2",
        "Lavrov: Moscow keeps talking to Damascus",
        "2026-11-21T10:00:00.500000+00:00",
        body=_body("lavrov", last="finish"),
        countries=["RU", "SY"],
        people=("Sergei Lavrov",),
        orgs=("United Nations",),
        places=("Syria",),
        credit="AFP",
    ),
    "harbour": _story(
        "harbour",
        "Harbour fees: a 50% rise for the fishing fleet",
        "2026-11-22T00:00:00+00:00",  # exactly midnight: isoformat() writes no fraction
        countries=["GB"],
        people=("Ann Smith",),
        orgs=("Harbour Board", "United Nations Development Programme"),
        places=("Bristol",),
        credit="AP",
    ),
    "cairo": _story(
        "cairo",
        "القاهرة: 500 قارب في الميناء",
        "2026-11-23T08:30:00.000001+00:00",
        language="ar",
        countries=["EG"],
        credit="Reuters",
        entities=False,  # null for non-English articles
    ),
    "bare": _story(
        "bare",
        "A bare article without enrichment",
        "2026-11-24T12:00:00.999999+00:00",
        language=None,
        entities=False,
    ),
}
TITLES = {key: record.title for key, record in STORIES.items()}


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.integration)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/query.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = Store.from_url(url)
    yield store
    store.close()


def publish_stories(store: Store) -> None:
    """The stories published as a worker does: one file, the near-duplicate index deciding."""
    records = [
        replace(r, sources=[Source(file=FILE, sha256=SHA, index=i, line=1 + 10 * i)])
        for i, r in enumerate(STORIES.values())
    ]
    store.ledger.claim(SHA, FILE, f"/work/{SHA}", 1)
    assert store.ledger.start(SHA, "t-query", lease_seconds=60) is not None
    counts = store.publish(
        SHA, FILE, records, owner="t-query", failed=0, unplaced=0, encoding="utf-8"
    )
    assert (counts.new, counts.near_duplicates) == (5, 1)


@pytest.fixture
def filled(store: Store) -> Store:
    publish_stories(store)
    return store


def _keys(store: Store, **options) -> list[str]:
    """The stories ``ArticleFilter(**options)`` gives, in order (the store's answer, by key)."""
    by_id = {record.id: key for key, record in STORIES.items()}
    return [by_id[r.id] for r in store.iter_articles(ArticleFilter(**options))]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestFilters:
    def test_no_filter_gives_canonical_records_in_ingest_order(self, filled: Store):
        assert _keys(filled) == ["lavrov", "harbour", "cairo", "bare"]
        assert _keys(filled, include_duplicates=True) == list(STORIES)

    def test_since_is_inclusive_until_exclusive(self, filled: Store):
        """``[since, until)`` on ingested_at, to the microsecond, a stored instant included as
        ``since`` and excluded as ``until``."""
        assert _keys(filled, since=_at("2026-11-22T00:00:00+00:00")) == ["harbour", "cairo", "bare"]
        assert _keys(filled, since=_at("2026-11-22T00:00:00.000001+00:00")) == ["cairo", "bare"]
        assert _keys(filled, until=_at("2026-11-22T00:00:00+00:00")) == ["lavrov"]
        assert _keys(filled, until=_at("2026-11-22T00:00:00.000001+00:00")) == [
            "lavrov",
            "harbour",
        ]
        window = {"since": _at("2026-11-20T10:00:00.25+00:00"), "until": _at("2026-11-23")}
        assert _keys(filled, **window, include_duplicates=True) == [
            "lavrov",
            "lavrov_v2",
            "harbour",
        ]

    def test_since_in_another_zone_and_naive_is_utc(self, filled: Store):
        """An aware bound is converted to UTC; a naive one is taken as UTC."""
        paris = timezone(timedelta(hours=1))
        assert _keys(filled, since=datetime(2026, 11, 23, 9, 30, 0, 1, tzinfo=paris)) == [
            "cairo",  # 08:30:00.000001 UTC, its very instant
            "bare",
        ]
        assert _keys(filled, since=datetime(2026, 11, 23, 9, 30, 0, 2, tzinfo=paris)) == ["bare"]
        assert _keys(filled, since=datetime(2026, 11, 23, 8, 30)) == ["cairo", "bare"]

    def test_language(self, filled: Store):
        assert _keys(filled, language="ar") == ["cairo"]
        assert _keys(filled, language="EN") == ["lavrov", "harbour"]
        assert _keys(filled, language="fr") == []

    def test_country_any_case(self, filled: Store):
        """A code among the record's countries; no match inside a longer list or on null."""
        assert _keys(filled, country="ru") == ["lavrov"]
        assert _keys(filled, country="SY", include_duplicates=True) == ["lavrov", "lavrov_v2"]
        assert _keys(filled, country="eg") == ["cairo"]
        assert _keys(filled, country="R") == []
        assert _keys(filled, country="US") == []

    def test_person_whole_text_any_case(self, filled: Store):
        assert _keys(filled, person="Sergei Lavrov") == ["lavrov"]
        assert _keys(filled, person="sergei LAVROV", include_duplicates=True) == [
            "lavrov",
            "lavrov_v2",
        ]
        assert _keys(filled, person="bashar al-assad", include_duplicates=True) == ["lavrov"]
        assert _keys(filled, person="Lavrov") == []  # not a part of a name
        assert _keys(filled, person="Syria") == []  # a place, not a person

    def test_org_and_place(self, filled: Store):
        assert _keys(filled, org="united nations") == ["lavrov"]  # not "… Development Programme"
        assert _keys(filled, org="Harbour Board") == ["harbour"]
        assert _keys(filled, place="moscow", include_duplicates=True) == ["lavrov"]
        assert _keys(filled, place="Bristol") == ["harbour"]
        assert _keys(filled, place="Ann Smith") == []

    def test_credit(self, filled: Store):
        assert _keys(filled, credit="afp", include_duplicates=True) == ["lavrov", "lavrov_v2"]
        assert _keys(filled, credit="Reuters") == ["cairo"]
        assert _keys(filled, credit="AP") == ["harbour"]  # not AFP

    def test_search_title_or_body_any_case(self, filled: Store):
        assert _keys(filled, search="damascus") == ["lavrov"]
        words = f"{_word('HARBOUR', 7)} {_word('harbour', 8)}"
        assert _keys(filled, search=words) == ["harbour"]  # in the body
        assert _keys(filled, search="finish", include_duplicates=True) == ["lavrov_v2"]
        assert _keys(filled, search="القاهرة") == ["cairo"]

    def test_search_is_by_words_through_the_full_text_index(self, filled: Store):
        """Whole words, not substrings ("50" is not in cairo's "500"), stemmed ("fleets" finds
        "fleet"); what the user types is text, never SQL or FTS5 syntax ("50%", "a_bare");
        web-search syntax: "a phrase", OR, -word."""
        assert _keys(filled, search="50%") == ["harbour"]
        assert _keys(filled, search="50") == ["harbour"]
        assert _keys(filled, search="fleets") == ["harbour"]
        assert _keys(filled, search="a_bare") == ["bare"]  # "_" separates words, as "%" does
        assert _keys(filled, search='"bare article"') == ["bare"]
        assert _keys(filled, search='"article bare"') == []
        assert _keys(filled, search="damascus OR fleet") == ["lavrov", "harbour"]
        assert _keys(filled, search="damascus -moscow") == []
        assert _keys(filled, search="lavrov -fleet") == ["lavrov"]
        # an excluded word excludes its other forms too ("fleets": the harbour's "fleet")
        assert _keys(filled, search="harbour -fleets") == []
        assert _keys(filled, search="harbour -fleets", language="en") == []
        assert _keys(filled, search='AND OR NOT ( ) * ^ : "') == []  # no syntax error

    def test_versions_of_from_either_id(self, filled: Store):
        """The story of the id given, canonical or version: the canonical record first."""
        story = ["lavrov", "lavrov_v2"]
        assert _keys(filled, versions_of=STORIES["lavrov"].id) == story
        assert _keys(filled, versions_of=STORIES["lavrov_v2"].id) == story
        assert _keys(filled, versions_of=STORIES["harbour"].id) == ["harbour"]
        assert _keys(filled, versions_of="0" * 64) == []
        # the other filters still apply
        assert _keys(filled, versions_of=STORIES["lavrov"].id, search="finish") == ["lavrov_v2"]

    def test_filters_combine(self, filled: Store):
        both = {"country": "RU", "person": "Sergei Lavrov", "include_duplicates": True}
        assert _keys(filled, **both) == ["lavrov", "lavrov_v2"]
        assert _keys(filled, **both, since=_at("2026-11-21")) == ["lavrov_v2"]
        assert _keys(filled, **both, language="ar") == []

    def test_limit_and_count(self, filled: Store):
        assert _keys(filled, include_duplicates=True, limit=2) == ["lavrov", "lavrov_v2"]
        assert _keys(filled, limit=0) == []
        assert filled.count_articles(ArticleFilter()) == 4
        assert filled.count_articles(ArticleFilter(include_duplicates=True, limit=3)) == 3
        assert filled.count_articles(ArticleFilter(country="GB")) == 1

    def test_records_keep_their_fields_and_sources(self, filled: Store):
        (got,) = filled.iter_articles(ArticleFilter(person="Ann Smith"))
        expected = STORIES["harbour"]
        assert (got.title, got.body, got.entities, got.countries) == (
            expected.title,
            expected.body,
            expected.entities,
            expected.countries,
        )
        assert got.sources == [Source(file=FILE, sha256=SHA, index=2, line=21)]

    def test_the_old_keywords_still_work(self, filled: Store):
        """``iter_articles(article_id=…, include_duplicates=…, limit=…)``, as before."""
        by_id = {record.id: key for key, record in STORIES.items()}
        story = filled.iter_articles(article_id=STORIES["lavrov"].id)
        assert [by_id[r.id] for r in story] == ["lavrov", "lavrov_v2"]
        assert len(list(filled.iter_articles(include_duplicates=True, limit=3))) == 3


class TestMoments:
    NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("7d", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)),
            ("24h", datetime(2026, 12, 3, 12, 0, tzinfo=UTC)),
            ("90m", datetime(2026, 12, 4, 10, 30, tzinfo=UTC)),
            ("2W", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
            ("30s", datetime(2026, 12, 4, 11, 59, 30, tzinfo=UTC)),
            ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
            ("2026-11-25T17:47", datetime(2026, 11, 25, 17, 47, tzinfo=UTC)),
            ("2026-11-25 17:47:37.5", datetime(2026, 11, 25, 17, 47, 37, 500000, tzinfo=UTC)),
            ("2026-11-25T19:47:00+02:00", datetime(2026, 11, 25, 17, 47, tzinfo=UTC)),
            ("2026-11-25T17:47:00Z", datetime(2026, 11, 25, 17, 47, tzinfo=UTC)),
        ],
    )
    def test_accepted(self, text: str, expected: datetime):
        assert parse_moment(text, now=self.NOW) == expected

    @pytest.mark.parametrize("text", ["yesterday", "7", "7y", "-3d", "2026-13-01", ""])
    def test_refused(self, text: str):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_moment(text, now=self.NOW)

    def test_bound_is_the_stored_form_of_the_instant(self):
        """The bound is written as the pipeline writes ingested_at (``isoformat`` in UTC)."""
        moment = datetime(2026, 11, 25, 17, 47, 37, 936324, tzinfo=UTC)
        assert _ingested_at_bound(moment) == "2026-11-25T17:47:37.936324+00:00"
        assert _ingested_at_bound(datetime(2026, 11, 25)) == "2026-11-25T00:00:00+00:00"


# --- streaming ----------------------------------------------------------------------------------

BIG = 20_000
BODY_CHARS = 2_000


def bulk_insert(store: Store, count: int) -> int:
    """``count`` synthetic records and a source each, inserted directly (no index): the store
    as a reader sees it. Returns the characters of text stored."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    filler = "x" * (BODY_CHARS - 12)
    rows, source_rows = [], []
    for i in range(count):
        rows.append(
            {
                "id": f"{i:064x}",
                "title": f"record {i}",
                "body": f"{i:010d} {filler}",
                "language": "en",
                "countries": ["RU"] if i % 2 else ["GB"],
                "entities": {"person": [{"text": "Sergei Lavrov", "count": 1}], "org": []},
                "first_sha256": SHA,
                "first_index": i,
                "ingested_at": (start + timedelta(seconds=i)).isoformat(),
                "pipeline_version": "test",
            }
        )
        source_rows.append(
            {"sha256": SHA, "idx": i, "article_id": f"{i:064x}", "file": FILE, "line": i}
        )
    with store.engine.begin() as conn:
        for at in range(0, count, 2000):
            conn.execute(insert_ignore(store.engine, articles), rows[at : at + 2000])
            conn.execute(insert_ignore(store.engine, sources), source_rows[at : at + 2000])
    return count * BODY_CHARS


class TestStreaming:
    def test_pages_are_read_as_the_consumer_asks(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ):
        """Taking the first record reads one page (and that page's sources), not the store; each
        further page is read only when the consumer gets to it."""
        import worker.store.store as store_module

        bulk_insert(store, 10)
        monkeypatch.setattr(store_module, "_PAGE", 3)
        statements: list[str] = []

        @event.listens_for(store.engine, "before_cursor_execute")
        def seen(conn, cursor, statement, parameters, context, executemany):
            if "FROM sources" in statement:
                statements.append(statement)

        records = store.iter_articles(ArticleFilter(country="RU"))  # 5 of the 10
        assert statements == []  # a generator: nothing read before it is asked
        first = next(records)
        assert first.title == "record 1" and len(statements) == 1
        assert [next(records).title for _ in range(2)] == ["record 3", "record 5"]
        assert len(statements) == 1  # still the first page
        assert next(records).title == "record 7"
        assert len(statements) == 2
        records.close()  # a consumer that stops early (`| head`) ends the read cleanly

    def test_memory_does_not_grow_with_the_store(self, store: Store):
        """Reading all of 20,000 records of 2 kB keeps a few pages in memory at most: the peak
        of Python allocations while they are consumed one by one stays under a quarter of the
        text read (40 MB), which a reader that held them all would need at least (about 80 MB
        measured, with the objects around the text; about 5 MB streamed)."""
        stored = bulk_insert(store, BIG)
        tracemalloc.start()
        try:
            count = 0
            for record in store.iter_articles(ArticleFilter(person="sergei lavrov")):
                count += 1
                assert record.sources
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == BIG
        assert peak < stored / 4, f"peak {peak / 1e6:.1f} MB while reading {stored / 1e6:.0f} MB"

    @pytest.mark.parametrize(
        "options",
        [{}, {"since": datetime(2026, 1, 1, tzinfo=UTC)}, {"country": "RU"}, {"search": "x"}],
    )
    def test_sqlite_returns_the_first_record_without_sorting_the_store(
        self, tmp_path: Path, options: dict
    ):
        """SQLite reads in ``ix_articles_order`` order, the first record at once: no temporary
        b-tree of every matching record first (which the duplicate_of index led it to, without
        statistics: ``articles --limit 10`` took 0.15-0.3 s on 100,000 records, now ms)."""
        from sqlalchemy.dialects import sqlite

        from worker.store.query import article_query

        store = Store.from_url(f"sqlite:///{tmp_path}/plan.sqlite")
        try:
            bulk_insert(store, 50)
            query = article_query(ArticleFilter(**options, limit=10), "sqlite")
            sql = str(
                query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            with store.engine.connect() as conn:
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
        finally:
            store.close()
        if "search" in options:
            # the full-text index gives the matches (few), which alone are then sorted: the
            # store itself is never scanned
            assert any("articles_fts VIRTUAL TABLE" in step for step in plan), plan
            assert not any(step.startswith("SCAN articles ") for step in plan), plan
            assert plan[0].startswith("SEARCH articles USING INDEX"), plan
            return
        assert "ix_articles_order" in plan[0], plan
        assert not any("TEMP B-TREE" in step for step in plan), plan

    @pytest.mark.integration
    def test_postgresql_reads_through_a_server_side_cursor(self, postgres_url: str):
        """On PostgreSQL the records' query runs in a named (server-side) cursor: the server
        keeps the result and sends it a page at a time."""
        store = Store.from_url(postgres_url)
        try:
            bulk_insert(store, 5)
            cursors: list[str] = []

            @event.listens_for(store.engine, "before_cursor_execute")
            def seen(conn, cursor, statement, parameters, context, executemany):
                if statement.lstrip().startswith("SELECT articles.id"):
                    cursors.append(type(cursor).__name__)

            assert len(list(store.iter_articles(ArticleFilter(include_duplicates=True)))) == 5
            assert cursors == ["ServerCursor"]
        finally:
            store.close()
