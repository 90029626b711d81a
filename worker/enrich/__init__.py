"""Enrich stage: switchable enrichers behind one interface, run as one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from worker.enrich.base import Enricher, Fields
from worker.enrich.basic import (
    CreditEnricher,
    LanguageEnricher,
    LeadEnricher,
    StatsEnricher,
    normalise_credit,
)
from worker.enrich.pipeline import EnrichPipeline
from worker.settings import Settings

__all__ = [
    "ENRICHERS",
    "CreditEnricher",
    "EnrichPipeline",
    "Enricher",
    "Fields",
    "LanguageEnricher",
    "LeadEnricher",
    "StatsEnricher",
    "build_pipeline",
    "normalise_credit",
]

# Name in the settings → factory. Entities, countries, quotes and keywords register here (issue #5).
ENRICHERS: dict[str, Callable[[Settings], Enricher]] = {
    "language": lambda settings: LanguageEnricher(),
    "credit": lambda settings: CreditEnricher(),
    "stats": lambda settings: StatsEnricher(settings.words_per_minute),
    "lead": lambda settings: LeadEnricher(),
}


def build_pipeline(settings: Settings, names: Sequence[str] | None = None) -> EnrichPipeline:
    """The enrichers named in the settings, built once (call this once per process)."""
    wanted = list(names if names is not None else settings.enrichers)
    unknown = [name for name in wanted if name not in ENRICHERS]
    if unknown:
        raise ValueError(f"unknown enrichers {unknown}; known: {sorted(ENRICHERS)}")
    return EnrichPipeline([ENRICHERS[name](settings) for name in wanted])
