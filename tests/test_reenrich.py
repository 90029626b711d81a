"""`newsingest reenrich`: new enrichers over stored articles, from their stored text."""

from __future__ import annotations

from pathlib import Path

import pytest

import worker.pipeline as pipeline
from tests.dumps import BRIDGE, HARBOUR, ORCHARD, render_dump
from worker.driver import FileDriver
from worker.models import FileSummary
from worker.pipeline import Resources, reenrich_articles
from worker.settings import Settings


def ingest_in_place(resources: Resources, path: Path) -> FileSummary:
    """What `newsingest ingest` does with one file: processed where it lies."""
    return FileDriver(resources).ingest(path)


def _resources(tmp_path: Path, enrichers: list[str]) -> Resources:
    settings = Settings(inbox=tmp_path / "inbox", data_dir=tmp_path / "data", enrichers=enrichers)
    return Resources.build(settings)


def _snapshot(resources: Resources) -> dict[str, tuple]:
    return {
        r.id: (r.title, r.body, r.duplicate_of, [(s.file, s.index) for s in r.sources])
        for r in resources.store.iter_articles(include_duplicates=True)
    }


def test_reenrich_fills_new_fields_and_leaves_the_rest(tmp_path: Path, monkeypatch) -> None:
    """Articles stored by an old pipeline with only `language` get the new enrichers' fields and
    the current pipeline_version; ids, text, sources and links do not change."""
    old = _resources(tmp_path, ["language"])
    monkeypatch.setattr(pipeline, "PIPELINE_VERSION", "0.1.0")
    dump = tmp_path / "seed.txt"
    dump.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
    ingest_in_place(old, dump)
    monkeypatch.undo()
    newer = tmp_path / "newer.txt"
    newer.write_text(render_dump([BRIDGE]), encoding="utf-8")
    ingest_in_place(old, newer)
    before = _snapshot(old)
    assert all(r.word_count is None for r in old.store.iter_articles())
    old.store.close()

    new = _resources(tmp_path, ["language", "stats", "countries"])
    stale = new.store.article_ids(older_than=pipeline.PIPELINE_VERSION)
    assert len(stale) == 2  # BRIDGE was stored by the current pipeline
    assert reenrich_articles(new, stale) == 2

    records = {r.title: r for r in new.store.iter_articles()}
    harbour = records[HARBOUR.title]
    assert harbour.word_count == sum(len(p.split()) for p in HARBOUR.paragraphs)
    assert harbour.countries is not None
    assert harbour.pipeline_version == pipeline.PIPELINE_VERSION
    assert records[BRIDGE.title].word_count is None  # not selected: already current
    assert _snapshot(new) == before
    new.store.close()


@pytest.mark.parametrize("older_than", [None, "0.0.1"])
def test_article_ids_selection(tmp_path: Path, older_than: str | None) -> None:
    """All ids without a version; none older than a version before any we wrote."""
    resources = _resources(tmp_path, ["language"])
    dump = tmp_path / "seed.txt"
    dump.write_text(render_dump([HARBOUR, ORCHARD]), encoding="utf-8")
    ingest_in_place(resources, dump)
    ids = resources.store.article_ids(older_than)
    assert len(ids) == (2 if older_than is None else 0)
    resources.store.close()
