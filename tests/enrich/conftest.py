# ruff: noqa: RUF001 - typographic apostrophes are what news text writes
"""The enrichers' shared resources, built once for the whole test session (the real spaCy model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.enrich import EnrichResources
from worker.models import ParsedArticle

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


@pytest.fixture(scope="session")
def resources() -> EnrichResources:
    shared = EnrichResources()
    shared.spacy_analyzer()
    return shared


def article(title: str, *paragraphs: str, index: int = 0) -> ParsedArticle:
    """A ParsedArticle from text we wrote ourselves."""
    return ParsedArticle(title=title, paragraphs=tuple(paragraphs), index=index)


# Articles written for these tests, in the style of the wire stories the worker receives.
MINISTER = article(
    "Kovacs: Valdoria Will Keep Its Embassy in Damascus",
    "Valdorian Foreign Minister Anna Kovacs said on Monday that her country would keep its "
    "embassy in Syria open, and that talks with Turkey’s government would continue.",
    "Speaking at a news conference in Ankara, Kovacs said the Syrian authorities had asked for "
    "more aid before the winter.",
    "“We will not leave the people of Syria alone in the cold months ahead,” she said.",
    "Kovacs noted that President Omar al-Haddad had requested help from Turkish and Russian "
    "engineers last year.",
    "“The roads must be rebuilt before anything else can move,” she explained.",
    "Omar Haddad thanked the delegation, his office said. Haddad did not take questions.",
)
TABLE = article(
    "NORTHWIND MILLS INC <NWM> 4TH QTR NET",
    "DULUTH, Minn., March 3 - Shr 41 cts vs 33 cts",
    "Net 2,118,400 vs 1,702,950",
    "Revs 51.2 mln vs 44.9 mln",
)
PROSE = article(
    "GRAIN TRADERS EXPECT LARGER HARVEST",
    "CHICAGO, March 3 - Grain traders said on Tuesday they expected a larger wheat harvest this "
    "year after heavy rain in the southern plains, and prices fell in early trading.",
    "Analysts said exports to Japan and Egypt would probably rise in the second half.",
)
ARABIC = article(
    "وزير الخارجية يزور دمشق",
    "قال وزير الخارجية إن بلاده ستواصل دعم سوريا، وإن المحادثات مع تركيا والسعودية مستمرة.",
    "وأضاف في مؤتمر صحافي بدمشق أن الحكومة السورية طلبت المزيد من المساعدات قبل الشتاء.",
)
