# ruff: noqa: RUF001 - typographic apostrophes are meant
"""Quoted passages and who said them.

A quote is a passage of three words or more between quotation marks (“…”, "…", «…») in a body
paragraph. Its speaker is the subject of the nearest verb of saying in the same sentence, else in
the same paragraph ("…,” said Lavrov", "Lavrov emphasized: “…”", "stating that Moscow “…”"):

* a person the model found there is named in full, as in ``entities`` ("Lavrov" → "Sergei Lavrov"),
  a lone first or family name as the one full name of the article it begins or ends ("Liang" →
  "Liang Hao"), with "Mr", "Dr"... left off;
* "he" or "she", or a description ("the 24-year-old Swiss") is the person the text is about
  at that point: the nearest person before the
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
from worker.enrich.entities import clean_entity, person_groups, retype, surname_key
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.nlp import Analysis, ArticleAnalyzer, Mention, SpeechVerb
from worker.models import ParsedArticle

MIN_QUOTE_WORDS = 3
PRONOUNS = frozenset({"he", "she"})
SPEAKER_LABELS = frozenset({"ORG", "NORP", "GPE"})
_DETERMINERS = frozenset({"the", "his", "her", "their", "its"})
_NOT_GIVEN_NAMES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "coach", "director", "minister",
    "president", "manager", "captain", "the", "and", "but", "when", "after", "said", "says",
    "team",
})  # fmt: skip
_PARTICLE = re.compile(r"^(?:al|el|ad|as|ash|an|ar|at|az)-[A-Z]")
_TITLE = re.compile(r"^(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Dame)\.?\s+")
# Quotation marks, and the paragraph breaks that end a quote running on.
_MARK = re.compile(r'[“”«»"\n]')


def find_quotes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, passage)`` of each quoted passage long enough to be a quote.

    Curly quotes and guillemets say which end they are; an ASCII mark is an opening one when it
    follows a space (or starts the text) and comes before a word, a closing one otherwise. A new
    opening mark ends the passage before it (a continued quote whose paragraphs were merged), so
    the narration between two quotes is never read as one. A passage that ends in a colon is
    narration introducing a quote ("the 24-year-old added:"), not a quote.
    """
    return [(start, end, passage) for start, end, passage, _ in quoted_passages(text)]


def quoted_passages(text: str) -> list[tuple[int, int, str, bool]]:
    """``find_quotes`` with, for each, whether it continues the one before: that one had no
    closing mark and this one opens where it stopped or at the start of the next paragraph."""
    found: list[tuple[int, int, str, bool]] = []
    previous: tuple[int, bool] | None = None  # (end, closed) of the last passage seen
    for start, end, passage, closed in _passages(text):
        continues = (
            previous is not None
            and not previous[1]
            and not text[previous[0] : start].strip()
            and bool(found)
        )
        previous = (end, closed)
        passage = " ".join(passage.split()).strip(" ,")
        if len(passage.split()) >= MIN_QUOTE_WORDS and not passage.endswith(":"):
            found.append((start, end, passage, continues))
    return found


def _passages(text: str) -> list[tuple[int, int, str, bool]]:
    passages = []
    opened: int | None = None
    for mark in _MARK.finditer(text):
        char, at = mark.group(), mark.start()
        if char == "\n":
            if opened is not None:  # a quote that runs on to the end of its paragraph
                passages.append((opened - 1, at, text[opened:at], False))
                opened = None
            continue
        if char in "“«":
            is_open = True
        elif char in "”»":
            is_open = False
        else:
            before = text[at - 1] if at else " "
            after = text[at + 1] if at + 1 < len(text) else " "
            is_open = (before.isspace() or before in "([\u2014\u2013-") and not after.isspace()
            if opened is None and not (after.isspace() or after in ".,;:!?)"):
                is_open = True
        if is_open:
            if opened is not None:
                passages.append((opened - 1, at, text[opened:at], False))
            opened = at + 1
        elif opened is not None:
            passages.append((opened - 1, at + 1, text[opened:at], True))
            opened = None
    if opened is not None:
        passages.append((opened - 1, len(text), text[opened:], False))
    return passages


def attribute(
    analysis: Analysis,
    start: int,
    end: int,
    people: dict[str, str],
    mentions: Sequence[Mention] | None = None,
) -> str | None:
    """The speaker of the quote at ``text[start:end]``, or ``None`` when the text does not say.

    ``mentions`` are the article's mentions as ``entities`` corrects them (``retype``), by
    default the model's own.
    """
    if mentions is None:
        mentions = analysis.mentions
    verb = _speech_verb(analysis, start, end)
    if verb is None or verb.subject_start is None or verb.subject_end is None:
        return None
    inside = [
        m
        for m in mentions
        if m.start < verb.subject_end
        and m.end > verb.subject_start
        and not _possessor(m, analysis.text, verb.subject_end)
    ]
    for mention in inside:
        written = analysis.text if mention.label in {"PERSON", "ORG"} else ""
        name = full_name(clean_entity(mention.text), people, analysis.text, written)
        if name:
            return name
    subject = clean_entity(verb.subject_text or "")
    for part in subject.split(","):  # "Her manager, Colm Doherty" names him after the comma
        part = _TITLE.sub("", part.strip())
        name = full_name(part, people, analysis.text) or (part if _looks_like_name(part) else None)
        if name:
            return name
    if subject.casefold() in PRONOUNS or _is_description(verb.subject_text or "", inside):
        person = _topic_person(analysis, start, people, mentions)
        return full_name(person, people, analysis.text) or person if person else None
    for mention in inside:
        if mention.label in SPEAKER_LABELS:
            return clean_entity(_from(verb.subject_text or mention.text, mention, verb))
    return None


def _possessor(mention: Mention, text: str, limit: int) -> bool:
    """ "Kessler's" in "Kessler's chief executive, Martina Vogt": the owner, not the speaker (a
    mention that ends the subject is its head)."""
    after = text[mention.end : mention.end + 2]
    owner = mention.text.endswith(("'s", "’s")) or after[:1] in {"'", "’"}
    return owner and mention.end < limit - 2


def _from(subject: str, mention: Mention, verb: SpeechVerb) -> str:
    """The subject from ``mention`` on: "Israel's Foreign Ministry" → "Foreign Ministry"."""
    if verb.subject_start is None or mention.start <= verb.subject_start:
        return subject
    cut = mention.start - verb.subject_start
    before = subject[:cut].rstrip()
    if before.endswith(("'s", "’s")) and " " not in before:
        return subject[cut:]
    return subject


def full_name(form: str, people: dict[str, str], text: str = "", written: str = "") -> str | None:
    """The article's full name for a person's form: "Liang" → "Liang Hao" when only one fits.

    The grouping of ``entities`` first; else a single word that is the first or the last word
    of exactly one multi-word name in the article (family names written first, given names
    used alone, a surname the model did not label, "al-Jubouri" for "Adel al-Jubouri"); else,
    when ``written`` (the text) is given, the one "Given Surname" it writes ("Bertin", taken
    for an organisation, is "Laurent Bertin" where the model found no full name).
    """
    if form in people:
        name = people[form]
        if len(name.split()) > 1:
            return name
        return _owner_of_word(name, people) or _written_in_full(name, text) or name
    if not form or len(form.split()) != 1 or not (form[0].isupper() or _PARTICLE.match(form)):
        return None
    return _owner_of_word(form, people) or (_written_in_full(form, written) if written else None)


def _written_in_full(word: str, text: str) -> str | None:
    """ "Jarno Lehtinen" for "Lehtinen" when the text writes one given name before it, and only
    one ("Finn Jarno Lehtinen" where the model split the name); not a title ("Coach Lehtinen")."""
    found = {
        f"{m.group(1)} {word}"
        for m in re.finditer(r"\b([A-Z][a-z][\w'-]*) " + re.escape(word) + r"\b", text)
        if m.group(1).casefold() not in _NOT_GIVEN_NAMES
    }
    return found.pop() if len(found) == 1 else None


def _owner_of_word(word: str, people: dict[str, str]) -> str | None:
    key = surname_key(word)
    owners = {
        other
        for other in people.values()
        if len(other.split()) > 1 and key in (surname_key(other), other.split()[0].casefold())
    }
    return owners.pop() if len(owners) == 1 else None


def _looks_like_name(text: str) -> bool:
    """Two to four capitalised words with no entity label: an apposition's name."""
    words = text.split()
    return 2 <= len(words) <= 4 and all(w[0].isupper() and w[1:].islower() for w in words)


def _is_description(subject: str, inside: list[Mention]) -> bool:
    """ "the 24-year-old Swiss", "the Portuguese coach, who ...": a person described, not named."""
    head = subject.split(",")[0]  # not the relative clause after it ("…, who won with Porto")
    words = head.split()
    if len(words) < 2 or words[0].casefold() not in _DETERMINERS:
        return False
    return not any(m.label in {"ORG", "GPE"} and m.text in head for m in inside)


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


def _topic_person(
    analysis: Analysis, before: int, people: dict[str, str], mentions: Sequence[Mention]
) -> str | None:
    earlier = [m for m in mentions if m.end <= before and clean_entity(m.text) in people]
    for mention in reversed(earlier):
        if mention.main_subject:
            return people[clean_entity(mention.text)]
    if earlier:
        return people[clean_entity(earlier[-1].text)]
    counts = Counter(
        people[clean_entity(m.text)] for m in mentions if clean_entity(m.text) in people
    )
    return counts.most_common(1)[0][0] if counts else None


def extract_quotes(
    analysis: Analysis, gazetteer: Gazetteer | None = None
) -> list[dict[str, str | None]]:
    """Each quote with its speaker; a continued quote has the speaker of the one it continues.

    The mentions are corrected as ``entities`` corrects them (``retype``: titles and demonyms
    off people's names, places the model took for people), so a speaker is written as the
    article's ``person`` entity is.
    """
    mentions = retype(analysis.mentions, analysis.text, gazetteer)
    people = person_groups(mentions)
    found: list[dict[str, str | None]] = []
    for start, end, passage, continues in quoted_passages(analysis.text):
        if continues and found[-1]["speaker"] is not None:
            speaker = found[-1]["speaker"]
        else:
            speaker = attribute(analysis, start, end, people, mentions)
        found.append({"text": passage, "speaker": speaker})
    return found


class QuotesEnricher:
    """Quotes with their speakers, for the articles the English model reads; ``None`` otherwise."""

    name = "quotes"

    def __init__(self, analyzer: ArticleAnalyzer, gazetteer: Gazetteer | None = None) -> None:
        self._analyzer = analyzer
        self._gazetteer = gazetteer

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        return [
            {"quotes": None if analysis is None else extract_quotes(analysis, self._gazetteer)}
            for analysis in self._analyzer.analyses(articles)
        ]
