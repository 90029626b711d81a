"""Quoted passages and who said them.

A quote is a passage of three words or more between quotation marks (“…”, "…", «…») in a body
paragraph. Its speaker is the subject of the nearest verb of saying in the same sentence, else in
the same paragraph ("…,” said Lavrov", "Lavrov emphasized: “…”", "stating that Moscow “…”"):

* a person the model found there is named in full, as in ``entities`` ("Lavrov" → "Sergei Lavrov");
* "he" or "she" is the person the text is about at that point: the nearest person before the
  quote who is the subject of a main clause ("Lavrov noted that … Assad requested …” he
  explained" → Lavrov), else the nearest person before it, else the most mentioned person;
* an organisation, a group or a country saying it is named as written ("the Defense Ministry");
* anything else (no verb of saying, an unnamed "a source") leaves the speaker ``None``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from worker.enrich.base import Fields
from worker.enrich.entities import clean_entity, person_groups
from worker.enrich.nlp import Analysis, ArticleAnalyzer, SpeechVerb
from worker.models import ParsedArticle

MIN_QUOTE_WORDS = 3
PRONOUNS = frozenset({"he", "she"})
SPEAKER_LABELS = frozenset({"ORG", "NORP", "GPE"})
# Open quote, the passage, its closing mark or the end of the paragraph (a quote that runs on).
_QUOTE = re.compile(
    r"“(?P<a>[^“”]+)(?:”|$)|\"(?P<b>[^\"\n]+)\"|«(?P<c>[^«»]+)(?:»|$)", re.MULTILINE
)


def find_quotes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, passage)`` of each quoted passage long enough to be a quote."""
    found = []
    for match in _QUOTE.finditer(text):
        passage = next(g for g in match.groups() if g is not None)
        passage = " ".join(passage.split()).strip(" ,")
        if len(passage.split()) >= MIN_QUOTE_WORDS:
            found.append((match.start(), match.end(), passage))
    return found


def attribute(analysis: Analysis, start: int, end: int, people: dict[str, str]) -> str | None:
    """The speaker of the quote at ``text[start:end]``, or ``None`` when the text does not say."""
    verb = _speech_verb(analysis, start, end)
    if verb is None or verb.subject_start is None or verb.subject_end is None:
        return None
    inside = [
        m for m in analysis.mentions if m.start < verb.subject_end and m.end > verb.subject_start
    ]
    for mention in inside:
        name = people.get(clean_entity(mention.text))
        if name:
            return name
    if (verb.subject_text or "").casefold() in PRONOUNS:
        return _topic_person(analysis, start, people)
    for mention in inside:
        if mention.label in SPEAKER_LABELS:
            return clean_entity(verb.subject_text or mention.text)
    return None


def _speech_verb(analysis: Analysis, start: int, end: int) -> SpeechVerb | None:
    paragraph = analysis.paragraph_of(start)
    outside = [
        v
        for v in analysis.speech
        if not (start <= v.start < end) and analysis.paragraph_of(v.start) == paragraph
    ]
    same_sentence = [v for v in outside if v.sentence_start < end and v.sentence_end > start]
    candidates = same_sentence or outside
    if not candidates:
        return None
    return min(candidates, key=lambda v: min(abs(v.start - end), abs(start - v.end)))


def _topic_person(analysis: Analysis, before: int, people: dict[str, str]) -> str | None:
    earlier = [m for m in analysis.mentions if m.end <= before and clean_entity(m.text) in people]
    for mention in reversed(earlier):
        if mention.main_subject:
            return people[clean_entity(mention.text)]
    if earlier:
        return people[clean_entity(earlier[-1].text)]
    counts = Counter(
        people[clean_entity(m.text)] for m in analysis.mentions if clean_entity(m.text) in people
    )
    return counts.most_common(1)[0][0] if counts else None


def extract_quotes(analysis: Analysis) -> list[dict[str, str | None]]:
    people = person_groups(analysis.mentions)
    return [
        {"text": passage, "speaker": attribute(analysis, start, end, people)}
        for start, end, passage in find_quotes(analysis.text)
    ]


class QuotesEnricher:
    """Quotes with their speakers, for the articles the English model reads; ``None`` otherwise."""

    name = "quotes"

    def __init__(self, analyzer: ArticleAnalyzer) -> None:
        self._analyzer = analyzer

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [
            {"quotes": None if analysis is None else extract_quotes(analysis)}
            for analysis in self._analyzer.analyses(articles)
        ]
