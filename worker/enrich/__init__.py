"""Enrich stage: switchable enrichers behind one interface, run as one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.enrich.base import Enricher, Fields
from worker.enrich.basic import (
    CreditEnricher,
    LanguageEnricher,
    LeadEnricher,
    StatsEnricher,
    normalise_credit,
)
from worker.enrich.countries import CountriesEnricher
from worker.enrich.entities import EntitiesEnricher
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.keywords import KeywordsEnricher
from worker.enrich.nlp import ArticleAnalyzer
from worker.enrich.pipeline import EnrichPipeline
from worker.enrich.quotes import QuotesEnricher
from worker.settings import Settings

__all__ = [
    "ENRICHERS",
    "ArticleAnalyzer",
    "CountriesEnricher",
    "CreditEnricher",
    "EnrichPipeline",
    "EnrichResources",
    "Enricher",
    "EntitiesEnricher",
    "Fields",
    "Gazetteer",
    "KeywordsEnricher",
    "LanguageEnricher",
    "LeadEnricher",
    "QuotesEnricher",
    "StatsEnricher",
    "build_pipeline",
    "normalise_credit",
]


@dataclass
class EnrichResources:
    """What the enrichers of one pipeline share, built once per process.

    The analyzer holds the spaCy model and the current batch's analyses (spaCy runs once per
    article whatever the number of enrichers reading it); the gazetteer is built on first use.
    """

    analyzer: ArticleAnalyzer = field(default_factory=ArticleAnalyzer)
    _gazetteer: Gazetteer | None = None

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = Gazetteer.build()
        return self._gazetteer

    def spacy_analyzer(self) -> ArticleAnalyzer:
        """The analyzer, with its model loaded now (start-up) rather than on the first article."""
        _ = self.analyzer.nlp
        return self.analyzer


Factory = Callable[[Settings, EnrichResources], Enricher]

# Name in the settings → factory.
ENRICHERS: dict[str, Factory] = {
    "language": lambda settings, shared: LanguageEnricher(shared.analyzer),
    "credit": lambda settings, shared: CreditEnricher(),
    "stats": lambda settings, shared: StatsEnricher(settings.words_per_minute),
    "lead": lambda settings, shared: LeadEnricher(),
    "entities": lambda settings, shared: EntitiesEnricher(
        shared.spacy_analyzer(), shared.gazetteer
    ),
    "countries": lambda settings, shared: CountriesEnricher(
        shared.spacy_analyzer(), shared.gazetteer
    ),
    "quotes": lambda settings, shared: QuotesEnricher(shared.spacy_analyzer(), shared.gazetteer),
    # key phrases name people and organisations in full where the entities enricher runs (it
    # loads the model; without it, key phrases need none)
    "keywords": lambda settings, shared: KeywordsEnricher(
        shared.analyzer, gazetteer=shared.gazetteer if "entities" in settings.enrichers else None
    ),
}


def build_pipeline(
    settings: Settings,
    names: Sequence[str] | None = None,
    resources: EnrichResources | None = None,
) -> EnrichPipeline:
    """The enrichers named in the settings, built once (call this once per process)."""
    wanted = list(names if names is not None else settings.enrichers)
    unknown = [name for name in wanted if name not in ENRICHERS]
    if unknown:
        raise ValueError(f"unknown enrichers {unknown}; known: {sorted(ENRICHERS)}")
    shared = resources or EnrichResources()
    return EnrichPipeline([ENRICHERS[name](settings, shared) for name in wanted])
