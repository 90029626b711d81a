"""Helpers shared by the unit tests: records built from our own stories, a throwaway store."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.dumps import Story
from worker.dedupe import article_id
from worker.models import ArticleRecord, ParsedArticle, Source
from worker.store import Store


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


class FakeClock:
    """Seconds since the epoch, moved by hand: a clock for the ledger or the settle tracker."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sqlite_store(tmp_path: Path) -> Store:
    return Store.from_url(f"sqlite:///{tmp_path}/s.sqlite")


def record(
    story: Story,
    sha256: str,
    file: str,
    index: int = 0,
    line: int = 1,
    ingested_at: str = "2024-01-01T00:00:00+00:00",
) -> ArticleRecord:
    """The record the pipeline would build for ``story`` seen at ``file``/``index``."""
    parsed = ParsedArticle(title=story.title, paragraphs=story.paragraphs)
    return ArticleRecord(
        id=article_id(parsed),
        title=story.title,
        body=parsed.body,
        image_caption=story.caption_line,
        image_credit=story.credit,
        lead=story.paragraphs[0],
        sources=[Source(file=file, sha256=sha256, index=index, line=line)],
        ingested_at=ingested_at,
        pipeline_version="test",
    )
