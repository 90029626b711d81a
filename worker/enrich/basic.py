"""The cheap enrichers: language, credit, word count and reading time, lead."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from worker.enrich.base import Fields
from worker.enrich.nlp import ArticleAnalyzer
from worker.models import ParsedArticle


class LanguageEnricher:
    """ISO 639-1 language code, offline (py3langid's bundled model; see ``language.py``)."""

    name = "language"

    def __init__(self, analyzer: ArticleAnalyzer | None = None) -> None:
        # Shared with the other enrichers of the pipeline, which need the language too.
        self._analyzer = analyzer or ArticleAnalyzer()

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [{"language": language} for language in self._analyzer.languages(articles)]


# Credits as scrapers write them, mapped to the agency's usual short name.
_CREDIT_ALIASES: dict[str, str] = {
    "ap": "AP",
    "ap photo": "AP",
    "ap photos": "AP",
    "associated press": "AP",
    "afp": "AFP",
    "afp photo": "AFP",
    "agence france-presse": "AFP",
    "getty images/afp": "AFP",
    "afp/getty images": "AFP",
    "reuters": "Reuters",
    "reuters photo": "Reuters",
    "epa": "EPA",
    "epa photo": "EPA",
    "spa": "SPA",
    "getty images": "Getty Images",
    "getty": "Getty Images",
    "anadolu": "Anadolu",
    "anadolu agency": "Anadolu",
    "xinhua": "Xinhua",
}
_PHOTO_PREFIX = re.compile(r"^(?:photo|photos|credit|image)\s*[:/-]\s*", re.IGNORECASE)


def normalise_credit(raw: str | None) -> str | None:
    """``"AP Photo"`` → ``"AP"``, ``"Photo: Reuters"`` → ``"Reuters"``; others as written."""
    if not raw:
        return None
    credit = _PHOTO_PREFIX.sub("", raw.strip()).strip()
    if not credit:
        return None
    return _CREDIT_ALIASES.get(" ".join(credit.casefold().split()), credit)


class CreditEnricher:
    """The agency from the caption's credit, normalised."""

    name = "credit"

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [{"image_credit": normalise_credit(article.image_credit)} for article in articles]


class StatsEnricher:
    """Word count of title and body, and reading time at a steady reading speed."""

    name = "stats"

    def __init__(self, words_per_minute: int = 230) -> None:
        self._words_per_second = words_per_minute / 60

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        fields = []
        for article in articles:
            words = len(article.body.split())
            fields.append(
                {
                    "word_count": words,
                    "reading_time_s": math.ceil(words / self._words_per_second),
                }
            )
        return fields


class LeadEnricher:
    """The first body paragraph."""

    name = "lead"

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [
            {"lead": article.paragraphs[0] if article.paragraphs else None} for article in articles
        ]
