# ruff: noqa: RUF001 - typographic apostrophes are meant
"""Quoted passages and who said them.

A quote is a passage of three words or more between quotation marks (“…”, "…", «…») in a body
paragraph. Its speaker is the subject of the nearest verb of saying in the same sentence, else in
the same paragraph ("…,” said Lavrov", "Lavrov emphasized: “…”", "stating that Moscow “…”"),
read from the mentions as ``entities`` corrects them (``retype``), so that a speaker is written
as the article's ``person`` entity:

* a person named there is named in full, as in ``entities`` ("Lavrov" → "Sergei Lavrov"), a lone
  first or family name as the one full name of the article it begins or ends ("Liang" → "Liang
  Hao", "al-Jubouri" → "Adel al-Jubouri"), without titles or demonyms ("Mr", "Prince",
  "Kenyan"); an owner in the subject is not the speaker ("Kessler's chief executive, Martina
  Vogt" → Martina Vogt), nor is a capitalised word a verb of saying (the "States" of "the United
  States");
* "he" or "she", or a description ("the 24-year-old Swiss") is the person it stands for
  (``_antecedent``): in the same paragraph, the nearest person named as the subject of a sentence
  or of a verb of saying ("Its chairman, Tarek Fawzy, said … “…,” he told"), else the nearest
  person named there, else the same paragraph by paragraph back, else the most mentioned
  person; "he" is no woman and "she" no man, by the given name; names inside quotes are not
  candidates. A described subject named before its verb is that person ("Her co-star, the
  Polish actor Marek Zielinski, who …, said");
* an organisation, a group or a country saying it is named as written, without a country that
  owns it ("Israel's Foreign Ministry" → "Foreign Ministry");
* with no verb of saying, the sentence's subject named before the quote ("Adeyemi promised to be
  “…”");
* anything else (an unnamed "a source") leaves the speaker ``None``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from worker.enrich.base import Fields
from worker.enrich.entities import clean_entity, person_groups, retype, surname_key
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.names import gender_of
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
_PRONOUN_GENDER = {"he": "male", "she": "female"}
# The end of a sentence: a full stop, question or exclamation mark (and a closing quotation
# mark) before a space.
_SENTENCE_END = re.compile(r"[.!?][”\"']?\s+(?=[A-Z“\"])")
_APPOSITION_CHARS = 120  # how far from a described subject its verb may come
_DESCRIPTION_WORDS = 8  # "Synnex Health's chief executive," — at most this many words
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


@dataclass(frozen=True, slots=True)
class _Article:
    """What attribution reads of one article: its analysis, corrected mentions and people."""

    analysis: Analysis
    mentions: Sequence[Mention]
    people: dict[str, str]
    quoted: tuple[tuple[int, int], ...] = ()  # (start, end) of each quoted passage

    @property
    def text(self) -> str:
        return self.analysis.text

    def in_quote(self, offset: int) -> bool:
        return any(start <= offset < end for start, end in self.quoted)


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
    article = _Article(
        analysis,
        analysis.mentions if mentions is None else mentions,
        people,
        tuple((s, e) for s, e, _ in find_quotes(analysis.text)),
    )
    return _attribute(article, start, end)


def _attribute(article: _Article, start: int, end: int) -> str | None:
    analysis = article.analysis
    verb = _speech_verb(analysis, start, end)
    if verb is None:
        return _sentence_subject(article, start)
    if verb.subject_start is None or verb.subject_end is None:
        return None
    named = _named(article, verb)
    if named:
        return named[0]
    subject = clean_entity(verb.subject_text or "")
    pronoun = subject.casefold()
    if pronoun in PRONOUNS or _is_description(verb.subject_text or "", _inside(article, verb)):
        if pronoun not in PRONOUNS:
            named_after = _apposition_name(article, verb)
            if named_after:
                return named_after
        anchor = min(start, verb.subject_start)
        person = _antecedent(article, anchor, _PRONOUN_GENDER.get(pronoun))
        return full_name(person, article.people, analysis.text) or person if person else None
    return None


def _apposition_name(article: _Article, verb: SpeechVerb) -> str | None:
    """ "Her co-star, the Polish actor Marek Zielinski, who played a smuggler, said": the person
    a described subject is named as before its verb (the parse may end the subject early)."""
    assert verb.subject_start is not None
    if not verb.subject_start < verb.start <= verb.subject_start + _APPOSITION_CHARS:
        return None
    for mention in article.mentions:
        if verb.subject_start <= mention.start and mention.end <= verb.start:
            form = clean_entity(mention.text)
            if mention.label == "PERSON" and not _possessor(mention, article.text, verb.start):
                return full_name(form, article.people, article.text) or form
    return None


def _inside(article: _Article, verb: SpeechVerb) -> list[Mention]:
    """The mentions in a verb's subject, without owners ("Kessler's" chief executive)."""
    assert verb.subject_start is not None and verb.subject_end is not None
    return [
        m
        for m in article.mentions
        if m.start < verb.subject_end
        and m.end > verb.subject_start
        and not _possessor(m, article.text, verb.subject_end)
    ]


def _named(article: _Article, verb: SpeechVerb) -> tuple[str, bool] | None:
    """Who a verb's subject names, and whether a person (``None`` for "he", "the coach")."""
    if verb.subject_start is None:
        return None
    text, people = article.text, article.people
    inside = _inside(article, verb)
    for mention in inside:
        written = text if mention.label in {"PERSON", "ORG"} else ""
        name = full_name(clean_entity(mention.text), people, text, written)
        if name:
            return name, True
    subject = clean_entity(verb.subject_text or "")
    for part in subject.split(","):  # "Her manager, Colm Doherty" names him after the comma
        part = _TITLE.sub("", part.strip())
        name = full_name(part, people, text) or (part if _looks_like_name(part) else None)
        if name:
            return name, True
    if subject.casefold() in PRONOUNS or _is_description(verb.subject_text or "", inside):
        return None
    for mention in inside:
        if mention.label in SPEAKER_LABELS:
            return clean_entity(_from(verb.subject_text or mention.text, mention, verb)), False
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


def _is_verb(analysis: Analysis, verb: SpeechVerb) -> bool:
    """A verb of saying as written in lower case, or opening its sentence: not the "States" of
    "the United States" nor a name ("Said")."""
    return analysis.text[verb.start].islower() or verb.start == verb.sentence_start


def _speech_verb(analysis: Analysis, start: int, end: int) -> SpeechVerb | None:
    paragraph = analysis.paragraph_of(start)
    outside = [
        v
        for v in analysis.speech
        if not (start <= v.start < end)
        and analysis.paragraph_of(v.start) == paragraph
        and _is_verb(analysis, v)
    ]
    same_sentence = [v for v in outside if v.sentence_start < end and v.sentence_end > start]
    candidates = same_sentence or outside
    if not candidates:
        return None
    return min(candidates, key=lambda v: min(abs(v.start - end), abs(start - v.end)))


def _antecedent(article: _Article, anchor: int, gender: str | None) -> str | None:
    """The person "he", "she" or "the 29-year-old" before ``anchor`` stands for.

    As a reader takes it: in the same paragraph, the nearest person named as the subject of a
    sentence or of a verb of saying ("Its chairman, Tarek Fawzy, said … “…,” he told"), else
    the nearest person named there; else, paragraph by paragraph back, the same; else the most
    mentioned person. "He" is never a woman nor "she" a man, by the given name
    (``names.gender_of``) or a title (Mr, Mrs...); a name the text does not tell fits both.
    Names inside quotes are not candidates.
    """
    analysis = article.analysis
    paragraph = analysis.paragraph_of(anchor)
    candidates = _candidates(article, anchor)
    fits = [(at, p, name, salient) for at, p, name, salient in candidates if _fits(name, gender)]
    for number in range(paragraph, -1, -1):
        here = [c for c in fits if c[1] == number]
        for wanted in (True, False):
            chosen = [c for c in here if c[3] == wanted]
            if chosen:
                return max(chosen, key=lambda c: c[0])[2]
    counts = Counter(
        article.people[clean_entity(m.text)]
        for m in article.mentions
        if clean_entity(m.text) in article.people and not article.in_quote(m.start)
    )
    ranked = [name for name, _ in counts.most_common() if _fits(name, gender)]
    return ranked[0] if ranked else None


def _candidates(article: _Article, anchor: int) -> list[tuple[int, int, str, bool]]:
    """``(offset, paragraph, name, salient)`` of each person named before ``anchor``; salient:
    the subject of a main clause or of a verb of saying, or a name set off after it ("Synnex's
    chief executive, Mark Ellery, apologised")."""
    analysis, text = article.analysis, article.text
    found: list[tuple[int, int, str, bool]] = []
    for mention in article.mentions:
        form = clean_entity(mention.text)
        if mention.end > anchor or form not in article.people or article.in_quote(mention.start):
            continue
        if mention.label != "PERSON":
            continue
        name = article.people[form]
        salient = mention.main_subject or _set_off_subject(text, mention)
        found.append((mention.start, analysis.paragraph_of(mention.start), name, salient))
    for verb in analysis.speech:
        if verb.subject_start is None or verb.subject_start >= anchor:
            continue
        if article.in_quote(verb.start) or not _is_verb(analysis, verb):
            continue
        named = _named(article, verb)
        if named and named[1]:
            paragraph = analysis.paragraph_of(verb.subject_start)
            found.append((verb.subject_start, paragraph, named[0], True))
    return found


def _set_off_subject(text: str, mention: Mention) -> bool:
    """ "Its director, Pieter van der Berg, said": a name between commas right after the
    sentence's first phrase (a description of the person with no verb in it)."""
    if text[mention.end : mention.end + 1] != ",":
        return False
    before = text[: mention.start]
    if not before.endswith(", "):
        return False
    sentence = _SENTENCE_END.split(before[:-2])[-1].split("\n")[-1]
    return "," not in sentence and 0 < len(sentence.split()) <= _DESCRIPTION_WORDS


def _fits(name: str, gender: str | None) -> bool:
    if gender is None:
        return True
    known = gender_of(name.split()[0])
    return known is None or known == "either" or known == gender


def _sentence_subject(article: _Article, start: int) -> str | None:
    """With no verb of saying, the person the quote's sentence is about, named before it
    ("In his victory speech, Adeyemi promised to be “a president for all”")."""
    text = article.text
    paragraph = article.analysis.paragraphs[article.analysis.paragraph_of(start)]
    ends = [m.end() for m in _SENTENCE_END.finditer(text, paragraph[0], start)]
    sentence_start = ends[-1] if ends else paragraph[0]
    for mention in article.mentions:
        if sentence_start <= mention.start and mention.end <= start and mention.main_subject:
            form = clean_entity(mention.text)
            if mention.label == "PERSON" or form in article.people:
                return full_name(form, article.people, text) or form
            name = full_name(form, article.people, text)
            if name:
                return name
    return None


def extract_quotes(
    analysis: Analysis, gazetteer: Gazetteer | None = None
) -> list[dict[str, str | None]]:
    """Each quote with its speaker; a continued quote has the speaker of the one it continues.

    The mentions are corrected as ``entities`` corrects them (``retype``: titles and demonyms
    off people's names, places the model took for people), so a speaker is written as the
    article's ``person`` entity is.
    """
    passages = quoted_passages(analysis.text)
    if not passages:
        return []
    mentions = retype(analysis.mentions, analysis.text, gazetteer)
    article = _Article(
        analysis, mentions, person_groups(mentions), tuple((s, e) for s, e, _, _ in passages)
    )
    found: list[dict[str, str | None]] = []
    for start, end, passage, continues in passages:
        if continues and found[-1]["speaker"] is not None:
            speaker = found[-1]["speaker"]
        else:
            speaker = _attribute(article, start, end)
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
