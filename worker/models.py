"""Frozen records passed between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ParsedArticle:
    """One article as the parser found it, scrape artefacts removed."""

    title: str
    paragraphs: tuple[str, ...]
    image_caption: str | None = None
    image_credit: str | None = None  # raw, as written in the caption: "AP Photo", "Reuters"...
    index: int = 0  # position in the dump, from 0
    line: int = 1  # line of the title in the dump, from 1

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A line the parser could not place in any article."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Source:
    """One place an article's text was seen."""

    file: str
    sha256: str
    index: int
    line: int


@dataclass(slots=True)
class ArticleRecord:
    """An article as stored: parsed text, id, enrichment fields and provenance."""

    id: str
    title: str
    body: str
    image_caption: str | None
    image_credit: str | None
    lead: str | None = None
    language: str | None = None
    word_count: int | None = None
    reading_time_s: int | None = None
    entities: dict[str, list[dict[str, Any]]] | None = None
    countries: list[str] | None = None
    keywords: list[str] | None = None
    quotes: list[dict[str, Any]] | None = None
    duplicate_of: str | None = None
    similarity: float | None = None
    sources: list[Source] = field(default_factory=list)
    ingested_at: str | None = None
    pipeline_version: str | None = None
    # {enricher name: "ExceptionType: message"} for the enrichers that failed on this article
    # (their fields are null); None when none failed. `newsingest reenrich --failed` retries them.
    enrich_errors: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What happened to one file: the line `ingest` prints and the ledger keeps."""

    file: str
    sha256: str
    state: str  # done | duplicate | failed
    found: int = 0
    new: int = 0
    duplicates: int = 0
    failed: int = 0  # of found: sightings with an enricher error (stored, with enrich_errors)
    unplaced_lines: int = 0
    near_duplicates: int = 0  # of the new articles: versions of a story stored before
    error: dict[str, Any] | None = None
    duplicate_of_file: str | None = None
