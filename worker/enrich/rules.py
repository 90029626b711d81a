"""Entity patterns for spaCy's ``EntityRuler``, where the small model is systematically wrong.

The ruler runs before the statistical recogniser, which then predicts around what the ruler
found. The patterns name what the *words* of a name say about its kind, not any particular name:

* a run of capitalised words ending in a word organisations are named with ("Kessler Motoren",
  "Pathway Robotics", "Home Office", "Celtic League", "Les Films du Levant") is an ``ORG`` —
  the model reads such names as people;
* "Ministry of …", "Bank of …", "University of …" are ``ORG`` too, and so are football clubs
  named "Real …", "Dinamo …", "Borussia …" and the big leagues ("Premiership", "La Liga");
* a run ending in a word events are named with ("Thailand Open", "Berlin Marathon", "Italian
  Grand Prix", "Paris Air Show") is an ``EVENT``, which no enricher reports: the model calls them
  places or organisations, and a place's country would follow from them.
"""

from __future__ import annotations

from typing import Any

# Last words of organisations' names (lower case).
ORG_SUFFIXES = frozenset({
    "airways", "airlines", "motors", "motoren", "automotive", "media", "robotics", "lithography",
    "labs", "laboratories", "pictures", "films", "studios", "records", "bank", "group",
    "holdings", "research", "partners", "capital", "systems", "technologies", "pharmaceuticals",
    "pharma", "foods", "ltd", "plc", "inc", "corp", "corporation", "gmbh", "ag", "trust",
    "council", "agency", "ministry", "department", "commission", "authority", "institute",
    "university", "college", "party", "union", "association", "federation", "league", "club",
    "fc", "united", "rovers", "athletic", "events", "networks", "telecom", "insurance",
    "securities", "investments", "ventures", "industries", "logistics", "shipping",
    "entertainment", "software", "electronics", "semiconductors", "exchange", "office", "police",
    "army", "navy", "parliament", "foundation", "organisation", "organization", "energy", "mining",
    "editions", "publishing", "brands", "committee", "movement", "forces",
})  # fmt: skip
# First words of organisations' names followed by "of …" ("Bank of Japan").
ORG_PREFIXES = frozenset({
    "ministry", "department", "bank", "university", "office", "institute", "commission",
    "council", "court", "museum", "organization", "organisation", "league", "federation",
    "association", "union", "house",
})  # fmt: skip
# Last words of events' names, and two-word endings.
EVENT_SUFFIXES = frozenset({
    "open", "marathon", "championships", "championship", "olympics", "games", "festival",
    "awards", "tournament", "masters", "classic", "trophy", "prize", "airshow", "expo",
})  # fmt: skip
EVENT_ENDINGS = (("grand", "prix"), ("air", "show"), ("world", "cup"))
# Capitalised words that start sentences or dates, never a name's first word.
_NOT_NAME_START = frozenset({
    "the", "a", "an", "in", "on", "at", "but", "and", "or", "as", "after", "before", "when",
    "while", "if", "its", "his", "her", "their", "our", "this", "that", "these", "those", "for",
    "from", "with", "by", "of", "to", "yesterday", "today", "tomorrow", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march",
    "april", "may", "june", "july", "august", "september", "october", "november", "december",
    "mr", "mrs", "ms", "dr", "shares", "analysts", "rival", "rivals", "organisers", "organizers",
    "officials", "investors", "fans", "critics", "residents", "separately", "meanwhile",
    "elsewhere", "earlier", "later", "instead", "still", "now", "then", "also",
})  # fmt: skip
# Inside a name before an organisation's word: "Marks & Spencer Group", "Banco de Chile". Never
# "and" or "of", which join two names or a noun and a name ("Google and Samsung Electronics",
# "Sales of Meridian Airlines"); names with "of" come from the "Ministry of ..." patterns.
_PARTICLES = ["du", "de", "des", "la", "le", "&", "van", "der", "von"]
# After an organisation's word, a name goes on only with these ("Irish Council for Civil
# Liberties", "Les Films du Levant"), never with "and" ("Peak Partners and Japan's ...").
_TAIL_PARTICLES = ["du", "de", "des", "la", "le", "of", "for", "van", "der", "von"]

_CAPITALISED = {"TEXT": {"REGEX": r"^[A-Z][\w'\u2019.&-]*$"}}
# never a stop word ("Meanwhile", "However"): a capitalised word that starts a sentence
_NAME_START = {**_CAPITALISED, "IS_STOP": False, "LOWER": {"NOT_IN": sorted(_NOT_NAME_START)}}
# inside a name, a hyphen between capitalised words too ("Farmer-Citizen Movement")
_NAME_WORD = {
    "TEXT": {"REGEX": r"^(?:[A-Z][\w'\u2019.&-]*|-)$"},
    "LOWER": {"NOT_IN": sorted(_NOT_NAME_START - {"of"})},
}


def _ending(words: frozenset[str] | tuple[str, ...], *, capitalised: bool = True) -> dict[str, Any]:
    token: dict[str, Any] = {"LOWER": {"IN": sorted(words)}}
    if capitalised:
        token["TEXT"] = {"REGEX": r"^[A-Z]"}
    return token


# First words of football clubs' names ("Real Betis", "Dinamo Tbilisi", "Borussia Dortmund").
CLUB_PREFIXES = frozenset({
    "Real", "Dinamo", "Dynamo", "Sporting", "Atletico", "Atlético", "Inter", "AC", "AS", "FC",
    "SC", "Olympique", "Deportivo", "Borussia", "Lokomotiv", "Spartak", "Steaua",
})  # fmt: skip
# Leagues the model reads as people or places ("several Premiership titles").
LEAGUES = ("premiership", "bundesliga", "eredivisie", "la liga", "serie a", "ligue 1")


def patterns() -> list[dict[str, Any]]:
    """The ruler's patterns (token patterns on the words' text; the ruler keeps the longest)."""
    org_tail = _ending(ORG_SUFFIXES)
    event_tail = _ending(EVENT_SUFFIXES)
    particle = {"LOWER": {"IN": _PARTICLES}}
    tail_particle = {"LOWER": {"IN": _TAIL_PARTICLES}}
    words = {**_NAME_WORD, "OP": "*"}
    more_words = {**_NAME_WORD, "OP": "+"}
    found: list[dict[str, Any]] = [
        {"label": "ORG", "pattern": [{"LOWER": word} for word in league.split()]}
        for league in LEAGUES
    ]
    for head in (
        [_NAME_START, words],
        [_NAME_START, words, particle, more_words],  # "Marks & Spencer Group"
    ):
        found.append({"label": "ORG", "pattern": [*head, org_tail]})
        # "Les Films du Levant": the organisation's word, then "du"/"de"/"of" and a name
        found.append({"label": "ORG", "pattern": [*head, org_tail, tail_particle, more_words]})
        found.append({"label": "EVENT", "pattern": [*head, event_tail]})
        for first, second in EVENT_ENDINGS:
            ending = [{"LOWER": first, **_CAPITALISED}, {"LOWER": second, **_CAPITALISED}]
            found.append({"label": "EVENT", "pattern": [*head, *ending]})
    # "Ministry of Defence", "International Association of Athletics Federations", "Organization
    # of the Petroleum Exporting Countries"
    prefix = _ending(ORG_PREFIXES)
    of_the = [{"LOWER": "of"}, {"LOWER": "the", "OP": "?"}]
    found.append({"label": "ORG", "pattern": [prefix, *of_the, more_words]})
    found.append({"label": "ORG", "pattern": [_NAME_START, prefix, *of_the, more_words]})
    # the clubs' first words as written ("AS Roma", "Real Betis"), then a name that is no
    # acronym ("Real GDP", "As Britain ..." are no clubs)
    club = {"TEXT": {"IN": sorted(CLUB_PREFIXES)}}
    found.append({"label": "ORG", "pattern": [club, {**_NAME_WORD, "IS_UPPER": False}]})
    # "Tour de France", "Tour of Flanders"
    found.append(
        {
            "label": "EVENT",
            "pattern": [{"LOWER": "tour", **_CAPITALISED}, tail_particle, more_words],
        }
    )
    return found
