"""The enricher interface: one batch of articles in, one dict of record fields per article out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from worker.models import ParsedArticle

Fields = dict[str, Any]


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
