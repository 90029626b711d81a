# ruff: noqa: RUF001 - typographic apostrophes and dashes and Arabic letters are meant
"""Countries an article is about or mentions, as ISO 3166-1 alpha-2 codes.

English articles: the places and nationalities spaCy found in the body (``GPE``, ``LOC``, ``FAC``,
``NORP``), the dateline ("SALVADOR, Feb 26 -", "FLORENCE, Ala., Feb 26 -"), and country names and
adjectives in the headline. Arabic articles: the Arabic names the gazetteer carries, found by a scan
of the text. Articles in other languages: country names in the headline and body.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from worker.enrich.base import Fields
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.nlp import Analysis, ArticleAnalyzer
from worker.models import ParsedArticle

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}"
# "SALVADOR, Feb 26 -", "FLORENCE, Ala., Feb 26 -", "LONDON (Reuters) -", "BEIRUT, Lebanon (AP) —"
DATELINE = re.compile(
    r"^\s*(?P<city>[A-Z][A-Z.'\- ]{1,40}?)"
    r"(?:,\s*(?P<region>[A-Z][A-Za-z.' ]{1,30}?))?"
    r"(?:,\s*" + _MONTH + r")?"
    r"\s*(?:\([A-Za-z ]{2,20}\))?\s*[-\u2013\u2014]\s"
)
# A headline or body word sequence that may name a country: capitalised words.
_CAPITALISED_RUN = re.compile(r"[A-Z][\w'’.\-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’.\-]*){0,3}")


def dateline_country(paragraph: str, gazetteer: Gazetteer) -> tuple[str | None, int]:
    """The country of a dateline at the start of a paragraph, and where the dateline ends.

    Returns:
        ``(code, end)``; ``(None, 0)`` when the paragraph has no dateline.
    """
    match = DATELINE.match(paragraph)
    if match is None:
        return None, 0
    region = match.group("region")
    code = gazetteer.region(region) if region else None
    return code or gazetteer.place(match.group("city").strip()), match.end()


def headline_countries(title: str, gazetteer: Gazetteer) -> list[str]:
    """Country names and adjectives in a headline (title case or all capitals)."""
    text = title.title() if title.isupper() else title
    found = []
    for match in _CAPITALISED_RUN.finditer(text):
        words = match.group(0).split()
        # the longest sub-sequence that names a country, from the left
        i = 0
        while i < len(words):
            for j in range(len(words), i, -1):
                code = gazetteer.country(" ".join(words[i:j]))
                if code and not (title.isupper() and j - i == 1 and len(words[i]) <= 2):
                    found.append(code)
                    i = j
                    break
            else:
                i += 1
    return found


class CountriesEnricher:
    """ISO 3166-1 alpha-2 codes from place names, cities, demonyms and the dateline."""

    name = "countries"

    def __init__(self, analyzer: ArticleAnalyzer, gazetteer: Gazetteer) -> None:
        self._analyzer = analyzer
        self._gazetteer = gazetteer

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        languages = self._analyzer.languages(articles)
        analyses = self._analyzer.analyses(articles)
        return [
            {"countries": self.countries(article, language, analysis)}
            for article, language, analysis in zip(articles, languages, analyses, strict=True)
        ]

    def countries(
        self, article: ParsedArticle, language: str | None, analysis: Analysis | None
    ) -> list[str]:
        """Codes ordered by how much the article mentions them (the dateline counts double)."""
        gazetteer = self._gazetteer
        counts: Counter[str] = Counter()
        if language == "ar":
            counts.update(gazetteer.scan_arabic(article.title + "\n" + article.body))
        else:
            counts.update(headline_countries(article.title, gazetteer))
            dateline_end = 0
            if article.paragraphs:
                code, dateline_end = dateline_country(article.paragraphs[0], gazetteer)
                if code:
                    counts[code] += 2
            if analysis is not None:
                for mention in analysis.mentions:
                    if mention.start < dateline_end:
                        continue  # the dateline's city, already decided with its region
                    if mention.label in PLACE_LABELS:
                        code = gazetteer.place(mention.text)
                    elif mention.label == "NORP":
                        code = gazetteer.country(mention.text)
                    else:
                        continue
                    if code:
                        counts[code] += 1
            else:
                for paragraph in article.paragraphs:
                    counts.update(headline_countries(paragraph, gazetteer))
        return [code for code, _ in counts.most_common()]
