"""Tests for the near-duplicate index in the store (worker/store/near.py, Store.publish)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from tests.helpers_unit import record, sha, sqlite_store
from tests.stories_near import BASE, STORY_VERSIONS
from worker.cli import app
from worker.dedupe import NearDupConfig
from worker.driver import classify
from worker.errors import ConfigurationError, TransientError
from worker.store import Store, near
from worker.store.schema import articles, index_meta, lsh_bands, minhashes


@pytest.fixture
def store(tmp_path: Path):
    store = sqlite_store(tmp_path)
    yield store
    store.close()


def _publish(store: Store, name: str, stories, **kw):
    """Claim the file ``name``, take it as the worker ``t-<name>`` and publish ``stories``."""
    sha256 = sha(name)
    owner = f"t-{name}"
    records = [record(s, sha256, name, index=i) for i, s in enumerate(stories)]
    args = {"failed": 0, "unplaced": 0, "encoding": "utf-8", **kw}
    store.ledger.claim(sha256, name, f"/work/{name}", 1)
    assert store.ledger.start(sha256, owner, lease_seconds=60) is not None
    return store.publish(sha256, name, records, owner=owner, **args), records


def _rows(store: Store) -> dict[str, dict]:
    with store.engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(articles)).mappings()}


class TestPublish:
    def test_versions_across_files_link_to_the_first(self, store: Store):
        """Each later version, in another file, points at the first stored version."""
        story = STORY_VERSIONS[0]
        _, (first,) = _publish(store, "a.txt", [story[0]])
        counts, later = _publish(store, "b.txt", list(story[1:]))
        assert (counts.new, counts.duplicates, counts.near_duplicates) == (4, 0, 4)
        rows = _rows(store)
        assert rows[first.id]["duplicate_of"] is None and rows[first.id]["similarity"] is None
        for r in later:
            assert rows[r.id]["duplicate_of"] == first.id
            assert 0.5 <= rows[r.id]["similarity"] <= 1
        assert store.status()["near_duplicates"] == 4
        assert store.status()["articles"] == 1

    def test_versions_in_one_file_link_in_file_order(self, store: Store):
        """Two versions in one file: the earlier in the file is canonical."""
        counts, records = _publish(store, "a.txt", [BASE[1], STORY_VERSIONS[1][3], BASE[2]])
        rows = _rows(store)
        assert rows[records[1].id]["duplicate_of"] == records[0].id
        assert rows[records[0].id]["duplicate_of"] is None
        assert rows[records[2].id]["duplicate_of"] is None
        assert counts.near_duplicates == 1

    def test_different_stories_not_linked(self, store: Store):
        _publish(store, "a.txt", list(BASE[:4]))
        _publish(store, "b.txt", list(BASE[4:]))
        assert all(r["duplicate_of"] is None for r in _rows(store).values())

    def test_canonical_record_unchanged(self, store: Store):
        _, (first,) = _publish(store, "a.txt", [BASE[0]])
        before = _rows(store)[first.id]
        _publish(store, "b.txt", list(STORY_VERSIONS[0][1:]))
        assert _rows(store)[first.id] == before

    def test_exact_duplicate_only_adds_a_source(self, store: Store):
        """The same text in another file is the same record, not a version of itself."""
        _publish(store, "a.txt", [BASE[0]])
        counts, _ = _publish(store, "b.txt", [BASE[0]])
        assert (counts.new, counts.duplicates, counts.near_duplicates) == (0, 1, 0)
        (only,) = store.iter_articles(include_duplicates=True)
        assert only.duplicate_of is None
        assert {s.file for s in only.sources} == {"a.txt", "b.txt"}
        with store.engine.connect() as conn:
            assert len(conn.execute(select(minhashes)).all()) == 1

    def test_redelivery_changes_nothing(self, store: Store):
        """The same file published twice (a redelivered task) finds its own records: same
        counts, no record a duplicate of itself, no second index entry."""
        _publish(store, "a.txt", [BASE[0]])
        stories = [STORY_VERSIONS[0][2], BASE[3], STORY_VERSIONS[3][1]]
        first_counts, _ = _publish(store, "b.txt", stories)
        before = _rows(store)
        with store.engine.connect() as conn:
            index_before = conn.execute(select(lsh_bands).order_by(lsh_bands.c.band_key)).all()
        again, _ = _publish(store, "b.txt", stories)
        assert again == first_counts
        assert _rows(store) == before
        with store.engine.connect() as conn:
            assert conn.execute(select(lsh_bands).order_by(lsh_bands.c.band_key)).all() == (
                index_before
            )
        assert all(r["duplicate_of"] != r["id"] for r in before.values())

    def test_chain_points_at_the_first_version(self, store: Store):
        """A version of a version is recorded against the story's first version."""
        group = STORY_VERSIONS[2]
        _, (a,) = _publish(store, "a.txt", [group[0]])
        _, (b,) = _publish(store, "b.txt", [group[2]])
        _, (c,) = _publish(store, "c.txt", [group[3]])
        rows = _rows(store)
        assert rows[b.id]["duplicate_of"] == a.id
        assert rows[c.id]["duplicate_of"] == a.id


class TestArticlesView:
    def test_canonical_all_and_one_story(self, store: Store):
        _publish(store, "a.txt", [BASE[0], BASE[1]])
        _publish(store, "b.txt", list(STORY_VERSIONS[0][1:3]))
        canonical = list(store.iter_articles())
        assert [r.title for r in canonical] == [BASE[0].title, BASE[1].title]
        assert len(list(store.iter_articles(include_duplicates=True))) == 4
        story = list(store.iter_articles(article_id=canonical[0].id))
        assert [r.duplicate_of for r in story] == [None, canonical[0].id, canonical[0].id]


class TestIndexConfig:
    def test_other_settings_refused_until_rebuilt(self, tmp_path: Path, store: Store):
        """A store indexed with one config refuses to decide with another; rebuild-index fixes
        it, keeping the links already made."""
        _publish(store, "a.txt", [BASE[0], BASE[1]])
        _publish(store, "b.txt", [STORY_VERSIONS[0][1]])
        links = {k: r["duplicate_of"] for k, r in _rows(store).items()}
        other = NearDupConfig(num_perm=128, bands=32, rows=4)
        changed = Store(store.engine, other)
        with pytest.raises(near.IndexMismatchError, match="rebuild") as refused:
            _publish(changed, "c.txt", [STORY_VERSIONS[0][2]])
        # a configuration problem: work pauses until someone fixes it, it is not retried as a
        # transient error (it was a TransientError before the reliability refactor)
        assert isinstance(refused.value, ConfigurationError)
        assert not isinstance(refused.value, TransientError)
        assert classify(refused.value) == "configuration"
        with changed.engine.begin() as conn:
            assert near.rebuild(conn, other) == 3
            assert near.stats(conn) == {
                "config": other.fingerprint,
                "signatures": 3,
                "band_rows": 3 * 32,
            }
        counts, (c,) = _publish(changed, "c.txt", [STORY_VERSIONS[0][2]])
        assert counts.near_duplicates == 1
        assert {k: r["duplicate_of"] for k, r in _rows(store).items() if k != c.id} == links

    def test_store_without_index_refused(self, store: Store):
        """Articles stored before the index existed: refuse, rather than miss them forever."""
        _publish(store, "a.txt", [BASE[0]])
        with store.engine.begin() as conn:
            conn.execute(delete(index_meta))
        with pytest.raises(near.IndexMismatchError, match="never built"):
            _publish(store, "b.txt", [BASE[1]])

    def test_cli_rebuild_and_articles(self, tmp_path: Path, monkeypatch):
        """`rebuild-index` after a settings change, then `articles --versions-of` shows the
        story."""
        monkeypatch.chdir(tmp_path)
        url = f"sqlite:///{tmp_path}/cli.sqlite"
        store = Store.from_url(url)
        _, (first,) = _publish(store, "a.txt", [BASE[0]])
        _publish(store, "b.txt", [STORY_VERSIONS[0][3], BASE[5]])
        store.close()
        runner = CliRunner()
        monkeypatch.setenv("NEWSINGEST_NEAR_DUP_BANDS", "30")
        result = runner.invoke(app, ["--store-url", url, "rebuild-index"])
        assert result.exit_code == 0, result.output
        assert "indexed 3 articles" in result.stdout
        listing = runner.invoke(
            app, ["--store-url", url, "articles", "--versions-of", first.id]
        ).stdout
        story = [json.loads(line) for line in listing.splitlines()]
        assert [r["duplicate_of"] for r in story] == [None, first.id]
        canonical = runner.invoke(app, ["--store-url", url, "articles"]).stdout.splitlines()
        assert len(canonical) == 2


class TestConcurrentPublishers:
    def test_two_threads_two_versions_one_canonical(self, tmp_path: Path):
        """Two stores (two pools) publish versions of each story at the same moment, many
        times: every story ends with exactly one canonical record."""
        url = f"sqlite:///{tmp_path}/race.sqlite"
        stores = [Store.from_url(url), Store.from_url(url)]
        barrier = threading.Barrier(2)

        def publish(which: int) -> None:
            for number, group in enumerate(STORY_VERSIONS):
                barrier.wait()
                _publish(stores[which], f"{number}-{which}.txt", [group[which + 1]])

        threads = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = list(_rows(stores[0]).values())
        assert len(rows) == 16
        assert sum(r["duplicate_of"] is None for r in rows) == 8
        for store in stores:
            store.close()
