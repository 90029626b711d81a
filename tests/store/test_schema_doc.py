"""Every query of docs/schema.md runs on the backend it is written for and answers with the
records it is about: the document's SQL is not allowed to rot."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.dumps import HARBOUR, ORCHARD
from tests.helpers_unit import record, sha
from tests.stories_near import STORY_VERSIONS
from worker.store import Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
BLOCK = re.compile(r"```sql\n-- (postgresql|sqlite|both)\n(.*?)```", re.S)


def _queries(backend: str) -> list[str]:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    return [sql for kind, sql in blocks if kind in (backend, "both")]


def test_the_document_has_queries_for_both_backends() -> None:
    assert len(_queries("postgresql")) == len(_queries("sqlite")) == 5


@pytest.fixture(params=["sqlite", "postgresql"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store.from_url(url)
    now = datetime.now(UTC).isoformat()
    story, version = STORY_VERSIONS[0][0], STORY_VERSIONS[0][1]
    digest = sha("a.txt")
    store.ledger.claim(digest, "a.txt", "/work/a", 1)
    store.ledger.start(digest, "task-1", lease_seconds=60)
    records = [
        dataclasses.replace(
            record(s, digest, "a.txt", i, 1 + 10 * i, ingested_at=now),
            entities={"person": [{"text": "Sergei Lavrov", "count": 2}], "org": [], "location": []},
            countries=["RU", "SY"],
            language="en",
        )
        for i, s in enumerate([HARBOUR, ORCHARD, story, version])
    ]
    store.publish(digest, "a.txt", records, owner="task-1", failed=0, unplaced=0, encoding="utf-8")
    broken = sha("broken.txt")
    store.ledger.claim(broken, "broken.txt", "/work/b", 1)
    store.ledger.fail(broken, {"code": "empty_file", "message": "the file is empty"}, None)
    yield store, records[2].id
    store.close()


def test_every_query_runs_and_finds_what_it_is_about(filled: tuple[Store, str]) -> None:
    store, story_id = filled
    ferry = [
        r for r in store.iter_articles(include_duplicates=True) if r.title.startswith("Island")
    ]
    backend = store.engine.dialect.name
    with store.engine.connect() as conn:
        answers = [
            conn.execute(text(sql), {"story": story_id} if ":story" in sql else {}).all()
            for sql in _queries(backend)
        ]
    person, versions, per_country, search, failed = answers
    assert len(person) == 4
    assert len(versions) == 2 and versions[0].id == story_id
    assert {(row.country, row.stories) for row in per_country} == {("RU", 3), ("SY", 3)}
    # the harbour story and the ferry story's two versions (both words in each), not the orchard
    assert sorted(row.title for row in search) == sorted([HARBOUR.title, *[r.title for r in ferry]])
    assert [(row.name, row.code) for row in failed] == [("broken.txt", "empty_file")]
