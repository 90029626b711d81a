# ruff: noqa: RUF001 - typographic apostrophes and dashes and Arabic letters are meant
"""Countries an article is about or mentions, as ISO 3166-1 alpha-2 codes.

English articles, from what spaCy found in the body (see ``tests/enrich/eval/RULES.md``):

* places (``GPE``, ``LOC``, ``FAC``): countries, cities, regions, "City, State" read together
  ("Florence, Ala."); in the headline, a city or region after "at"/"in" ("Wins at Monza"). (A
  scan of the body for places after "at"/"in" that the recogniser missed was tried: on the BBC
  sample one code in four it added was right, "in English", "in Man", so it is not done.)
* organisations with a country: in a sports story, a club or team named after a place ("Porto",
  "Leinster", the "Ireland" team; the small model types some as people), elsewhere a place typed
  an organisation or a person where the text places something there ("built in Toulouse",
  "Copenhagen-based"); a name led by a country or nationality ("US Navy", "Spanish Football
  Federation"), or "... of <country>" ("Bank of England");
* demonyms (``NORP``) and the nationality before a name ("Russian Dmitri Volkonsky", "New
  Zealander Craig Whitlow"), except a language or a flag ("Russian-speaking", "Liberian-flagged");
* the dateline ("SALVADOR, Feb 26 -", "FLORENCE, Ala., Feb 26 -"), and country names and adjectives
  in the headline.

A single-word place name that is a person's name in the article ("Keller" of "Roman Keller") gives
nothing. A name shared by places in several countries ("Newcastle": Australia, South Africa,
England) is the one the rest of the article points to, unless the likeliest is far bigger.

Arabic articles: the Arabic names the gazetteer carries, found by a scan of the text. Articles in
other languages: country names in the headline and body.

Each code's evidence (the words and their kind) is logged at debug level
(``enrich.countries_evidence``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from worker.enrich.aliases import DEMONYM_NOT_NATIONALITY, DEMONYMS_ALSO_GIVEN_NAMES
from worker.enrich.base import Fields
from worker.enrich.entities import sports_story
from worker.enrich.gazetteer import Gazetteer, fold_lookup
from worker.enrich.names import gender_of
from worker.enrich.nlp import Analysis, ArticleAnalyzer, Mention
from worker.log import get_logger
from worker.models import ParsedArticle

log = get_logger(__name__)
# Whether the evidence event is wanted: asked of the stdlib logger behind ``log`` (the evidence is
# only put together when it is).
_stdlib_log = logging.getLogger(__name__)

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NAME_LABELS = frozenset({"PERSON", "ORG"})
# The likeliest place of a shared name stands unless the one the article points to has at least
# 1/CONTEXT_MAX_RATIO of its weight: Newcastle in a Premiership story is England's (Newcastle,
# New South Wales is 1.7x Newcastle upon Tyne), London in a Canadian story is still England's (21x
# London, Ontario), Vancouver in a story that also names Seattle still Canada's (3.4x).
CONTEXT_MAX_RATIO = 3
# An organisation whose last word is one of these is an event or a competition: its place or
# nationality word gives no country ("Australian Open", "Berlin Marathon", "Italian Grand Prix").
EVENT_WORDS = frozenset({
    "open", "cup", "prix", "marathon", "championship", "championships", "games", "olympics",
    "masters", "rally", "festival", "show", "tour", "classic", "trophy", "series", "league",
    "derby", "invitational", "biennale", "expo", "week", "awards",
})  # fmt: skip
# Words that begin a club's name before its town: "Real Madrid", "Inter Milan", "Dynamo Kyiv".
CLUB_WORDS = frozenset({
    "real", "inter", "sporting", "athletic", "atletico", "dynamo", "dinamo", "olympique",
    "racing", "red", "borussia", "eintracht", "hertha", "lokomotiv", "spartak", "torpedo",
    "partizan", "steaua", "legia", "slavia", "sparta",
})  # fmt: skip
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
# A headline's place after a preposition: "Wins at Monza", "Crash in Phoenix".
_AFTER_PREPOSITION = re.compile(
    # (not "to"/"from": "Cuts to Police", "Appeal to Unity" are no places)
    r"\b(?:at|in|near|outside)\s+(?P<name>(?:(?:Le|La|Les|El|Al|Den|De)\s+)?"
    r"[A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+){0,2})"
)
# Words that place what follows or precedes them: "built in Toulouse", "Copenhagen-based".
_PLACED_BEFORE = re.compile(r"\b(?:in|at|near|from|outside|inside|around)\s+(?:the\s+)?$")
_PLACED_AFTER = re.compile(r"-(?:based|born|headquartered|listed)\b")
# ", Ala.", ", New South Wales", ", Ontario" after a city's name.
_QUALIFIER = re.compile(r",\s+([A-Z][\w.]*(?:\s+[A-Z][\w.]*){0,2})")
# A place or nationality with these after it is still that place's: "Abu Dhabi-based", "Saudi-led".
_COMPOUND_SUFFIX = re.compile(
    r"-(?:based|born|headquartered|listed|led|backed|made|owned|funded|run|controlled|built)$",
    re.IGNORECASE,
)
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_NOT_NATIONALITY_SUFFIXES = tuple(s for s in DEMONYM_NOT_NATIONALITY if s.startswith("-"))
_NEXT_WORD = re.compile(r" ([\w'’\-]+)")
_FUNCTION_WORDS = frozenset({
    "on", "in", "at", "and", "or", "with", "for", "last", "this", "next", "to", "where", "which",
    "that", "since", "until", "from", "by", "as", "but", "during", "when", "after", "before",
})  # fmt: skip
# Before a demonym used as a language: "in", "into", "from", "speaks", "spoke", "fluent in".
_LANGUAGE_BEFORE = re.compile(
    r"\b(?:in|into|from|speaks?|spoke|speaking|fluent(?: in)?|dubbed(?: into)?)\s+$"
)
_NAME_WORD = re.compile(r"\s*([A-Z][\w'’\-]+)")
# Calendar words are never read as places after "in" ("in January", "on Sunday").
_CALENDAR = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Clue:
    """Words that point to a country: its candidates (likeliest first) and what kind of words."""

    words: str
    source: str  # place / org / demonym / dateline / headline
    candidates: tuple[tuple[str, int], ...]
    count: int = 1
    # a team's name: the article's other countries choose among its places whatever their sizes
    # ("Munster" in a story about Irish rugby is the Irish province, not Münster, 3x as big)
    team: bool = False


def dateline_country(paragraph: str, gazetteer: Gazetteer) -> tuple[str | None, int]:
    """The country of a dateline at the start of a paragraph, and where the dateline ends.

    Returns:
        ``(code, end)``; ``(None, 0)`` when the paragraph has no dateline.
    """
    clue, end = dateline_clue(paragraph, gazetteer)
    return (clue.candidates[0][0] if clue else None), end


def dateline_clue(paragraph: str, gazetteer: Gazetteer) -> tuple[Clue | None, int]:
    """The dateline's clue (its region decides, else its city's candidates) and where it ends."""
    match = DATELINE.match(paragraph)
    if match is None:
        return None, 0
    city, region = match.group("city").strip(), match.group("region")
    code = gazetteer.region(region) if region else None
    if code:
        return Clue(f"{city}, {region}", "dateline", ((code, 0),), 2), match.end()
    candidates = gazetteer.candidates(city)
    if not candidates:
        return None, match.end()
    return Clue(city, "dateline", candidates, 2), match.end()


def headline_countries(title: str, gazetteer: Gazetteer) -> list[str]:
    """Country names and adjectives in a headline (title case or all capitals)."""
    return [clue.candidates[0][0] for clue in headline_clues(title, gazetteer)]


def headline_clues(title: str, gazetteer: Gazetteer, places: bool = False) -> list[Clue]:
    """Country names and adjectives in a headline; with ``places``, also a city or region after
    "at", "in"... ("Wins at Monza", "Crash in Phoenix")."""
    text = title.title() if title.isupper() else title
    found = []
    for match in _CAPITALISED_RUN.finditer(text):
        words = match.group(0).split()
        # the longest sub-sequence that names a country, from the left
        i = 0
        while i < len(words):
            for j in range(len(words), i, -1):
                name = " ".join(words[i:j])
                code = gazetteer.country(name)
                if code and not (title.isupper() and j - i == 1 and len(words[i]) <= 2):
                    found.append(Clue(name, "headline", ((code, 0),)))
                    i = j
                    break
            else:
                i += 1
    if places and not title.isupper():
        # the whole capitalised run is the place: "Wins at Monza", not "Offer to Man Utd"
        for match in _AFTER_PREPOSITION.finditer(text):
            name = match.group("name")
            if fold_lookup(name) in _CALENDAR or gazetteer.country(name) is not None:
                continue
            candidates = gazetteer.candidates(name)
            if candidates:
                found.append(Clue(name, "headline", candidates))
    return found


def resolve(clues: Sequence[Clue]) -> list[tuple[str, Clue]]:
    """Each clue's country: its likeliest candidate, unless the article's other names point to none
    of that one's country and to another candidate's (the one they point to most, if of at least
    1/CONTEXT_MAX_RATIO of the likeliest's weight)."""
    # every country a name may be in counts as context, not only its likeliest: two ambiguous
    # names do not swap each other ("Norfolk and Suffolk" stays as each is most likely)
    context: Counter[str] = Counter()
    by_words: dict[str, Counter[str]] = {}
    for clue in clues:
        for code in dict.fromkeys(c for c, _ in clue.candidates):
            context[code] += clue.count
            by_words.setdefault(fold_lookup(clue.words), Counter())[code] += clue.count
    resolved = []
    for clue in clues:
        (code, weight), *others = clue.candidates
        if others:
            # what the other names say: this name's own mentions are not evidence for it
            support = context - by_words[fold_lookup(clue.words)]
            if not support[code]:
                supported = [
                    (support[c], w, c)
                    for c, w in others
                    if support[c] and (clue.team or w * CONTEXT_MAX_RATIO >= weight)
                ]
                if supported:
                    code = max(supported)[2]
        resolved.append((code, clue))
    return resolved


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
        resolved = resolve(self.clues(article, language, analysis))
        counts: Counter[str] = Counter()
        for code, clue in resolved:
            counts[code] += clue.count
        if resolved and _stdlib_log.isEnabledFor(logging.DEBUG):
            evidence: dict[str, list[str]] = {}
            for code, clue in resolved:
                entry = f"{clue.source}: {clue.words}"
                if code != clue.candidates[0][0]:  # the article's other names decided
                    entry += f" (by context, not {clue.candidates[0][0]})"
                if entry not in evidence.setdefault(code, []):
                    evidence[code].append(entry)
            log.debug(
                "enrich.countries_evidence",
                index=article.index,
                line=article.line,
                evidence=evidence,
            )
        return [code for code, _ in counts.most_common()]

    def clues(
        self, article: ParsedArticle, language: str | None, analysis: Analysis | None
    ) -> list[Clue]:
        """Every group of words in the article that points to a country."""
        gazetteer = self._gazetteer
        if language == "ar":
            return [
                Clue(words, "place", ((code, 0),))
                for code, words in gazetteer.scan_arabic_words(article.title + "\n" + article.body)
            ]
        clues = headline_clues(article.title, gazetteer, places=analysis is not None)
        if analysis is None:
            for paragraph in article.paragraphs:
                clues += [
                    Clue(c.words, "place", c.candidates)
                    for c in headline_clues(paragraph, gazetteer)
                ]
            return clues
        dateline_end = 0
        if article.paragraphs:
            dateline, dateline_end = dateline_clue(article.paragraphs[0], gazetteer)
            if dateline:
                clues.append(dateline)
        surnames = _surnames(analysis.mentions, gazetteer)
        sports = sports_story(analysis.text)
        for mention in analysis.mentions:
            if mention.start < dateline_end:
                continue  # the dateline's city, already decided with its region
            clue = self._mention_clue(mention, analysis.text, gazetteer, surnames, sports)
            if clue:
                clues.append(clue)
        return clues

    @staticmethod
    def _mention_clue(
        mention: Mention, text: str, gazetteer: Gazetteer, surnames: set[str], sports: bool
    ) -> Clue | None:
        if mention.text.lower().endswith(_NOT_NATIONALITY_SUFFIXES):
            return None  # the model took in "Russian-speaking", "Liberian-flagged"
        name = _clean(mention.text)
        if not name:
            return None
        key = fold_lookup(name)
        if mention.label in PLACE_LABELS:
            if key in surnames:
                return None
            if mention.label != "GPE" and key in gazetteer.alternate_names:
                return None  # a facility named like a city's translation: "White House"
            # "Ala.", "Ont.", "Texas": a state or province as datelines write it (an abbreviation
            # only with its full stop: "La", "Man" are other words; Georgia is the country)
            region = gazetteer.regions.get(key) if name.endswith(".") or len(key) > 4 else None
            if region and gazetteer.country(name) is None:
                return Clue(name, "place", ((region, 0),))
            candidates = _qualified(gazetteer.candidates(name), text, mention.end, gazetteer)
            return Clue(name, "place", candidates) if candidates else None
        if mention.label == "NORP":
            if _language_or_flag(text, mention.start, mention.end):
                return None
            code = gazetteer.country(name)
            return Clue(name, "demonym", ((code, 0),)) if code else None
        if mention.label not in NAME_LABELS:
            return None
        words = name.split()
        if mention.label == "PERSON":
            clue = _nationality_of_person(mention, words, text, gazetteer)
            if clue:
                return clue
        else:
            clue = _country_of_organisation(words, gazetteer)
            if clue:
                return clue
            if sports:
                clue = _team_of_a_place(words, gazetteer)
                if clue:
                    return clue
        # a club, a team or a company's site named after a place: "Porto", "Ireland", "Leinster"
        if key not in surnames and _named_after_place(mention, name, text, gazetteer, sports):
            return Clue(name, "org", gazetteer.candidates(name), team=sports)
        return None


def _named_after_place(
    mention: Mention, name: str, text: str, gazetteer: Gazetteer, sports: bool
) -> bool:
    """A person or organisation mention that is a country; or a region or a city of 50,000 people
    in a sports story (its team) or where the text places something ("in Toulouse",
    "Copenhagen-based"). Not an acronym ("SANA", the Syrian news agency, is no Sanaa), not a
    given name typed a person ("Nancy"), not a word the text also writes in lower case."""
    if gazetteer.country(name) is not None:
        return gazetteer.demonym(name) is None
    if not gazetteer.is_big_place(name) or (name.isupper() and len(name) <= 5):
        return False
    if mention.label == "PERSON" and gender_of(name) is not None:
        return False
    if re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", text):
        return False
    if sports:
        return True
    if _PLACED_AFTER.match(text, mention.end):
        return True
    # "built in Toulouse, with", "in Toulouse on Monday"; not "a slump in Mercedes sales"
    before = text[max(0, mention.start - 24) : mention.start]
    after = _NEXT_WORD.match(text, mention.end)
    return bool(_PLACED_BEFORE.search(before)) and (
        after is None or not after.group(1).islower() or after.group(1) in _FUNCTION_WORDS
    )


def _qualified(
    candidates: tuple[tuple[str, int], ...], text: str, end: int, gazetteer: Gazetteer
) -> tuple[tuple[str, int], ...]:
    """A shared city name followed by its state, province or country is that one's: "Florence,
    Ala.", "Newcastle, New South Wales", "London, Ontario"."""
    if len(candidates) < 2:
        return candidates
    match = _QUALIFIER.match(text, end)
    if match is None:
        return candidates
    words = match.group(1).split()
    for size in range(len(words), 0, -1):
        region = " ".join(words[:size])
        code = gazetteer.region(region)
        codes = {code} if code else {c for c, _ in gazetteer.candidates(region)}
        chosen = tuple((c, w) for c, w in candidates if c in codes)
        if chosen:
            return chosen[:1]
    return candidates


def _team_of_a_place(words: list[str], gazetteer: Gazetteer) -> Clue | None:
    """In a sports story, a club named with its town first or last: "Manchester United",
    "Bayern Munich", "Inter Milan", "Sydney FC" (a town of 50,000 people or a region)."""
    if not 2 <= len(words) <= 3 or fold_lookup(words[-1]) in EVENT_WORDS:
        return None
    if gender_of(words[0]) is not None:
        return None  # a person the model typed an organisation: "Lincoln Barrow"
    # the town first ("Manchester United"), or last after a club's word ("Real Madrid", "AC
    # Milan", "Red Star Belgrade"; not "Nottm Forest": Forest is a Belgian town)
    lead = words[0]
    town_last = fold_lookup(lead) in CLUB_WORDS or (lead.isupper() and len(lead) <= 3)
    for word in (lead, words[-1]) if town_last else (lead,):
        if gazetteer.country(word) is None and gazetteer.is_big_place(word):
            return Clue(" ".join(words), "org", gazetteer.candidates(word), team=True)
    return None


def _clean(text: str) -> str:
    """A mention's name without a leading "the", a trailing possessive or a compound's second
    half ("Abu Dhabi-based", "Saudi-led", "Chinese-made"), spaces collapsed."""
    words = _LEADING_THE.sub("", " ".join(text.split()))
    return _POSSESSIVE.sub("", _COMPOUND_SUFFIX.sub("", words))


def _language_or_flag(text: str, start: int, end: int) -> bool:
    """A demonym that is no nationality: a language or a flag by the words after it
    ("Russian-speaking", "Liberian-flagged"), or a language by the words around it ("said in
    Russian that", "spoke French", "translated from Arabic."; not "in Russian hands")."""
    if text[end : end + 12].lower().startswith(DEMONYM_NOT_NATIONALITY):
        return True
    if not _LANGUAGE_BEFORE.search(text[max(0, start - 24) : start]):
        return False
    after = _NEXT_WORD.match(text, end)  # "an offer from Swiss Xstrata" is a Swiss company
    return after is None or after.group(1) in _FUNCTION_WORDS


def _surnames(mentions: Sequence[Mention], gazetteer: Gazetteer) -> set[str]:
    """Folded words that are a person's name in the article: the last word of a name of two to
    four words typed a person (or of a two-word organisation whose first word is no place, "Ruben
    Salgado"), and the first word of a person's name ("Liang Hao": family name first)."""
    found: set[str] = set()
    for mention in mentions:
        if mention.label not in NAME_LABELS:
            continue
        words = _clean(mention.text).split()
        if not 2 <= len(words) <= 4 or not all(w[:1].isupper() for w in words):
            continue
        if mention.label == "ORG" and (len(words) != 2 or gazetteer.candidates(words[0])):
            continue
        if gazetteer.demonym(words[0]) is not None:
            words = words[1:]  # "Russian Dmitri Volkonsky"
            if len(words) < 2:
                continue
        found.add(fold_lookup(words[-1]))
        if mention.label == "PERSON":
            found.add(fold_lookup(words[0]))
    # a country's name is never read as a surname ("Chad", "Jordan" are both: the place wins)
    return {key for key in found if gazetteer.country(key) is None}


def _nationality_of_person(
    mention: Mention, words: list[str], text: str, gazetteer: Gazetteer
) -> Clue | None:
    """ "Russian Dmitri Volkonsky", "Finn Jarno Lehtinen", "New Zealander Craig Whitlow"."""
    for size in (2, 1):
        lead = " ".join(words[:size])
        code = gazetteer.demonym(lead) if len(words) >= size else None
        if code is None:
            continue
        rest = len(words) - size
        after = mention.end
        while rest < 2:  # the name may go on past the mention ("Finn" + "Jarno Lehtinen")
            word = _NAME_WORD.match(text, after)
            if word is None or word.start() > after + 1 or text[after : word.start(1)] != " ":
                break
            rest, after = rest + 1, word.end()
        needed = 2 if fold_lookup(lead) in DEMONYMS_ALSO_GIVEN_NAMES else 1
        if rest >= needed:
            return Clue(lead, "demonym", ((code, 0),))
    # the nationality just before the name: "the referee, New Zealander Craig Whitlow"
    before = text[max(0, mention.start - 40) : mention.start]
    match = re.search(r"([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\s$", before)
    if match and len(words) >= 2:
        for lead in (match.group(1), match.group(1).split()[-1]):
            code = gazetteer.demonym(lead)
            if code:
                return Clue(lead, "demonym", ((code, 0),))
    return None


def _country_of_organisation(words: list[str], gazetteer: Gazetteer) -> Clue | None:
    """ "US Navy", "Spanish Football Federation", "Bank of England", "BBC Scotland"."""
    if len(words) < 2 or fold_lookup(words[-1]) in EVENT_WORDS:
        return None
    for size in (2, 1):
        lead = " ".join(words[:size])
        code = gazetteer.country(lead) if len(words) > size else None
        if code:
            return Clue(" ".join(words), "org", ((code, 0),))
    lowered = [w.lower() for w in words]
    if "of" in lowered:
        code = gazetteer.country(" ".join(words[lowered.index("of") + 1 :]))
        if code:
            return Clue(" ".join(words), "org", ((code, 0),))
    code = gazetteer.country(words[-1])
    if code and gazetteer.demonym(words[-1]) is None:
        return Clue(" ".join(words), "org", ((code, 0),))
    return None
