"""Runs the enrichers over a batch; a failing article is set aside, never the whole batch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.enrich.base import Enricher, Fields
from worker.log import get_logger
from worker.models import ParsedArticle

log = get_logger(__name__)


@dataclass(slots=True)
class EnrichResult:
    fields: list[Fields | None]  # None where the article failed
    errors: dict[int, str] = field(default_factory=dict)  # position in batch → message
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
            live = [i for i, f in enumerate(result.fields) if f is not None]
            try:
                batch = enricher.enrich([articles[i] for i in live])
                for i, fields in zip(live, batch, strict=True):
                    result.fields[i].update(fields)  # type: ignore[union-attr]
            except Exception:
                # Find the article that breaks the enricher; the others keep their fields.
                for i in live:
                    try:
                        (fields,) = enricher.enrich([articles[i]])
                    except Exception as exc:
                        result.errors[i] = f"{enricher.name}: {type(exc).__name__}: {exc}"
                        result.fields[i] = None
                        log.warning(
                            "enrich.article_failed",
                            enricher=enricher.name,
                            index=articles[i].index,
                            line=articles[i].line,
                            error=str(exc),
                        )
                    else:
                        result.fields[i].update(fields)  # type: ignore[union-attr]
            result.timings_ms[enricher.name] = round((time.perf_counter() - started) * 1000, 2)
        return result
