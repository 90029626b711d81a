# ruff: noqa: RUF001, RUF002 - typographic apostrophes and quotation marks are meant
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
* an organisation, a group or a country saying it is named as its mention writes it, without a
  country that owns it ("Israel's Foreign Ministry" → "Foreign Ministry"), also for its unnamed
  spokesman ("a spokesman for the Home Office" → "Home Office"); "it said" is the nearest
  organisation before that is a subject; a place or a compound qualifying the subject's head
  describes someone ("the Waterford man", "the Oscar-nominated actor"), unless the head is a
  group ("the Canada-based company");
* with no verb of saying, the sentence's subject named before the quote ("Adeyemi promised to be
  “…”");
* an unnamed spokesman or official speaks for the organisation the subject names, "the
  spokesman" for the one the nearest spokesman before spoke for, and "he"/"she" after one is
  that spokesman, not a person named earlier;
* anything else (an unnamed "a source") leaves the speaker ``None``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.enrich.base import Fields
from worker.enrich.entities import (
    clean_entity,
    corrected_mentions,
    person_groups,
    retype,
    surname_key,
)
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.names import gender_of
from worker.enrich.nlp import Analysis, ArticleAnalyzer, Mention, SpeechVerb
from worker.models import ParsedArticle

MIN_QUOTE_WORDS = 3
PRONOUNS = frozenset({"he", "she"})
SPEAKER_LABELS = frozenset({"ORG", "NORP", "GPE"})
# Heads of a subject that speak for someone without a name of their own.
_ROLE_NOUNS = frozenset({
    "spokesman", "spokeswoman", "spokesperson", "spokesmen", "spokeswomen", "official",
    "officials", "source", "sources", "representative", "aide", "aides", "insider", "insiders",
})  # fmt: skip
# Heads of a subject that are no person ("the Canada-based company said").
_GROUP_NOUNS = frozenset({
    "company", "firm", "group", "government", "ministry", "agency", "bank", "party", "team",
    "club", "side", "council", "body", "union", "report", "study", "survey", "statement",
    "authorities", "officials", "police", "court", "board", "committee", "newspaper", "network",
    "channel", "broadcaster", "studio", "band", "airline", "carrier", "maker", "giant", "embassy",
})  # fmt: skip
_GROUP_ORDER = {"ORG": 0, "NORP": 1, "GPE": 2}  # "the US Commerce Department" is the department
_DETERMINERS = frozenset({"the", "his", "her", "their", "its"})
_NOT_GIVEN_NAMES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "coach", "director", "minister",
    "president", "manager", "captain", "the", "and", "but", "when", "after", "said", "says",
    "team",
})  # fmt: skip
_PRONOUN_GENDER = {"he": "male", "she": "female"}
_TITLE_GENDER = {
    "Mr": "male", "Sir": "male", "Lord": "male",
    "Mrs": "female", "Ms": "female", "Miss": "female", "Dame": "female", "Lady": "female",
}  # fmt: skip
_TITLED = re.compile(r"\b(Mr|Mrs|Ms|Miss|Sir|Dame|Lord|Lady)\.? ((?:[a-z]{1,3}-)?[A-Z][\w-]*)")
_GENDER_PRONOUN = re.compile(r"\b(?:he|his|him|she|her)\b", re.IGNORECASE)
_GENDER_WINDOW = 200  # characters after a person where a pronoun tells their gender
# The end of a sentence: a full stop, question or exclamation mark (and a closing quotation
# mark) before a space.
_SENTENCE_END = re.compile(r"[.!?][”\"']?\s+(?=[A-Z“\"])")
_SUBORDINATE = re.compile(
    r"\b(?:when|while|as|after|before|because|since|until|if|although|though|that|who|whom|"
    r"which|where|whereas|unless|once)\b",
    re.IGNORECASE,
)
_RELATIVE = re.compile(r"\b(?:who|whose|whom|which|where|that)\b")
_MODIFIES = re.compile(r" [a-z]")  # a name followed by a lower-case word qualifies it
_OWNER = re.compile(r"(?<=\w)(?:'s|’s|'|’) ")
_OWNS = frozenset({"'s", "’s"})
_OPENING_CHARS = 12  # room for a title before an owner opening its sentence ("Mr ")
_APPOSITION_CHARS = 120  # how far from a described subject its verb may come
_DESCRIPTION_WORDS = 8  # "Synnex Health's chief executive," — at most this many words
_PARTICLE = re.compile(r"^(?:al|el|ad|as|ash|an|ar|at|az)-[A-Z]")
_TITLE = re.compile(r"^(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Dame)\.?\s+")
# Quotation marks, and the paragraph breaks that end a quote running on.
_MARK = re.compile(r'[“”«»"\n\'‘’]')
# Titles of works: a short passage in title case ("The Long Road Home") next to one of these.
_WORK_WORDS = frozenset({
    "film", "films", "movie", "documentary", "album", "albums", "song", "songs", "single",
    "track", "ep", "book", "books", "novel", "memoir", "biography", "series", "drama", "sitcom",
    "show", "programme", "program", "episode", "play", "musical", "opera", "ballet", "epic",
    "thriller", "comedy", "romance", "western", "painting", "sculpture", "poem", "exhibition",
    "podcast", "game", "titled", "entitled", "called", "named", "dubbed", "sequel", "remake",
    "hit", "anthem", "collection", "trilogy",
})  # fmt: skip
_TITLE_SMALL_WORDS = frozenset({
    "a", "an", "the", "and", "or", "nor", "but", "of", "in", "on", "at", "to", "for", "by",
    "with", "from", "as", "into", "de", "la", "le", "du", "der", "von", "van",
})  # fmt: skip
_TITLE_MAX_WORDS = 8
_WORK_WINDOW = 4  # words either side of the marks where a work word makes a title


def find_quotes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, passage)`` of each quoted passage long enough to be a quote.

    Curly quotes and guillemets say which end they are; an ASCII mark is an opening one when it
    follows a space (or starts the text) and comes before a word, a closing one otherwise. A new
    opening mark ends the passage before it (a continued quote whose paragraphs were merged), so
    the narration between two quotes is never read as one. A passage that ends in a colon is
    narration introducing a quote ("the 24-year-old added:"), not a quote, and a short passage
    in title case beside a word such as film, album or titled is the title of a work ("the
    historical epic “Sultan of the Deccan”", "“The Long Road Home”, a drama about …").

    Single marks (ASCII ' or ‘…’) quote too ("Iran was 'racing towards a bomb'"), closed
    within their paragraph; a mark between two letters is an apostrophe, and inside a passage
    between double marks they are left alone.
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
        if (
            len(passage.split()) >= MIN_QUOTE_WORDS
            and not passage.endswith(":")
            and not work_title(text, start, end, passage)
        ):
            found.append((start, end, passage, continues))
    return found


def work_title(text: str, start: int, end: int, passage: str) -> bool:
    """Whether the passage at ``text[start:end]`` (marks included) names a work: a few words in
    title case, with no full stop, and a word such as "film", "album" or "titled" among the few
    words before the marks or after them ("“The Long Road Home”, a drama about …")."""
    words = passage.split()
    if len(words) > _TITLE_MAX_WORDS or passage[-1] in ".!":
        return False
    capitalised = 0
    for word in words:
        letters = word.strip(",;:!?()'’-")
        if not letters:
            continue
        if letters[0].isupper() or letters[0].isdigit():
            capitalised += 1
        elif letters.casefold() not in _TITLE_SMALL_WORDS:
            return False
    if capitalised < 2 or not (words[0][0].isupper() or words[0][0].isdigit()):
        return False
    before = re.findall(r"[\w'’-]+", text[max(0, start - 60) : start])[-_WORK_WINDOW:]
    after = re.findall(r"[\w'’-]+", text[end : end + 60])[:_WORK_WINDOW]
    return any(word.casefold() in _WORK_WORDS for word in [*before, *after])


def _passages(text: str) -> list[tuple[int, int, str, bool]]:
    passages = []
    opened: int | None = None  # just after the opening double mark of the passage being read
    single: int | None = None  # just after an opening single mark, outside double marks
    for mark in _MARK.finditer(text):
        char, at = mark.group(), mark.start()
        before = text[at - 1] if at else " "
        after = text[at + 1] if at + 1 < len(text) else " "
        if char == "\n":
            if opened is not None:  # a quote that runs on to the end of its paragraph
                passages.append((opened - 1, at, text[opened:at], False))
                opened = None
            single = None  # a single mark left open was an apostrophe
            continue
        if char in "'‘’":
            if opened is None:
                single = _single_mark(text, at, char, before, after, single, passages)
            continue
        single = None
        if char in "“«":
            is_open = True
        elif char in "”»":
            is_open = False
        else:
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


def _single_mark(
    text: str,
    at: int,
    char: str,
    before: str,
    after: str,
    single: int | None,
    passages: list[tuple[int, int, str, bool]],
) -> int | None:
    """Read a single mark outside double ones; returns where an open single quote starts."""
    if before.isalnum() and after.isalnum():
        return single  # an apostrophe: "don't", "Russia's"
    if single is None:
        opens = char in "'‘" and (before.isspace() or before in "([\u2014\u2013-" or at == 0)
        return at + 1 if opens and after.isalpha() else None
    if not before.isspace() and (after.isspace() or after in ".,;:!?)\u2014\u2013"):
        passages.append((single - 1, at + 1, text[single:at], True))
        return None
    return single


@dataclass(slots=True)
class _Article:
    """What attribution reads of one article: its analysis, corrected mentions and people."""

    analysis: Analysis
    mentions: Sequence[Mention]
    people: dict[str, str]
    quoted: tuple[tuple[int, int], ...] = ()  # (start, end) of each quoted passage
    genders: dict[str, str | None] = field(default_factory=dict)  # name → gender, as found
    titled: dict[str, list[str]] | None = None  # surname → genders of "Mr", "Ms"... before it
    # what does not depend on the quote being attributed, worked out once per article (an
    # article of 700 quotes asked for it 700 times: seconds, quadratic in its length)
    named: dict[SpeechVerb, tuple[str, bool] | None] = field(default_factory=dict)
    people_before: list[tuple[int, int, int, str, bool]] | None = None
    organisations_before: list[tuple[int, int, str]] | None = None
    ranked_people: list[str] | None = None
    _quote_starts: list[int] | None = None

    @property
    def text(self) -> str:
        return self.analysis.text

    def in_quote(self, offset: int) -> bool:
        # the passages do not overlap: the one starting last at or before offset holds it if any
        if self._quote_starts is None:
            self.quoted = tuple(sorted(self.quoted))
            self._quote_starts = [start for start, _ in self.quoted]
        number = bisect_right(self._quote_starts, offset) - 1
        return number >= 0 and offset < self.quoted[number][1]


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
    words = (verb.subject_text or "").casefold().split()
    if len(words) == 2 and words[0] in {"his", "her", "their"}:
        # "his wife said": someone the text does not name, unless it names them after the
        # subject ("Her co-star, the actor Marek Zielinski, ... said")
        return _apposition_name(article, verb)
    if len(words) == 2 and words[0] == "the" and words[1] in _GROUP_NOUNS:
        # "the company said": the organisation named before, not its chief executive
        return _organisation_before(article, min(start, verb.subject_start))
    named = _named(article, verb)
    if named:
        return named[0]
    subject = clean_entity(verb.subject_text or "")
    if _unnamed_role(subject):  # someone the text does not name but by whom they speak for
        if (verb.subject_text or "").casefold().startswith(("the ", "this ")):
            return _role_before(article, min(start, verb.subject_start))
        return None
    pronoun = subject.casefold()
    if pronoun == "it":
        return _organisation_before(article, min(start, verb.subject_start))
    inside = _inside(article, verb)
    placed = any(
        (m.label in {"GPE", "NORP"} or _compound(analysis.text, m, verb))
        and _place_modifier(analysis.text, m, verb)
        for m in inside
    )
    if placed and subject.split()[-1].casefold() in _GROUP_NOUNS:
        return None  # "the Canada-based company" names no one
    if pronoun in PRONOUNS or placed or _is_description(verb.subject_text or "", inside):
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
    text = article.text
    for mention in article.mentions:
        if verb.subject_start <= mention.start and mention.end <= verb.start:
            between = text[verb.subject_start : mention.start]
            if "," not in between or _RELATIVE.search(between):
                continue  # not set off, or in a relative clause ("whose films include …")
            form = clean_entity(mention.text)
            if mention.label == "PERSON" and not _possessor(mention, text, verb.start):
                return full_name(form, article.people, text) or form
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
    if verb not in article.named:
        article.named[verb] = _who_is_named(article, verb)
    return article.named[verb]


def _who_is_named(article: _Article, verb: SpeechVerb) -> tuple[str, bool] | None:
    if verb.subject_start is None:
        return None
    text, people = article.text, article.people
    inside = _inside(article, verb)
    relative = _RELATIVE.search(text, verb.subject_start, verb.subject_end or verb.subject_start)
    if relative:  # not who is named in "the actor, whose films include Michael Collins"
        inside = [m for m in inside if m.start < relative.start()]
    # people first: "Warner producer Jeff Robinov" is Jeff Robinov
    people_inside = [m for m in inside if m.label == "PERSON"]
    for mention in sorted(inside, key=lambda m: m.label != "PERSON"):
        form = clean_entity(mention.text)
        if (
            mention.label == "PERSON"
            and _MODIFIES.match(text, mention.end)
            and any(other.start > mention.end for other in people_inside)
        ):
            continue  # "Yukos chief executive Steven Theede": Yukos qualifies his title
        if mention.label == "ORG" and _organisation(mention, article) != form:
            continue  # "Cairn" where the article names "Cairn Energy": the company
        written = text if mention.label in {"PERSON", "ORG"} else ""
        name = full_name(form, people, text, written)
        if name:
            return name, True
    subject = clean_entity(verb.subject_text or "")
    companies = {
        form
        for m in inside
        if m.label == "ORG" and _organisation(m, article) != (form := clean_entity(m.text))
    }
    for part in subject.split(","):  # "Her manager, Colm Doherty" names him after the comma
        # "Sky Networks' Sophie Turner Laing": the name after its owner
        part = _TITLE.sub("", _OWNER.split(part.strip())[-1])
        if part in companies:
            continue
        name = (
            full_name(part, people, text)
            or (part if _looks_like_name(part) else None)
            or _name_after_role(part, article)
        )
        if name:
            return name, True
    if subject.casefold() in PRONOUNS or _is_description(verb.subject_text or "", inside):
        return None
    groups = sorted(
        (m for m in inside if m.label in SPEAKER_LABELS), key=lambda m: _GROUP_ORDER[m.label]
    )
    groups = [m for m in groups if not _compound(text, m, verb)]
    if groups and groups[0].label != "ORG" and _place_modifier(text, groups[0], verb):
        return None  # "the Waterford man", "a Newport-based athlete": someone described
    if groups:  # "A Labour Party spokesman", "the US Commerce Department": the organisation
        return _organisation(groups[0], article), False
    return None


def _compound(text: str, mention: Mention, verb: SpeechVerb) -> bool:
    """ "Oscar" in "the Oscar-nominated actor": half of a word qualifying the subject's head
    (or the whole word, where the mention took it: "Oscar-winning")."""
    if mention.end >= (verb.subject_end or 0):
        return False
    last = mention.text.rsplit("-", 1)
    return text[mention.end : mention.end + 1] == "-" or (len(last) == 2 and last[1][:1].islower())


def _place_modifier(text: str, mention: Mention, verb: SpeechVerb) -> bool:
    """A name qualifying the noun that heads the subject ("Waterford man", "the Canada-based
    company", "the Oscar-nominated actor") rather than saying something itself ("Russia said")."""
    assert verb.subject_end is not None
    if _compound(text, mention, verb):
        return True  # "the Oscar-nominated actor", "a Newport-based athlete"
    rest = text[mention.end : verb.subject_end].split()
    words = [w for w in rest if w.casefold() not in {"based", "-based"}]
    return bool(rest) and bool(words) and words[-1][0].islower()


def _organisation(mention: Mention, article: _Article) -> str:
    """An organisation's name as ``entities`` writes it, without an owner ("Israel's"); a lone
    word is the one longer organisation name of the article it begins ("Cairn" → "Cairn
    Energy")."""
    name = clean_entity(mention.text)
    for mark in ("'s ", "’s "):
        if mark in name:
            name = clean_entity(name.split(mark, 1)[1])
    if mention.label == "ORG" and len(name.split()) == 1:
        longer = {
            form
            for m in article.mentions
            if m.label == "ORG"
            and (form := clean_entity(m.text)).startswith(name + " ")
            and "'s" not in form
            and "’s" not in form
        }
        if len(longer) == 1:
            return longer.pop()
    return name


def _possessor(mention: Mention, text: str, limit: int) -> bool:
    """ "Kessler's" in "Kessler's chief executive, Martina Vogt": the owner, not the speaker (a
    mention that ends the subject is its head)."""
    after = text[mention.end : mention.end + 2]
    owner = mention.text.endswith(("'s", "’s")) or after[:1] in {"'", "’"}
    return owner and mention.end < limit - 2


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


def _name_after_role(part: str, article: _Article) -> str | None:
    """ "Yukos chief executive Steven Theede": the capitalised words ending the subject after a
    lower-case role word, when they look like a name, begin with a given name and are no place
    or organisation of the article."""
    words = part.split()
    for cut in range(len(words) - 2, 0, -1):
        if words[cut - 1][0].islower() and words[cut - 1].isalpha():
            tail = " ".join(words[cut:])
            given = gender_of(words[cut]) is not None
            known = any(  # "in San Francisco": a place or organisation the model found
                m.label != "PERSON" and clean_entity(m.text) == tail for m in article.mentions
            )
            return tail if given and not known and _looks_like_name(tail) else None
    return None


def _looks_like_name(text: str) -> bool:
    """Two to four capitalised words with no entity label: an apposition's name (not an
    owner's: "Israel's Foreign Ministry")."""
    words = text.split()
    return 2 <= len(words) <= 4 and all(
        w[0].isupper() and w[1:].islower() and w.replace("-", "").isalpha() for w in words
    )


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
    sentence or of a verb of saying ("Its chairman, Tarek Fawzy, said … “…,” he told"); else,
    paragraph by paragraph back, the same; else the nearest person named before; else the most
    mentioned person. "He" is no woman and "she" no man (``_gender_of``) unless nobody else
    is there to be; names inside quotes are not candidates.
    """
    analysis = article.analysis
    paragraph = analysis.paragraph_of(anchor)
    candidates = _candidates(article, anchor)
    fits = [c for c in candidates if _fits(article, c[2], gender)] or candidates
    for number in range(paragraph, -1, -1):
        here = [c for c in fits if c[1] == number and c[3]]
        if here:
            return max(here, key=lambda c: c[0])[2] or None
    named = [c for c in fits if c[2]]
    if named:
        return max(named, key=lambda c: c[0])[2]
    if article.ranked_people is None:
        counts = Counter(
            article.people[clean_entity(m.text)]
            for m in article.mentions
            if clean_entity(m.text) in article.people and not article.in_quote(m.start)
        )
        article.ranked_people = [name for name, _ in counts.most_common()]
    ranked = article.ranked_people
    fitting = [name for name in ranked if _fits(article, name, gender)] or ranked
    return fitting[0] if fitting else None


def _organisation_before(article: _Article, anchor: int) -> str | None:
    """What "it said" stands for: the nearest organisation before, in this paragraph or the one
    before, that is the subject of a sentence or of a verb of saying ("Contrack said … “…,” it
    said in a statement")."""
    analysis = article.analysis
    paragraph = analysis.paragraph_of(anchor)
    if article.organisations_before is None:
        # (the offset it must come before the anchor by, where it is, the organisation)
        found: list[tuple[int, int, str]] = []
        for mention in article.mentions:
            if mention.label == "ORG" and mention.main_subject:
                found.append((mention.end, mention.start, _organisation(mention, article)))
        for verb in analysis.speech:
            if verb.subject_start is None:
                continue
            named = _named(article, verb) if _is_verb(analysis, verb) else None
            if named and not named[1]:
                found.append((verb.subject_start + 1, verb.subject_start, named[0]))
        article.organisations_before = found
    near = [
        (at, name)
        for limit, at, name in article.organisations_before
        if limit <= anchor
        and paragraph - 1 <= analysis.paragraph_of(at) <= paragraph
        and not article.in_quote(at)
    ]
    return max(near)[1] if near else None


def _candidates(article: _Article, anchor: int) -> list[tuple[int, int, str, bool]]:
    """``(offset, paragraph, name, salient)`` of each person named before ``anchor``; salient:
    the subject of a main clause or of a verb of saying, or a name set off after it ("Synnex's
    chief executive, Mark Ellery, apologised")."""
    if article.people_before is None:
        article.people_before = _all_candidates(article)
    return [
        (offset, paragraph, name, salient)
        for limit, offset, paragraph, name, salient in article.people_before
        if limit <= anchor
    ]


def _all_candidates(article: _Article) -> list[tuple[int, int, int, str, bool]]:
    """``_candidates`` for any anchor: each with the offset it must come before an anchor by."""
    analysis, text = article.analysis, article.text
    found: list[tuple[int, int, int, str, bool]] = []
    for mention in article.mentions:
        if article.in_quote(mention.start):
            continue
        form = clean_entity(mention.text)
        if mention.label == "PERSON" and form in article.people:
            name = article.people[form]
        else:  # a surname the model took for something else ("Mr Ebbers" as an organisation)
            owner = full_name(form, article.people) if len(form.split()) == 1 else None
            if not owner:
                continue
            name = owner
        salient = (
            mention.main_subject
            or _set_off_subject(text, mention)
            or _owner_of_subject(text, mention)
        )
        paragraph = analysis.paragraph_of(mention.start)
        found.append((mention.end, mention.start, paragraph, name, salient))
    for verb in analysis.speech:
        if verb.subject_start is None:
            continue
        if article.in_quote(verb.start) or not _is_verb(analysis, verb):
            continue
        named = _named(article, verb)
        role = _unnamed_role(clean_entity(verb.subject_text or ""))
        if (named and named[1]) or role:
            paragraph = analysis.paragraph_of(verb.subject_start)
            since = max(
                [verb.sentence_start, verb.subject_start - 80]
                + [end for _, end in article.quoted if end <= verb.subject_start]
            )
            opening = text[since : verb.subject_start]  # narration only, not a quote's words
            main = not _SUBORDINATE.search(opening)  # not "… when Mr Blunkett argued"
            # "A Conservative spokeswoman said … She said": she is the spokeswoman, whom the
            # text does not name ("" for the speaker None) unless by her organisation
            name = named[0] if named else ""
            found.append((verb.subject_start + 1, verb.subject_start, paragraph, name, main))
    return found


def _role_before(article: _Article, anchor: int) -> str | None:
    """ "The spokesman said" after "A spokesman for the Home Office said": the organisation the
    nearest spokesman before (this paragraph or the two before) speaks for, if the text says."""
    analysis = article.analysis
    paragraph = analysis.paragraph_of(anchor)
    for verb in sorted(analysis.speech, key=lambda v: v.start, reverse=True):
        if verb.subject_start is None or verb.subject_start >= anchor:
            continue
        if analysis.paragraph_of(verb.subject_start) < paragraph - 2:
            break
        if _unnamed_role(clean_entity(verb.subject_text or "")) and _is_verb(analysis, verb):
            named = _named(article, verb)
            return named[0] if named else None
    return None


def _unnamed_role(subject: str) -> bool:
    """ "A spokesman for the Home Office", "a Labour Party spokeswoman", "officials": someone
    speaking for others, not named."""
    head = re.split(r",| for | of | at | from ", subject, maxsplit=1)[0].split()
    return bool(head) and head[-1].casefold() in _ROLE_NOUNS


def _owner_of_subject(text: str, mention: Mention) -> bool:
    """ "Mr Campbell's e-mail, which …, suggested …": the owner of what opens a sentence."""
    if not (mention.text.endswith(("'s", "’s")) or text[mention.end : mention.end + 2] in _OWNS):
        return False
    before = text[max(0, mention.start - _OPENING_CHARS) : mention.start]
    opening = _SENTENCE_END.split(before)[-1].split("\n")[-1]
    return not opening.strip() or _TITLE.fullmatch(opening) is not None


def _set_off_subject(text: str, mention: Mention) -> bool:
    """ "Its director, Pieter van der Berg, said": a name between commas right after the
    sentence's first phrase (a description of the person with no verb in it)."""
    if text[mention.end : mention.end + 1] != ",":
        return False
    before = text[: mention.start]
    if not before.endswith(", "):
        return False
    sentence = _SENTENCE_END.split(before[:-2])[-1].split("\n")[-1]
    words = sentence.split()
    # a description ("Its director"), not a list of names ("Gardener, Darren Campbell and …")
    described = any(word[0].islower() for word in words)
    return described and "," not in sentence and len(words) <= _DESCRIPTION_WORDS


def _fits(article: _Article, name: str, gender: str | None) -> bool:
    if gender is None or not name:
        return True
    if name not in article.genders:
        article.genders[name] = _gender_of(article, name)
    known = article.genders[name]
    return known is None or known == gender


def _gender_of(article: _Article, name: str) -> str | None:
    """A person's gender as the text and the given name tell it, ``None`` when they do not.

    Votes: "Mr"/"Mrs"/"Ms"... before the surname (3 each), the given name (``names``, 1.5),
    and each "he"/"his"/"him" or "she"/"her" in the rest of a sentence the person is the
    subject of, with nobody else named in between (1 each: "Bernie Ebbers has denied claims
    that he knew" is a man whatever the name list says of Bernie).
    """
    text = article.text
    votes = {"male": 0.0, "female": 0.0}
    if article.titled is None:  # surname → genders of the titles written before it
        article.titled = {}
        for match in _TITLED.finditer(text):
            article.titled.setdefault(match.group(2), []).append(_TITLE_GENDER[match.group(1)])
    for title_gender in article.titled.get(name.split()[-1], ()):
        votes[title_gender] += 3
    given = gender_of(name.split()[0]) if len(name.split()) > 1 else None
    if given in ("male", "female"):
        votes[given] += 1.5
    starts = sorted(m.start for m in article.mentions)
    for mention in article.mentions:
        if not mention.main_subject or article.people.get(clean_entity(mention.text)) != name:
            continue
        rest = text[mention.end : mention.end + _GENDER_WINDOW]
        ends = _SENTENCE_END.search(rest)
        rest = rest[: ends.start() if ends else len(rest)].split("\n")[0]
        pronoun = _GENDER_PRONOUN.search(rest)
        if not pronoun or article.in_quote(mention.end + pronoun.start()):
            continue
        at = mention.end + pronoun.start()
        if any(mention.end <= start < at for start in starts):
            continue  # someone else named before the pronoun may be the one it means
        votes["male" if pronoun.group().casefold() in {"he", "his", "him"} else "female"] += 1
    if votes["male"] == votes["female"]:
        return None
    return "male" if votes["male"] > votes["female"] else "female"


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
    analysis: Analysis,
    gazetteer: Gazetteer | None = None,
    mentions: Sequence[Mention] | None = None,
) -> list[dict[str, str | None]]:
    """Each quote with its speaker; a continued quote has the speaker of the one it continues.

    The mentions are corrected as ``entities`` corrects them (``retype``: titles and demonyms
    off people's names, places the model took for people), so a speaker is written as the
    article's ``person`` entity is (``mentions``: already corrected, else corrected here).
    """
    passages = quoted_passages(analysis.text)
    if not passages:
        return []
    if mentions is None:
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
            {"quotes": None if analysis is None else self._quotes(article, analysis)}
            for article, analysis in zip(articles, self._analyzer.analyses(articles), strict=True)
        ]

    def _quotes(self, article: ParsedArticle, analysis: Analysis) -> list[dict[str, str | None]]:
        mentions = None
        if self._gazetteer is not None:  # as the entities enricher corrected them, once
            mentions = corrected_mentions(self._analyzer, article, analysis, self._gazetteer)
        return extract_quotes(analysis, self._gazetteer, mentions)
