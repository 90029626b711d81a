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
from worker.enrich.gazetteer import Gazetteer
from worker.enrich.names import gender_of, given_names
from worker.enrich.nlp import MODEL_LANGUAGES, Analysis, ArticleAnalyzer, Mention
from worker.enrich.rules import EVENT_SUFFIXES, ORG_PREFIXES, ORG_SUFFIXES
from worker.log import get_logger
from worker.models import ParsedArticle

log = get_logger(__name__)

ENTITY_KINDS = {"PERSON": "person", "ORG": "org", "GPE": "location", "LOC": "location"}
ENTITY_KINDS["FAC"] = "location"
# Labels the small model gives people's surnames by mistake ("Lavrov" as an organisation).
_MISLABELLED_PERSON = frozenset({"ORG", "FAC", "NORP"})
_POSSESSIVE = re.compile(r"\s*(?:['’]s|s['’])$|['’]$")
_LEADING_ARTICLE = re.compile(r"^(?:the|The|THE)\s+")
_DATE_SUFFIX = re.compile(
    r",\s*(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}$"
)
# Places whose name keeps its "The" (RULES.md): the article is part of the name.
_WITH_THE = {"hague": "The Hague"}
_PARTICLES_BEFORE = re.compile(
    r"(?P<given>[A-Z][\w'’-]+\s+)?"
    r"(?P<particles>(?<![\w'’-])(?:(?:[Vv]an|[Dd]e|[Dd]en|[Dd]er|[Dd]a|[Dd]i|[Vv]on|[Tt]er|[Tt]e)\s+)+)$"
)
# Words that end a name that goes on in the next mention ("Annemieke van den" + "Broek").
_NAME_PARTICLES = frozenset({"van", "den", "der", "de", "da", "di", "du", "le", "la", "al", "bin"})
_EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’()[]{}-–—"
_NAME_PARTICLE = re.compile(r"^(?:al|el|ad|as|ash|an|ar|at|az)-", re.IGNORECASE)
_ACRONYM_SKIP = frozenset({"of", "for", "the", "and", "on", "in", "de", "&"})
LOG_INDEXES = 50
# Words before a name that are not part of it ("President Omar al-Haddad", "coach Jose Mourinho").
_TITLES = frozenset({
    "mr", "mrs", "ms", "dr", "sir", "dame", "lord", "lady", "prince", "princess", "king", "queen",
    "sheikh", "president", "vice", "prime", "minister", "foreign", "chancellor", "senator", "sen",
    "governor", "gov", "general", "gen", "colonel", "col", "captain", "judge", "pope", "rev",
    "coach", "manager", "striker", "midfielder", "defender", "goalkeeper", "winger", "forward",
    "skipper", "chairman", "chairwoman", "chief", "executive", "ceo", "director", "spokesman",
    "spokeswoman", "secretary", "ambassador", "mayor", "emir", "crown",
})  # fmt: skip
# Names the model takes for organisations, people or places that are no entities of ours: time
# zones, market indices, commodities and grades, currencies.
_NOT_ENTITIES = frozenset({
    "gmt", "bst", "utc", "cet", "est", "edt", "pst", "pdt", "cest", "ist", "jst", "kst", "aest",
    "kospi", "nikkei", "ftse", "dax",
    "cac", "nasdaq", "sterling", "brent", "wti", "arabica", "robusta", "nikkei 225", "hang seng",
    "ftse 100", "dow jones", "s&p 500", "cac 40", "euro stoxx 50",
})  # fmt: skip
# Words just before a title of a work: "the drama Harbour Lights", "the album “Salt and Stone”".
_WORK_BEFORE = re.compile(
    r"\b(?:film|movie|album|drama|series|sitcom|song|single|novel|book|memoir|play|musical|"
    r"documentary|painting|epic|opera|titled|entitled)\s+[\"“‘']?$",
    re.IGNORECASE,
)
_QUOTE_MARKS = frozenset("\"“”‘’'«»")
# A place named as one: "the village of Kfar Kila", "Nineveh province", "the Bab al-Mandab strait".
_PLACE_BEFORE = re.compile(
    r"\b(?:village|town|city|outskirts|province|region|district|suburbs?|governorate|state|"
    r"county|port)\s+of\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_PLACE_AFTER = re.compile(
    # (not after "'s": "Macron's state visit")
    r"^\s+(?:province|state|region|governorate|district|village|town|strait|refugee\s+camp|"
    r"county|valley|river|mosque|airport|stadium|square|peninsula|desert|mountains)\b",
)
_ARTICLE_BEFORE = re.compile(r"\b(?:the|The)\s+$")
# "the Biden administration": a person's name as a modifier, after "the" all the same
_ERA_AFTER = re.compile(
    r"^\s+(?:administration|government|family|camp|era|years|campaign|presidency|doctrine|"
    r"team|clan|estate|foundation)\b"
)
# A person's role written before the name ("wing Shane Keogh", "its chief executive, ...").
_ROLES = _TITLES | {
    "wing", "principal", "singer", "actor", "actress", "producer", "author", "writer", "player",
    "substitute", "centre", "prop", "lock", "flanker", "scrum-half", "fly-half", "hooker",
    "full-back", "batsman", "bowler", "driver", "rider", "cyclist", "runner", "champion",
    "officer", "official", "analyst", "economist", "lawyer", "founder", "co-founder", "owner",
    "leader", "head", "boss", "president", "governor", "general", "commander", "rapper",
    "guitarist", "drummer", "novelist", "poet", "artist", "designer", "researcher", "professor",
    "teacher", "doctor", "nurse", "farmer", "resident", "mother", "father", "son", "daughter",
    "wife", "husband", "brother", "sister", "through", "translator", "editor", "presenter",
    "judge", "referee", "manager", "spokesperson",
}  # fmt: skip
_WORD_BEFORE = re.compile(r"([A-Za-z-]+),?\s+$")
_WHO_AFTER = re.compile(r",\s+(?:who|whose|\d{2},)")
_DATELINE_START = re.compile(r"\s*(?:,|\(|[-\u2013\u2014]\s)")
_HONORIFIC_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Sir|Dame)\.?\s+$")
_LOWER_WORD = re.compile(r"(?<![\w-])[a-z][a-z'’]*(?![\w-])")
# Last words of the names of sites: a person or organisation so named is a place.
_FACILITY = frozenset({
    "park", "stadium", "arena", "square", "airport", "bridge", "farm", "mosque", "cathedral",
    "palace", "plant", "camp", "harbour", "harbor", "dam", "centre", "center", "quay", "crossing",
    "airfield", "theatre", "theater",
})  # fmt: skip
# "(Reuters) -", "(AP) —" after the credit of a dateline
_CREDIT_CLOSE = re.compile(r"\)\s*[-\u2013\u2014]")
_TITLE_AFTER = re.compile(r"\s+(?:Minister|Secretary|Secretary-General|Commissioner)\b")
_TITLE_BEFORE = re.compile(r"\b(?:Secretary|Minister|Ministry|Department)\s+of\s+$")
# Lower-case nouns after a name that make it a site's name ("the Zaatari camp").
_SITE_NOUN = re.compile(r"\s+(mosque|camp|crossing|airfield|refugee camp)\b")
# First words of sites' names ("Palazzo del Cinema", "Place de la Nation").
_FACILITY_FIRST = frozenset({"palazzo", "palais", "place", "piazza", "plaza", "estadio", "stadio"})
# A national team in a sports story: a score or a match verb next to the country's name.
_TEAM_AFTER = re.compile(
    r"\s+(?:\d+-\d+|beat|beaten|drew|lost|won|defeated|edged|stun|stunned|thrashed|face|"
    r"faced|played|scored|lead|led|trail|trailed|fans|players|coach|captain|squad|side)\b"
)
_TEAM_BEFORE = re.compile(
    r"\b(?:against|beat|beating|v|vs|versus|facing|stunned|defeated|lost to|"
    r"defeat to|win over|victory over|draw with|drew with)\s+$"
)
_NAME_TAIL = re.compile(
    r"-(?!(?:based|led|backed|owned|style|born|era|type|like|run|made|linked|born|free)\b)"
    r"[a-z]+\b"
)
_NAMED_SITE = re.compile(
    r"(?:['’]s)?\s+(?:Quay|Square|Bridge|Park|Street|Road|Hospital|Cathedral|Church)\b"
)
_FIRM_BEFORE = re.compile(
    r"\b(?:analysts?|economists?|strategists?|researchers?|traders?|brokers?)\s+"
    r"(?:at|from|with)\s+$",
    re.IGNORECASE,
)
# "in X" (not "in the X": "in the Premiership table")
_IN_BEFORE = re.compile(r"\b(?:in|near|outside|across|around|into)\s+$")
# Words in names that are not people's: organisations' and events' words, places'.
_NOT_PERSON_WORDS = ORG_SUFFIXES | ORG_PREFIXES | EVENT_SUFFIXES | _FACILITY | {
    "street", "square", "park", "stadium", "airport", "station", "aid", "line", "church", "hall",
    "forces", "sports", "news", "times", "post", "press", "radio", "daily", "journal", "herald",
    "gazette", "telegraph", "tribune", "de", "le", "la", "les", "al", "el", "van", "von", "du",
}  # fmt: skip
# Words that make an article a sports story, where a town's name is usually its team.
_SPORTS = re.compile(
    r"\b(?:match|matches|league|cup|premiership|season|striker|midfielder|coach|fixture|"
    r"semi-final|quarter-final|kick-off|stadium|squad|fly-half|scrum|penalty|penalties|goal|"
    r"goals|tries|scored|championship|tournament|seed|seeded|defeat|victory|football|rugby|"
    r"tennis|cricket|golf|club|clubs|player|players|referee|champions|fixtures|hat-trick|"
    r"boss|game)\b",
    re.IGNORECASE,
)
_SPORTS_MIN_WORDS = 4
# A preposition just before a place name: the place itself, not its team ("in Porto").
_PLACE_PREPOSITION = re.compile(r"\b(?:in|at|near|from|to|outside|around|of)\s+(?:the\s+)?$")


def clean_entity(text: str) -> str:
    """The canonical surface form of one mention: "the Russia’s" → "Russia", a dateline's
    "HAGUE, Feb 9" → "HAGUE"."""
    text = " ".join(text.split()).strip(_EDGE_PUNCTUATION)
    text = _DATE_SUFFIX.sub("", _POSSESSIVE.sub("", text)).strip(_EDGE_PUNCTUATION)
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
    """Mentions with their labels corrected by what we know of places, names and the article.

    * time zones, market indices and commodities go, and so do titles of works ("the drama
      Harbour Lights", a name alone between quotation marks);
    * a person or organisation the text places ("the village of Kfar Kila", "Nineveh province",
      "in Belo Horizonte" where the first word is no given name) is a location, and so is one
      whose name is a known place — except, in a sports story, a town not after "in"/"at"/…,
      which is its team (an organisation);
    * an organisation or place of two or three capitalised words starting with a given name
      ("Stefano Conti") is a person, unless a word of it names organisations or places;
    * a one-word "person" the article also writes in lower case ("Coal" / "coal") is no one;
    * people's names lose leading titles and demonyms;
    * a person the model split ("Russian Dmitri" + "Volkonsky") is one mention, and a family
      name the model found alone is completed by the given name before it where the text has one
      ("fly-half Niall Carberry", which the model missed, beside "Carberry").
    """
    if gazetteer is None:
        return list(mentions)
    mentions = _with_particles(mentions, text)
    mentions = _full_names(_join_adjacent_people(mentions, text), text, gazetteer)
    sports = sports_story(text)
    full_people = [
        clean_entity(m.text)
        for m in mentions
        if m.label == "PERSON" and len(clean_entity(m.text).split()) > 1
    ]
    full_surnames = {surname_key(form) for form in full_people}
    surnames: dict[str, set[str]] = {}
    for full_name in full_people:
        surnames.setdefault(surname_key(full_name), set()).add(full_name)
    name_words = {word.casefold() for form in full_people for word in form.split()}
    lower_words = set(_LOWER_WORD.findall(text))
    short_forms = _short_forms(full_people)
    result = []
    covered = -1  # the end of a name grown over the mentions after it
    for mention in mentions:
        if mention.start < covered:
            continue
        form = clean_entity(mention.text)
        if not form:
            continue
        if form.casefold() in _NOT_ENTITIES or _work_title(mention, text):
            continue
        label = mention.label
        if (label != "GPE" and _job_title(mention, text)) or (
            label == "ORG" and _dateline_credit(mention, text)
        ):
            continue
        if label in {"PERSON", "ORG"}:  # "Slovenian Matej Kranjc" read as an organisation too
            stripped = (
                strip_titles(form, gazetteer)
                if label == "PERSON"
                else _demonym_off(form, gazetteer)
            )
            if stripped != form:
                form = stripped
                mention = _narrowed(mention, form, text)
        if (
            label == "PERSON"
            and form.casefold() not in name_words
            and not _HONORIFIC_BEFORE.search(text, max(0, mention.start - 6), mention.start)
            and form.lower() in lower_words
        ):
            continue  # "Coal" where the text says "coal" (but "Mr Rice" is someone)
        if label == "PERSON" and (tail := _NAME_TAIL.match(text, mention.end)):
            # "Choi Min" + "-seok": the model cut a hyphenated given name
            mention = replace(mention, text=form + tail.group(0), end=tail.end())
            form = mention.text
        before = text[max(0, mention.start - 40) : mention.start]
        after = text[mention.end : mention.end + 30]
        if label in {"PERSON", "ORG"} and (named := _NAMED_SITE.match(after)):
            # "Sir John Rogerson's Quay": a site named after someone
            end = mention.end + named.end()
            mention = replace(mention, text=text[mention.start : end], end=end)
            form, label, covered = clean_entity(mention.text), "FAC", end
            after = text[end : end + 30]
        site = _SITE_NOUN.match(after)
        site_name = label in {"ORG", "GPE", "FAC", "LOC"} or (
            # a person's name only after "the", and no given name first ("the Zaatari camp",
            # not "Tom Brady camp officials")
            label == "PERSON"
            and _ARTICLE_BEFORE.search(text, max(0, mention.start - 5), mention.start)
            and gender_of(form.split()[0]) is None
        )
        if site and site_name and not gazetteer.country(form):
            # "the Zaatari camp", "the al-Nuri mosque": the site, named with its noun
            end = mention.end + site.end()
            mention = replace(
                _narrowed(mention, form, text), text=f"{form} {site.group(1)}", end=end
            )
            form, label = mention.text, "FAC"
            after = text[end : end + 30]
        words = form.split()
        if (
            label in {"PERSON", "ORG"}
            and len(words) > 1
            and (words[-1].casefold() in _FACILITY or words[0].casefold() in _FACILITY_FIRST)
        ):
            label = "FAC"  # "St James' Park", "Worthy Farm", "Palazzo del Cinema"
        elif (
            sports
            and label == "GPE"
            and (_TEAM_AFTER.match(after) or _TEAM_BEFORE.search(before))
            and gazetteer.country(form)
        ):
            label = "ORG"  # "Georgia stun Portugal 2-1": national teams
        elif label in {"PERSON", "ORG"} and (
            _PLACE_BEFORE.search(before)
            or _PLACE_AFTER.match(after)
            or (
                label == "PERSON"
                and _IN_BEFORE.search(before)
                and gender_of(form.split()[0]) is None
                and not surnames.get(surname_key(form), set()) - {form}  # ("faith in Sunak")
            )
        ):
            label = "GPE"
        elif (
            label == "PERSON"
            and (_ARTICLE_BEFORE.search(before) or _LEADING_ARTICLE.match(mention.text))
            and not _ERA_AFTER.match(after)
        ):
            label = "ORG"  # "the Houthis", "the Harlow Line": no one's name takes "the"
        elif label == "PERSON" and _FIRM_BEFORE.search(before) and gender_of(words[0]) is None:
            label = "ORG"  # "analysts at Peel Hunt"
        elif label in {"ORG", "GPE", "LOC", "FAC", "NORP"} and _name_key(form) in short_forms:
            label = "PERSON"  # "Van der Meulen" after "Jeroen van der Meulen"
        elif (
            label in {"GPE", "LOC"}
            and " " not in form
            and surname_key(form) in full_surnames
            and gazetteer.place(form) is None
            and not _PLACE_PREPOSITION.search(before[-12:])
        ):
            label = "PERSON"  # "Adeyemi" after "Musa Adeyemi"
        elif label in {"PERSON", "ORG", "GPE", "FAC"} and form and len(form.split()) <= 3:
            country = gazetteer.country(form)
            # a city or a region; an acronym is none ("UN" is no town in India), but a dateline's
            # capitals are ("AMMAN (Reuters) -", "PAU, France -")
            acronym = form.isupper() and not _DATELINE_START.match(text, mention.end)
            city = None if country or acronym else gazetteer.place(form)
            after_preposition = _PLACE_PREPOSITION.search(before[-12:])
            # the family name of another person of the article ("Keller" after "Roman Keller"),
            # not the place's own name read as a full name ("Tamil Nadu")
            person_named = label == "PERSON" and bool(
                surnames.get(surname_key(form), set()) - {form}
            )
            if sports and city and not after_preposition and label != "FAC" and not person_named:
                label = "ORG"
            elif (
                (country or city)
                and label in {"PERSON", "ORG"}
                and not person_named
                and not (label == "ORG" and country and sports)
            ):
                label = "GPE"
            elif (
                not (country or city)
                and label in {"ORG", "GPE", "NORP"}
                and _looks_like_person(form, mention, text, gazetteer)
            ):
                label = "PERSON"
        if label != mention.label:
            mention = replace(mention, label=label)
        result.append(mention)
    return _organisations_win(result)


def _short_forms(full_people: Iterable[str]) -> set[tuple[str, ...]]:
    """The endings of two words or more of the article's full names ("van der Meulen")."""
    endings = set()
    for name in set(full_people):
        key = _name_key(name)
        endings.update(key[i:] for i in range(1, len(key) - 1))
    return endings


def _narrowed(mention: Mention, form: str, text: str) -> Mention:
    """The mention as ``form``, a part of its text, with its start moved to where form begins
    (quotes read the offsets)."""
    at = text.find(form, mention.start, mention.end)
    return replace(mention, text=form, start=at if at >= 0 else mention.start)


def _dateline_credit(mention: Mention, text: str) -> bool:
    """ "AMMAN (Reuters) -": the agency that filed the story, no organisation of it."""
    return text[mention.start - 1 : mention.start] == "(" and bool(
        _CREDIT_CLOSE.match(text, mention.end)
    )


def _job_title(mention: Mention, text: str) -> bool:
    """ "Secretary of State", "Law Minister": a word of a job title the model took for an
    organisation."""
    if " " in mention.text or mention.text.isupper():
        return False  # "UN Secretary-General": the UN is an organisation
    return bool(
        _TITLE_AFTER.match(text, mention.end)
        or _TITLE_BEFORE.search(text[max(0, mention.start - 15) : mention.start])
    )


def _demonym_off(form: str, gazetteer: Gazetteer) -> str:
    """ "Slovenian Matej Kranjc" → "Matej Kranjc" when the rest starts with a given name."""
    words = form.split()
    if len(words) > 2 and gazetteer.country(words[0]) and gender_of(words[1]):
        return " ".join(words[1:])
    return form


def _organisations_win(mentions: list[Mention]) -> list[Mention]:
    """A name of several words the model read as an organisation somewhere ("the Harlow Line")
    and as a person elsewhere ("Harlow Line singer ...") is the organisation when it was written
    with "the", or when it starts with no given name and the organisation reading is at least as
    frequent."""
    as_org = Counter(clean_entity(m.text) for m in mentions if m.label == "ORG")
    as_person = Counter(clean_entity(m.text) for m in mentions if m.label == "PERSON")
    with_the = {
        clean_entity(m.text)
        for m in mentions
        if m.label == "ORG" and _LEADING_ARTICLE.match(m.text)
    }

    def organisation(form: str) -> bool:
        if " " not in form or not as_org[form]:
            return False
        if form in with_the:
            return True
        # the reading the model gave most often ("Narendra Modi" misread once stays a person)
        return gender_of(form.split()[0]) is None and as_org[form] >= as_person[form]

    return [
        replace(m, label="ORG") if m.label == "PERSON" and organisation(clean_entity(m.text)) else m
        for m in mentions
    ]


def _with_particles(mentions: Sequence[Mention], text: str) -> list[Mention]:
    """A family name the model found without its particles ("Bosch" of "Femke van den Bosch",
    "Van den Bosch") takes them, and the given name before them."""
    grown: dict[int, Mention] = {}
    for number, mention in enumerate(mentions):
        if mention.label != "PERSON":
            continue
        match = _PARTICLES_BEFORE.search(text, max(0, mention.start - 40), mention.start)
        if match is None:
            continue
        start = match.start()
        given = match.group("given")
        if given and gender_of(given.strip()) is None:
            start = match.start("particles")
        grown[number] = replace(mention, text=text[start : mention.end], start=start)
    if not grown:
        return list(mentions)
    return [
        grown.get(number, mention)
        for number, mention in enumerate(mentions)
        if number in grown or not any(g.start <= mention.start < g.end for g in grown.values())
    ]


def _join_adjacent_people(mentions: Sequence[Mention], text: str) -> list[Mention]:
    """Two person mentions with one space between them, one of them a single word, are one
    ("Dmitri" "Volkonsky"; never two full names, "John Smith Mary Jones"), and so is a person's
    name ending in a particle with the mention after it ("Anna van den" "Berg")."""
    joined: list[Mention] = []
    for mention in mentions:
        last = joined[-1] if joined else None
        last_words = last.text.split() if last is not None else []
        particle_end = bool(last_words) and last_words[-1] in _NAME_PARTICLES
        if (
            last is not None
            and last.label == "PERSON"
            and text[last.end : mention.start] == " "
            and (
                particle_end
                or (
                    mention.label == "PERSON"
                    and (len(last_words) == 1 or " " not in mention.text.strip())
                )
            )
        ):
            joined[-1] = replace(last, text=text[last.start : mention.end], end=mention.end)
        else:
            joined.append(mention)
    return joined


def _full_names(mentions: list[Mention], text: str, gazetteer: Gazetteer) -> list[Mention]:
    """A family name found alone, with no full name among the mentions, is completed where the
    text writes a given name (or two) just before it; mentions inside the new name go."""
    full = {
        surname_key(clean_entity(m.text))
        for m in mentions
        if m.label == "PERSON" and " " in clean_entity(m.text)
    }
    lone = {
        clean_entity(m.text)
        for m in mentions
        if m.label in {"PERSON", "ORG"}
        and clean_entity(m.text)
        and " " not in clean_entity(m.text)
        and surname_key(clean_entity(m.text)) not in full
        and gazetteer.place(clean_entity(m.text)) is None
    }
    found: list[Mention] = []
    for surname in sorted(lone):
        # given names before the family name, and no capitalised word after it ("Adam Smith
        # Institute"), no possessive in it ("Satya Nadella's Microsoft")
        pattern = r"((?:[A-Z][\w-]*\s){1,3})" + re.escape(surname) + r"(?![\w'’-])(?!\s+[A-Z])"
        for match in re.finditer(pattern, text):
            if any(
                m.start < match.end() and match.start() < m.end and " " in m.text.strip()
                for m in mentions
            ):
                continue  # inside a name of several words the model found
            words = match.group(1).split()
            while words and gender_of(words[0]) is None:
                words = words[1:]  # "Ulster", "Dutch substitute"... before the given name
            if words:
                start = match.end() - len(surname) - len(" ".join(words)) - 1
                found.append(Mention(text[start : match.end()], "PERSON", start, match.end()))
                break
    if not found:
        return mentions
    kept = [m for m in mentions if not any(m.start < f.end and f.start < m.end for f in found)]
    return sorted([*kept, *found], key=lambda m: m.start)


def _work_title(mention: Mention, text: str) -> bool:
    """Whether a mention is the title of a film, album, book... rather than a name."""
    before = _ARTICLE_BEFORE.sub("", text[max(0, mention.start - 25) : mention.start])
    if _WORK_BEFORE.search(before):
        return True
    opened = before.rstrip(" ")[-1:] in _QUOTE_MARKS
    closed = text[mention.end : mention.end + 2].lstrip(",.!?")[:1] in _QUOTE_MARKS
    return opened and closed


def _looks_like_person(form: str, mention: Mention, text: str, gazetteer: Gazetteer) -> bool:
    """ "Stefano Conti": two or three capitalised words, the first a given name, none a word that
    names organisations, events or places, and the text treating it as a person's name: a role
    or a nationality just before it ("team principal Stefano Conti", "manager, Colm Doherty",
    "Slovenian Matej Kranjc"), ", who" after it, or the family name alone elsewhere ("Conti
    said"; "Morgan Stanley" is never "Stanley")."""
    words = form.split()
    if not (
        2 <= len(words) <= 3
        and all(word[:1].isupper() and not word.isupper() for word in words)
        and not any(word.casefold() in _NOT_PERSON_WORDS for word in words)
        and not any(gazetteer.country(word) for word in words)
    ):
        return False
    before = _WORD_BEFORE.search(text, max(0, mention.start - 30), mention.start)
    if before and (
        before.group(1).casefold() in _ROLES or gazetteer.country(before.group(1)) is not None
    ):
        return True  # a role says it, given name known or not ("translator, Eilís Ní Bhriain")
    if gender_of(words[0]) is None:
        return False
    if _WHO_AFTER.match(text, mention.end):
        return True
    alone = r"(?<![\w'’-])(?<!" + re.escape(words[-2]) + r" )" + re.escape(words[-1]) + r"(?![\w-])"
    return re.search(alone, text) is not None


def surname_key(name: str) -> str:
    """ "Bashar al-Assad" → "assad": the last word, without an Arabic article particle."""
    words = name.split()
    if not words:
        return ""
    last = words[-1]
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
        # a person's most complete form ("Pieter de Wit" over a more frequent "De Wit"); other
        # kinds: the fullest of the most frequent multi-word forms; one word only if nothing else
        def rank(form: str) -> tuple[bool, int, int, int]:
            words = len(form.split()) if self.kind == "person" else 0
            return (len(form.split()) > 1, words, self.forms[form], len(form))

        return max(self.forms, key=rank)


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
    by_first_name: dict[str, list[_Group]] = {}
    for group in groups.values():
        for given in {_name_key(f)[0] for f in group.forms}:
            by_first_name.setdefault(given, []).append(group)
    for form in sorted((f for f in forms if len(f.split()) == 1), key=lambda f: first[f]):
        # a family name, else a given name ("Budi" for Budi Santoso, "Park" for Park Ji-hoon)
        owners = by_surname.get(surname_key(form), []) or by_first_name.get(_name_key(form)[0], [])
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
        form = _WITH_THE.get(form.casefold(), form)
        if kind == "location" and gazetteer is not None:
            code = gazetteer.country(form)
            if code:
                form = gazetteer.name_of(code)
        key = form.casefold()
        group = groups.setdefault(key, _Group(kind, first=mention.start))
        group.forms[form] += 1
    if kind == "org":
        _merge_acronyms(groups)
        _merge_short_names(groups)
    return list(groups.values())


def _merge_short_names(groups: dict[str, _Group]) -> None:
    """ "Commission" joins "European Commission", "Hynix" "SK Hynix": a one-word organisation
    that ends exactly one longer organisation's name is that organisation, and so is one that
    begins it when the rest are organisations' words ("Samsung" of Samsung Electronics, but
    "Amazon" is not Amazon Web Services)."""
    for key in [k for k in groups if " " not in k]:
        owners = [
            other
            for other in groups
            if " " in other
            and (
                other.split()[-1] == key
                or (
                    other.split()[0] == key
                    and all(word in ORG_SUFFIXES for word in other.split()[1:])
                )
            )
        ]
        if len(owners) == 1:
            groups[owners[0]].forms.update(groups.pop(key).forms)


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


def _join_short_org_names(grouped: dict[str, list[_Group]], gazetteer: Gazetteer | None) -> None:
    """ "Kessler" after "Kessler Motoren" is the company, not a person: a one-word person (not a
    known place) that begins exactly one organisation's name of several words joins it."""
    by_first_word: dict[str, list[_Group]] = {}
    for group in grouped["org"]:
        words = group.text().split()
        if len(words) > 1:
            by_first_word.setdefault(words[0].casefold(), []).append(group)
    # only people: a one-word place that begins an organisation's name is often that place
    # ("Kurdistan" and the Kurdistan Regional Government)
    kept = []
    for group in grouped["person"]:
        form = group.text()
        owners = by_first_word.get(form.casefold(), []) if " " not in form else []
        known_place = gazetteer is not None and gazetteer.place(form) is not None
        if len(owners) == 1 and len(group.forms) == 1 and not known_place:
            owners[0].forms.update(group.forms)
        else:
            kept.append(group)
    grouped["person"] = kept


def _title_counts(title: str, groups: list[_Group]) -> None:
    """A headline mention counts too ("Lavrov: Moscow ..." for Sergei Lavrov)."""
    for group in groups:
        for form in sorted(group.forms, key=len, reverse=True):
            if re.search(r"(?<!\w)" + re.escape(form) + r"(?!\w)", title):
                group.forms[form] += 1
                break


def extract_entities(
    article: ParsedArticle,
    analysis: Analysis,
    gazetteer: Gazetteer | None = None,
    mentions: Sequence[Mention] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """The record's ``entities`` for one analysed article (``mentions``: its mentions already
    corrected by ``retype``, else corrected here)."""
    if mentions is None:
        mentions = retype(analysis.mentions, analysis.text, gazetteer)
    people = _people(mentions)
    people_forms = {form for group in people for form in group.forms}
    grouped = {"person": people}
    for kind in ("org", "location"):
        grouped[kind] = _others(mentions, kind, gazetteer, people_forms)
    _join_short_org_names(grouped, gazetteer)
    result: dict[str, list[dict[str, object]]] = {}
    for kind, groups in grouped.items():
        _title_counts(article.title, groups)
        groups.sort(key=lambda g: (-g.count, g.first))
        result[kind] = [{"text": g.text(), "count": g.count} for g in groups]
    return result


def corrected_mentions(
    analyzer: ArticleAnalyzer, article: ParsedArticle, analysis: Analysis, gazetteer: Gazetteer
) -> list[Mention]:
    """``retype``'s mentions of one article, made once per batch for every enricher reading
    them (entities, quotes, key phrases)."""
    return analyzer.derived(
        article, "mentions", lambda: retype(analysis.mentions, analysis.text, gazetteer)
    )


def article_entities(
    analyzer: ArticleAnalyzer,
    article: ParsedArticle,
    analysis: Analysis,
    gazetteer: Gazetteer | None,
) -> dict[str, list[dict[str, object]]]:
    """``extract_entities`` of one article, made once per batch (key phrases read it too)."""

    def make() -> dict[str, list[dict[str, object]]]:
        mentions = None
        if gazetteer is not None:
            mentions = corrected_mentions(analyzer, article, analysis, gazetteer)
        return extract_entities(article, analysis, gazetteer, mentions)

    # (an enricher without the gazetteer, in a test, corrects nothing: kept apart)
    return analyzer.derived(article, "entities" if gazetteer else "raw entities", make)


class EntitiesEnricher:
    """People, organisations and locations (spaCy's English model); ``None`` in other languages."""

    name = "entities"

    def __init__(self, analyzer: ArticleAnalyzer, gazetteer: Gazetteer | None = None) -> None:
        self._analyzer = analyzer
        self._gazetteer = gazetteer
        given_names()  # read now, at start-up (before a prefork pool forks), not on an article

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
                else article_entities(self._analyzer, article, analysis, self._gazetteer)
            }
            for article, analysis in zip(articles, analyses, strict=True)
        ]
