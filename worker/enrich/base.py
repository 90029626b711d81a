"""The enricher interface: one batch of articles in, one dict of record fields per article out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from worker.models import ParsedArticle

Fields = dict[str, Any]

# The record fields each registered enricher sets (README, "Enrichment"). When an enricher fails on
# an article these are set to null, so that no value is left that the enricher did not make (the
# raw caption credit, a value from an earlier run). An enricher outside this table may declare a
# ``fields`` attribute instead.
ENRICHER_FIELDS: dict[str, tuple[str, ...]] = {
    "language": ("language",),
    "credit": ("image_credit",),
    "stats": ("word_count", "reading_time_s"),
    "lead": ("lead",),
    "entities": ("entities",),
    "countries": ("countries",),
    "quotes": ("quotes",),
    "keywords": ("keywords",),
}


def enricher_fields(enricher: Enricher | str) -> tuple[str, ...]:
    """The record fields an enricher (or the enricher of that name) sets, as far as known."""
    if isinstance(enricher, str):
        return ENRICHER_FIELDS.get(enricher, ())
    declared = getattr(enricher, "fields", None)
    if declared is not None:
        return tuple(declared)
    return ENRICHER_FIELDS.get(enricher.name, ())


@runtime_checkable
class Enricher(Protocol):
    """A switchable enrichment step.

    Enrichers receive a whole batch so that model-backed ones (spaCy's ``nlp.pipe``) can stream it;
    expensive set-up belongs in ``__init__``, which runs once per worker process.
    """

    name: str

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        """Return, for each article in order, the record fields this enricher sets."""
        ...
