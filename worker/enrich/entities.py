# ruff: noqa: RUF001, RUF002 - typographic apostrophes and dashes and Arabic letters are meant
"""People, organisations and locations, de-duplicated and normalised per article.

spaCy's small English model finds the mentions (``nlp.ArticleAnalyzer``); this module turns them
into the record's ``{"person": [...], "org": [...], "location": [...]}``, each item
``{"text", "count"}``, most mentioned first:

* surface forms are cleaned: possessives ("Russia’s" → "Russia"), a leading "the", spacing;
* a person named in full once and by surname afterwards is one person ("Bashar Assad",
  "Bashar al-Assad" and "Assad" together, when no other person in the article has that surname),
  also where the model labelled the short form as an organisation;
* an organisation's acronym joins its full name when the initials match ("UN", "United Nations");
* a location that names a country is written as the country's short name ("U.S." and "United
  States" are one location).

Articles the model cannot read (not English) get ``None``, and the reason is logged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from worker.enrich.base import Fields
from worker.enrich.gazetteer import Gazetteer, fold
from worker.enrich.nlp import MODEL_LANGUAGES, Analysis, ArticleAnalyzer, Mention
from worker.log import get_logger
from worker.models import ParsedArticle

log = get_logger(__name__)

ENTITY_KINDS = {"PERSON": "person", "ORG": "org", "GPE": "location", "LOC": "location"}
ENTITY_KINDS["FAC"] = "location"
# Labels the small model gives people's surnames by mistake ("Lavrov" as an organisation).
_MISLABELLED_PERSON = frozenset({"ORG", "FAC", "NORP"})
_POSSESSIVE = re.compile(r"\s*(?:['’]s|s['’])$|['’]$")
_LEADING_ARTICLE = re.compile(r"^(?:the|The|THE)\s+")
_EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’()[]{}-–—"
_NAME_PARTICLE = re.compile(r"^(?:al|el|ad|as|ash|an|ar|at|az)-", re.IGNORECASE)
_ACRONYM_SKIP = frozenset({"of", "for", "the", "and", "on", "in", "de", "&"})
LOG_INDEXES = 50
# Words before a name that are not part of it ("President Omar al-Haddad", "coach Jose Mourinho").
_TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "sir",
        "dame",
        "lord",
        "lady",
        "prince",
        "princess",
        "king",
        "queen",
        "sheikh",
        "president",
        "vice",
        "prime",
        "minister",
        "foreign",
        "chancellor",
        "senator",
        "sen",
        "governor",
        "gov",
        "general",
        "gen",
        "colonel",
        "col",
        "captain",
        "judge",
        "pope",
        "rev",
        "coach",
        "manager",
        "striker",
        "midfielder",
        "defender",
        "goalkeeper",
        "winger",
        "forward",
        "skipper",
        "chairman",
        "chairwoman",
        "chief",
        "executive",
        "ceo",
        "director",
        "spokesman",
        "spokeswoman",
        "secretary",
        "ambassador",
        "mayor",
        "emir",
        "crown",
    ]
)
# Names the model takes for organisations or people that are no entities of ours.
_NOT_ENTITIES = frozenset(["gmt", "bst", "utc", "cet", "est", "edt", "pst", "cest"])
# Words that make an article a sports story, where a town's name is usually its team.
_SPORTS = re.compile(
    r"\b(?:match|matches|league|cup|premiership|season|striker|midfielder|coach|fixture|"
    r"semi-final|quarter-final|kick-off|stadium|squad|fly-half|scrum|penalty|penalties|goal|"
    r"goals|tries|scored|championship|tournament|seed|seeded|defeat|victory)\b",
    re.IGNORECASE,
)
_SPORTS_MIN_WORDS = 4
# A preposition just before a place name: the place itself, not its team ("in Porto").
_PLACE_PREPOSITION = re.compile(r"\b(?:in|at|near|from|to|outside|around|of)\s+(?:the\s+)?$")


def clean_entity(text: str) -> str:
    """The canonical surface form of one mention: "the Russia’s" → "Russia"."""
    text = " ".join(text.split()).strip(_EDGE_PUNCTUATION)
    text = _POSSESSIVE.sub("", text).strip(_EDGE_PUNCTUATION)
    return _LEADING_ARTICLE.sub("", text)


def strip_titles(form: str, gazetteer: Gazetteer | None = None) -> str:
    """ "Russian Mikhail Youzhny" → "Mikhail Youzhny", "Prince Faisal bin Nasser" → "Faisal bin
    Nasser": leading titles and demonyms off a person's name, keeping at least one word."""
    words = form.split()
    while len(words) > 1 and (
        words[0].casefold().rstrip(".") in _TITLES
        or (gazetteer is not None and gazetteer.country(words[0]) is not None)
    ):
        words = words[1:]
    return " ".join(words)


def sports_story(text: str) -> bool:
    """Whether an article reads as a sports report (a few sports words in it)."""
    return len(_SPORTS.findall(text)) >= _SPORTS_MIN_WORDS


def retype(mentions: Sequence[Mention], text: str, gazetteer: Gazetteer | None) -> list[Mention]:
    """Mentions with their labels corrected by what we know of places and the article.

    A person or organisation whose name is a known place is a location; in a sports story a town
    that is not a country, not after "in"/"at"/…, is its team (an organisation). Time zones go.
    People's names lose leading titles and demonyms.
    """
    if gazetteer is None:
        return list(mentions)
    sports = sports_story(text)
    full_surnames = {
        surname_key(clean_entity(m.text))
        for m in mentions
        if m.label == "PERSON" and len(clean_entity(m.text).split()) > 1
    }
    result = []
    for mention in mentions:
        form = clean_entity(mention.text)
        if form.casefold() in _NOT_ENTITIES:
            continue
        label = mention.label
        if label == "PERSON":
            stripped = strip_titles(form, gazetteer)
            if stripped != form:
                form = stripped
                mention = replace(mention, text=form)
        if label in {"PERSON", "ORG", "GPE", "FAC"} and form and len(form.split()) <= 3:
            country = gazetteer.country(form)
            city = None if country else gazetteer.cities.get(fold(form))
            after_preposition = _PLACE_PREPOSITION.search(
                text[max(0, mention.start - 12) : mention.start]
            )
            if sports and city and not after_preposition and label != "FAC":
                label = "ORG"
            elif (
                (country or city)
                and label in {"PERSON", "ORG"}
                and not (label == "PERSON" and surname_key(form) in full_surnames)
                and not (label == "ORG" and country and sports)
            ):
                label = "GPE"
        if label != mention.label:
            mention = replace(mention, label=label)
        result.append(mention)
    return result


def surname_key(name: str) -> str:
    """ "Bashar al-Assad" → "assad": the last word, without an Arabic article particle."""
    last = name.split()[-1]
    return _NAME_PARTICLE.sub("", last).casefold()


def _name_key(name: str) -> tuple[str, ...]:
    return tuple(_NAME_PARTICLE.sub("", word).casefold() for word in name.split())


@dataclass(slots=True)
class _Group:
    """One entity: its surface forms and how often each was seen."""

    kind: str
    forms: Counter[str] = field(default_factory=Counter)
    first: int = 0  # offset of the first mention, for a stable order

    @property
    def count(self) -> int:
        return sum(self.forms.values())

    def text(self) -> str:
        # the fullest of the most frequent multi-word forms; a lone surname only if nothing else
        return max(
            self.forms, key=lambda form: (len(form.split()) > 1, self.forms[form], len(form))
        )


def person_groups(mentions: Iterable[Mention]) -> dict[str, str]:
    """Surface form → canonical name for the people of one article (used by quotes too)."""
    return {form: group.text() for group in _people(list(mentions)) for form in group.forms}


def _people(mentions: list[Mention]) -> list[_Group]:
    people = [m for m in mentions if m.label == "PERSON"]
    forms: Counter[str] = Counter()
    first: dict[str, int] = {}
    for mention in people:
        form = clean_entity(mention.text)
        if _plausible_name(form):
            forms[form] += 1
            first.setdefault(form, mention.start)
    full = [f for f in forms if len(f.split()) > 1]
    # full names: one group per (first name, surname) once particles are ignored
    groups: dict[tuple[str, ...], _Group] = {}
    for form in sorted(full, key=lambda f: first[f]):
        key = _name_key(form)
        match = next((k for k in groups if _same_person(k, key)), None)
        group = groups.setdefault(match or key, _Group("person", first=first[form]))
        group.forms[form] += forms[form]
    by_surname: dict[str, list[_Group]] = {}
    for group in groups.values():
        for surname in {surname_key(f) for f in group.forms}:
            by_surname.setdefault(surname, []).append(group)
    singles: dict[str, _Group] = {}
    for form in sorted((f for f in forms if len(f.split()) == 1), key=lambda f: first[f]):
        owners = by_surname.get(surname_key(form), [])
        if len(owners) == 1:
            owners[0].forms[form] += forms[form]
        else:
            singles.setdefault(form, _Group("person", first=first[form])).forms[form] += forms[form]
    # surnames the model labelled as something else ("Lavrov" as ORG) belong to the person
    for mention in mentions:
        if mention.label in _MISLABELLED_PERSON:
            form = clean_entity(mention.text)
            owners = by_surname.get(surname_key(form), []) if len(form.split()) == 1 else []
            named = [g for g in groups.values() if form in g.forms]
            target = named or owners
            if len(target) == 1:
                target[0].forms[form] += 1
            elif form in singles:
                singles[form].forms[form] += 1
    return [*groups.values(), *singles.values()]


def _same_person(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two full names of one person: same first and last word, or one ends the other."""
    return (a[0] == b[0] and a[-1] == b[-1]) or a[-len(b) :] == b or b[-len(a) :] == a


def _plausible_name(form: str) -> bool:
    return (
        len(form) > 1
        and not any(ch.isdigit() for ch in form)
        and form[0].isupper()
        and not form.isupper()
    )


def _others(
    mentions: list[Mention], kind: str, gazetteer: Gazetteer | None, people_forms: set[str]
) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for mention in mentions:
        if ENTITY_KINDS.get(mention.label) != kind:
            continue
        form = clean_entity(mention.text)
        if len(form) < 2 or form in people_forms or form.isdigit():
            continue
        if form.isupper() and len(form) > 4:  # a dateline's "CHICAGO" is Chicago
            form = form.title()
        if kind == "location" and gazetteer is not None:
            code = gazetteer.country(form)
            if code:
                form = gazetteer.name_of(code)
        key = form.casefold()
        group = groups.setdefault(key, _Group(kind, first=mention.start))
        group.forms[form] += 1
    if kind == "org":
        _merge_acronyms(groups)
    return list(groups.values())


def _merge_acronyms(groups: dict[str, _Group]) -> None:
    """ "UN" joins "United Nations", "U.N." too, when exactly one full name has those initials."""
    for key in list(groups):
        letters = key.replace(".", "")
        if not (2 <= len(letters) <= 6 and letters.isalpha()):
            continue
        if not all(form.replace(".", "").isupper() for form in groups[key].forms):
            continue
        owners = [
            other
            for other, group in groups.items()
            if other != key
            and "".join(w[0] for w in other.split() if w not in _ACRONYM_SKIP) == letters
        ]
        if len(owners) == 1:
            groups[owners[0]].forms.update(groups.pop(key).forms)


def _title_counts(title: str, groups: list[_Group]) -> None:
    """A headline mention counts too ("Lavrov: Moscow ..." for Sergei Lavrov)."""
    for group in groups:
        for form in sorted(group.forms, key=len, reverse=True):
            if re.search(r"(?<!\w)" + re.escape(form) + r"(?!\w)", title):
                group.forms[form] += 1
                break


def extract_entities(
    article: ParsedArticle, analysis: Analysis, gazetteer: Gazetteer | None = None
) -> dict[str, list[dict[str, object]]]:
    """The record's ``entities`` for one analysed article."""
    mentions = retype(analysis.mentions, analysis.text, gazetteer)
    people = _people(mentions)
    people_forms = {form for group in people for form in group.forms}
    result: dict[str, list[dict[str, object]]] = {}
    for kind in ("person", "org", "location"):
        groups = people if kind == "person" else _others(mentions, kind, gazetteer, people_forms)
        _title_counts(article.title, groups)
        groups.sort(key=lambda g: (-g.count, g.first))
        result[kind] = [{"text": g.text(), "count": g.count} for g in groups]
    return result


class EntitiesEnricher:
    """People, organisations and locations (spaCy's English model); ``None`` in other languages."""

    name = "entities"

    def __init__(self, analyzer: ArticleAnalyzer, gazetteer: Gazetteer | None = None) -> None:
        self._analyzer = analyzer
        self._gazetteer = gazetteer

    def enrich(self, articles: Sequence[ParsedArticle]) -> list[Fields]:
        analyses = self._analyzer.analyses(articles)
        skipped = [
            (article, language)
            for article, language, analysis in zip(
                articles, self._analyzer.languages(articles), analyses, strict=True
            )
            if analysis is None
        ]
        if skipped:
            by_language = Counter(language or "unknown" for _, language in skipped)
            for language, count in by_language.items():
                log.info(
                    "enrich.entities_skipped",
                    language=language,
                    articles=count,
                    indexes=[a.index for a, lang in skipped if (lang or "unknown") == language][
                        :LOG_INDEXES
                    ],
                    reason="no offline entity model for this language",
                    models_for=sorted(MODEL_LANGUAGES),
                )
        return [
            {
                "entities": None
                if analysis is None
                else extract_entities(article, analysis, self._gazetteer)
            }
            for article, analysis in zip(articles, analyses, strict=True)
        ]
