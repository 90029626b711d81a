"""Runs the enrichers over a batch; an enricher failing on one article fails only there.

That article keeps every other enricher's fields; the failing enricher's fields are null and its
name and reason are in ``EnrichResult.errors`` (stored as the record's ``enrich_errors``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.enrich.base import Enricher, Fields, enricher_fields
from worker.log import get_logger
from worker.models import ParsedArticle

log = get_logger(__name__)


@dataclass(slots=True)
class EnrichResult:
    # per article, in order: the fields set; a failed enricher's fields are there, as None
    fields: list[Fields]
    # position in batch → {enricher name: "ExceptionType: message"}, for articles with a failure
    errors: dict[int, dict[str, str]] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)


class EnrichPipeline:
    def __init__(self, enrichers: Sequence[Enricher]) -> None:
        self.enrichers = list(enrichers)

    @property
    def names(self) -> list[str]:
        return [enricher.name for enricher in self.enrichers]

    def run(self, articles: Sequence[ParsedArticle]) -> EnrichResult:
        result = EnrichResult(fields=[{} for _ in articles])
        for enricher in self.enrichers:
            started = time.perf_counter()
            try:
                batch = enricher.enrich(articles)
                for fields, found in zip(result.fields, batch, strict=True):
                    fields.update(found)
            except Exception:
                # Find the articles that break the enricher; the others keep its fields.
                self._one_by_one(enricher, articles, result)
            result.timings_ms[enricher.name] = round((time.perf_counter() - started) * 1000, 2)
        return result

    @staticmethod
    def _one_by_one(
        enricher: Enricher, articles: Sequence[ParsedArticle], result: EnrichResult
    ) -> None:
        failed: list[int] = []
        names = set(enricher_fields(enricher))
        for i, article in enumerate(articles):
            try:
                (found,) = enricher.enrich([article])
            except Exception as exc:
                failed.append(i)
                result.errors.setdefault(i, {})[enricher.name] = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "enrich.article_failed",
                    enricher=enricher.name,
                    index=article.index,
                    line=article.line,
                    error=f"{type(exc).__name__}: {exc}",
                )
            else:
                result.fields[i].update(found)
                names.update(found)
        for i in failed:  # its fields null: no value left that it did not make
            result.fields[i].update(dict.fromkeys(sorted(names)))
