"""Tests for worker/enrich/countries.py and worker/enrich/gazetteer.py."""

from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from tests.enrich.conftest import ARABIC, MINISTER, PROSE, TABLE, article
from worker.enrich import CountriesEnricher, EnrichResources
from worker.enrich.countries import (
    Clue,
    dateline_country,
    headline_clues,
    headline_countries,
    resolve,
)
from worker.enrich.gazetteer import Gazetteer, fold_arabic
from worker.enrich.nlp import Analysis, Mention


@pytest.fixture(scope="module")
def gazetteer(resources: EnrichResources) -> Gazetteer:
    return resources.gazetteer


@pytest.fixture(scope="module")
def enricher(resources: EnrichResources) -> CountriesEnricher:
    return CountriesEnricher(resources.spacy_analyzer(), resources.gazetteer)


class TestGazetteer:
    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("Syria", "SY"),
            ("Syrian", "SY"),
            ("Turkish", "TR"),
            ("Türkiye’s", "TR"),  # noqa: RUF001 - the apostrophe news text writes
            ("U.S.", "US"),
            ("Britain", "GB"),
            ("Soviet", "SU"),
            ("سوريا", "SY"),
            ("السعودية", "SA"),
            ("الجمهوريّة العربيّة السّوريّة", "SY"),  # pycountry's Arabic name, with diacritics
        ],
    )
    def test_country_level_names(self, gazetteer: Gazetteer, name: str, code: str) -> None:
        """Names, demonyms, aliases and Arabic names map to ISO codes."""
        assert gazetteer.country(name) == code

    def test_cities_by_population(self, gazetteer: Gazetteer) -> None:
        """A city name shared by several cities is the most populous one."""
        assert gazetteer.place("London") == "GB"
        assert gazetteer.place("Damascus") == "SY"
        assert gazetteer.country("London") is None  # cities are not country-level names

    def test_shared_names_keep_every_candidate(self, gazetteer: Gazetteer) -> None:
        """Newcastle is in Australia, South Africa and England ("Newcastle upon Tyne")."""
        codes = [code for code, _ in gazetteer.candidates("Newcastle")]
        assert codes[0] == "AU"
        assert {"AU", "ZA", "GB"} <= set(codes)
        assert gazetteer.candidates("Syria") == (("SY", 0),)
        assert gazetteer.candidates("Nowhereville") == ()

    def test_qualified_city_names(self, gazetteer: Gazetteer) -> None:
        """A city named with its river is also found by its short name."""
        assert gazetteer.place("Frankfurt") == "DE"  # Frankfurt am Main

    def test_us_states_before_towns_abroad(self, gazetteer: Gazetteer) -> None:
        """Virginia, Colorado, Arizona are the states, not towns in South Africa or Honduras."""
        assert [gazetteer.place(n) for n in ("Virginia", "Colorado", "Arizona")] == ["US"] * 3
        assert gazetteer.place("Georgia") == "GE"  # the country-level name wins

    def test_regions(self, gazetteer: Gazetteer) -> None:
        """First-level subdivisions: states, provinces, regions."""
        assert gazetteer.place("New South Wales") == "AU"
        assert gazetteer.place("Leinster") == "IE"
        assert gazetteer.place("Western Cape") == "ZA"
        assert gazetteer.place("Bavaria") == gazetteer.place("Bayern") == "DE"  # English names
        assert gazetteer.place("Lincolnshire") == "GB"  # counties
        assert gazetteer.place("Victoria") == "AU"  # a state counts as a big city
        assert gazetteer.place("Savannah") == "US"  # a region as a town (Ghana's Savannah)
        # a generic word names no region (Ghana's Central Region); a town of that name may remain
        assert "GH" not in dict(gazetteer.candidates("Central"))

    def test_world_regions_are_no_country(self, gazetteer: Gazetteer) -> None:
        """Continents and world regions give no code (Asia is also a town in the Philippines)."""
        assert [gazetteer.place(n) for n in ("Asia", "Europe", "Middle East")] == [None] * 3

    def test_demonyms(self, gazetteer: Gazetteer) -> None:
        """Nationality words, kept apart from country names."""
        assert gazetteer.demonym("Ivorian") == "CI"
        assert gazetteer.demonym("New Zealander") == "NZ"
        assert gazetteer.demonym("Brazil") is None
        assert gazetteer.country("Luxembourg's") == "LU"  # duplicate codes in a table merge

    def test_arabic_common_words_are_not_places(self, gazetteer: Gazetteer) -> None:
        """Words geonames lists as Arabic city names but that are common words match nothing."""
        assert gazetteer.scan_arabic("زار الوزير المدينة وقال إن الدولة ستساعد") == []

    def test_a_region_weighs_as_a_town(self, gazetteer: Gazetteer) -> None:
        """A region (not a state or province) ranks below a city of its name: Canterbury is the
        English city before the New Zealand region, Savannah the US city before Ghana's."""
        assert gazetteer.candidates("Canterbury")[0][0] == "GB"
        assert gazetteer.candidates("Savannah")[0][0] == "US"

    def test_latin_words_in_an_arabic_text_are_no_arabic_names(self, gazetteer: Gazetteer) -> None:
        """An English sentence in an Arabic article gives nothing: "most" and "of" are towns
        in geonames (Most, Czechia; Of, Turkey), not Arabic names."""
        assert gazetteer.scan_arabic("دعم سوريا. Most of the talks were held in English.") == ["SY"]

    def test_arabic_clitics(self, gazetteer: Gazetteer) -> None:
        """ "وبسوريا" (and in Syria) and "بدمشق" (in Damascus) are found through their prefixes."""
        assert gazetteer.scan_arabic("وبسوريا بدمشق") == ["SY", "SY"]

    def test_arabic_words_kept(self, gazetteer: Gazetteer) -> None:
        """The scan also says which words gave each code (for the evidence)."""
        assert gazetteer.scan_arabic_words("وبسوريا") == [("SY", "وبسوريا")]

    def test_fold_arabic(self) -> None:
        """Diacritics removed, alef and teh marbuta variants unified."""
        assert fold_arabic("إيرانيّة") == "ايرانيه"


class TestDateline:
    @pytest.mark.parametrize(
        ("paragraph", "code"),
        [
            ("SALVADOR, Feb 26 - Showers continued in the cocoa zone.", "BR"),
            ("FLORENCE, Ala., Feb 26 - Shr 75 cts vs 52 cts", "US"),
            ("TORONTO, March 2 - The company said it would sell the unit.", "CA"),
            ("LONDON (Reuters) - Shares rose.", "GB"),
        ],
    )
    def test_dateline(self, gazetteer: Gazetteer, paragraph: str, code: str) -> None:
        """The dateline's region decides, else its city."""
        assert dateline_country(paragraph, gazetteer)[0] == code

    def test_no_dateline(self, gazetteer: Gazetteer) -> None:
        """An ordinary first sentence has no dateline."""
        assert dateline_country("The council voted on Tuesday.", gazetteer) == (None, 0)

    def test_headline_places_after_prepositions(self, gazetteer: Gazetteer) -> None:
        """ "Wins at Monza": a city after "at"/"in" in a headline; the whole name must be one."""
        clues = headline_clues("Marlow Wins at Monza as Rivals Falter", gazetteer, places=True)
        assert [(c.words, c.candidates[0][0]) for c in clues] == [("Monza", "IT")]
        assert headline_clues("Fans React to Man Utd Offer", gazetteer, places=True) == []
        assert headline_clues("Sales Up in January", gazetteer, places=True) == []

    def test_headline_in_capitals(self, gazetteer: Gazetteer) -> None:
        """Country names in an all-capitals headline are found."""
        assert headline_countries("JAPAN AND WEST GERMANY AGREE ON TRADE", gazetteer) == [
            "JP",
            "DE",
        ]


class TestCountriesEnricher:
    def test_places_and_demonyms(self, enricher: CountriesEnricher) -> None:
        """Countries, cities and adjectives of an English story ("Turkish", "Russian", Ankara)."""
        (fields,) = enricher.enrich([MINISTER])
        assert {"SY", "TR", "RU"} <= set(fields["countries"])
        assert fields["countries"][0] == "SY"  # the most mentioned first

    def test_dateline_region_beats_city_name(self, enricher: CountriesEnricher) -> None:
        """ "DULUTH, Minn." is the US only: the city is not looked up elsewhere."""
        assert enricher.enrich([PROSE, TABLE])[1] == {"countries": ["US"]}

    def test_arabic(self, enricher: CountriesEnricher) -> None:
        """An Arabic article's countries come from the Arabic names."""
        (fields,) = enricher.enrich([ARABIC])
        assert set(fields["countries"]) == {"SY", "TR", "SA"}

    def test_nothing_to_find(self, enricher: CountriesEnricher) -> None:
        """No place, no country: an empty list, not None."""
        story = article("Bakery opens", "A bakery opened on the corner on Saturday morning.")
        assert enricher.enrich([story]) == [{"countries": []}]


def _clue(words: str, *candidates: tuple[str, int], team: bool = False) -> Clue:
    return Clue(words, "place", tuple(candidates), team=team)


NEWCASTLE = (("AU", 508_000), ("ZA", 405_000), ("GB", 300_000))


class TestResolve:
    def test_context_picks_among_shared_names(self) -> None:
        """A city name of several countries is the one the article's other names point to."""
        english = [_clue("Newcastle", *NEWCASTLE), _clue("Sunderland", ("GB", 170_000))]
        assert resolve(english)[0][0] == "GB"
        australian = [_clue("Newcastle", *NEWCASTLE), _clue("New South Wales", ("AU", 100_000))]
        assert resolve(australian)[0][0] == "AU"

    def test_no_context_keeps_the_likeliest(self) -> None:
        """Nothing else in the article: the most populous; the name's own mentions do not count."""
        assert [code for code, _ in resolve([_clue("Newcastle", *NEWCASTLE)] * 2)] == ["AU"] * 2

    def test_far_smaller_place_needs_more_than_context(self) -> None:
        """London in a story that names Canada is still England's (21x London, Ontario)."""
        clues = [_clue("London", ("GB", 8_900_000), ("CA", 420_000)), _clue("Canada", ("CA", 0))]
        assert resolve(clues)[0][0] == "GB"

    def test_a_team_follows_the_context_whatever_the_size(self) -> None:
        """A club named like a big city abroad and a region at home is the home region's."""
        clues = [_clue("Munster", ("DE", 315_000), ("IE", 100_000), team=True)]
        clues.append(_clue("Ireland", ("IE", 0)))
        assert resolve(clues)[0][0] == "IE"

    def test_two_ambiguous_names_do_not_swap_each_other(self) -> None:
        """Each ambiguous name is only context for the countries it may be in: two names each
        likelier in another country keep their own likeliest, never each other's."""
        clues = [
            _clue("Norwold", ("US", 238_000), ("GB", 100_000)),
            _clue("Sufwold", ("GB", 150_000), ("US", 88_000)),
        ]
        assert [code for code, _ in resolve(clues)] == ["US", "GB"]

    def test_headline_to_and_from_place_nothing(self, gazetteer: Gazetteer) -> None:
        """ "Cuts to Police", "Appeal to Unity": after "to" a headline names no place."""
        assert headline_clues("Cuts to Police", gazetteer, places=True) == []
        assert headline_clues("Appeal to Unity", gazetteer, places=True) == []


def _analysis(text: str, *mentions: tuple[str, str]) -> Analysis:
    """An analysis whose mentions are the first occurrence of each (text, label)."""
    found = []
    for words, label in mentions:
        start = text.index(words)
        found.append(Mention(words, label, start, start + len(words)))
    return Analysis(text=text, paragraphs=((0, len(text)),), mentions=tuple(found), speech=())


def _codes(enricher: CountriesEnricher, title: str, text: str, *mentions: tuple[str, str]) -> set:
    story = article(title, text)
    return set(enricher.countries(story, "en", _analysis(text, *mentions)))


class TestRules:
    """Each rule on the mentions the recogniser gives (written out here, not from the model)."""

    def test_newcastle_by_context(self, enricher: CountriesEnricher) -> None:
        """Newcastle in a story about English football is England's; with New South Wales, not."""
        text = (
            "Harwick scored twice as Sunderland won 2-0 at Newcastle in the Premiership, and the "
            "coach said his squad had played its best match of the season."
        )
        assert _codes(enricher, "Derby Win", text, ("Sunderland", "ORG"), ("Newcastle", "GPE")) == {
            "GB"
        }
        text = "Floods closed roads around Newcastle, New South Wales, on Tuesday."
        assert _codes(
            enricher, "Floods", text, ("Newcastle", "GPE"), ("New South Wales", "GPE")
        ) == {"AU"}

    def test_team_named_after_a_place(self, enricher: CountriesEnricher) -> None:
        """In a sports story a club or team typed a person or organisation gives its country."""
        text = (
            "Porto beat the league leaders 2-1 in the cup on Saturday, and the coach praised his "
            "squad after the match. Ireland play their next match in the tournament in March."
        )
        codes = _codes(enricher, "Cup Win", text, ("Porto", "PERSON"), ("Ireland", "ORG"))
        assert codes == {"PT", "IE"}

    def test_club_named_with_its_town(self, enricher: CountriesEnricher) -> None:
        """In a sports story: "Manchester United", "Real Madrid" (town last after a club word); not
        "Kelby Forest" (Forest is a Belgian town, but a club's word here) nor a person's name."""
        text = (
            "Manchester United and Real Madrid drew in the cup, Kelby Forest lost the league match "
            "and Lincoln Barrow scored twice for the club."
        )
        mentions = [
            ("Manchester United", "ORG"),
            ("Real Madrid", "ORG"),
            ("Kelby Forest", "ORG"),
            ("Lincoln Barrow", "ORG"),
        ]
        assert _codes(enricher, "Cup Draw", text, *mentions) == {"GB", "ES"}

    def test_compounds(self, enricher: CountriesEnricher) -> None:
        """ "Abu Dhabi-based", "Saudi-led" as the model writes them give the place's country; a
        "Russian-speaking" mention gives none."""
        text = "The Abu Dhabi-based fund joined the Saudi-led group and a Russian-speaking gang."
        mentions = [("Abu Dhabi-based", "GPE"), ("Saudi-led", "NORP"), ("Russian-speaking", "NORP")]
        assert _codes(enricher, "Fund", text, *mentions) == {"AE", "SA"}

    def test_place_typed_an_organisation_outside_sport(self, enricher: CountriesEnricher) -> None:
        """Outside sport, only where the text places something there."""
        text = "Dresner-based Halvik Tools will build the new plant in Toulouse, with 300 jobs."
        assert _codes(enricher, "Plant", text, ("Toulouse", "ORG")) == {"FR"}
        text = "Copenhagen-based Halvik Tools reported higher profits on Monday."
        assert _codes(enricher, "Profits", text, ("Copenhagen", "ORG")) == {"DK"}
        text = "Analysts blamed a slump in Toulouse sales for the fall in the shares."
        assert _codes(enricher, "Shares", text, ("Toulouse", "ORG")) == set()
        text = "Toulouse said profits would rise."  # a company named like a city: nothing
        assert _codes(enricher, "Profits", text, ("Toulouse", "ORG")) == set()

    def test_not_a_place_when_a_given_name_or_acronym(self, enricher: CountriesEnricher) -> None:
        """A given name typed a person ("Nancy") and an acronym ("SANA") are no places."""
        text = "Nancy told the club she was leaving the squad after the match in the cup."
        assert _codes(enricher, "Leaving", text, ("Nancy", "PERSON")) == set()
        text = "The state news agency SANA said the road at the league match was closed."
        assert _codes(enricher, "Road", text, ("SANA", "ORG")) == set()

    def test_organisation_with_a_country(self, enricher: CountriesEnricher) -> None:
        """ "US Navy", "Spanish Football Federation", "Bank of England"; events give nothing."""
        text = (
            "The US Navy, the Spanish Football Federation and the Bank of England were named, "
            "and the Australian Open was moved."
        )
        mentions = [
            ("US Navy", "ORG"),
            ("Spanish Football Federation", "ORG"),
            ("Bank of England", "ORG"),
            ("Australian Open", "ORG"),
        ]
        assert _codes(enricher, "Named", text, *mentions) == {"US", "ES", "GB"}

    def test_nationality_before_a_name(self, enricher: CountriesEnricher) -> None:
        """ "Kenyan X Y", "Briton X Y", "Finn X Y", "New Zealander X Y" give the country."""
        text = (
            "Kenyan Amos Kibet beat Briton Ruth Calloway, Finn Aki Marttila and the referee, "
            "New Zealander Grant Loomis."
        )
        mentions = [
            ("Kenyan Amos Kibet", "PERSON"),
            ("Briton Ruth Calloway", "PERSON"),
            ("Finn", "PERSON"),  # the model cut the name off: "Aki Marttila" follows
            ("Grant Loomis", "PERSON"),
        ]
        assert _codes(enricher, "Race", text, *mentions) == {"KE", "GB", "FI", "NZ"}

    def test_demonym_that_is_a_given_name(self, enricher: CountriesEnricher) -> None:
        """ "Finn Halloway" is a man called Finn, not a Finn."""
        text = "Finn Halloway kicked the winning penalty."
        assert _codes(enricher, "Penalty", text, ("Finn Halloway", "PERSON")) == set()

    def test_demonyms_as_actors(self, enricher: CountriesEnricher) -> None:
        """ "Danish striker", "Ivorian forward": the nationality's country."""
        text = "The Danish striker and the Ivorian forward both scored."
        assert _codes(enricher, "Goals", text, ("Danish", "NORP"), ("Ivorian", "NORP")) == {
            "DK",
            "CI",
        }

    def test_language_or_flag_gives_nothing(self, enricher: CountriesEnricher) -> None:
        """ "Russian-speaking" is a language, "Liberian-flagged" a flag of convenience."""
        text = "A Russian-speaking gang seized the Liberian-flagged tanker Morning Gull."
        assert _codes(enricher, "Seized", text, ("Russian", "NORP"), ("Liberian", "NORP")) == set()

    def test_language_in_context_gives_nothing(self, enricher: CountriesEnricher) -> None:
        """ "said in Russian that", "spoke Danish": languages; "in Russian hands" is the country."""
        text = "He said in Russian that the talks had failed, and spoke Danish to reporters."
        assert _codes(enricher, "Talks", text, ("Russian", "NORP"), ("Danish", "NORP")) == set()
        text = "The port has been in Russian hands since March."
        assert _codes(enricher, "Port", text, ("Russian", "NORP")) == {"RU"}
        text = "The board rejected an offer from Swiss Halbach."
        assert _codes(enricher, "Offer", text, ("Swiss", "NORP")) == {"CH"}

    def test_surname_is_no_place(self, enricher: CountriesEnricher) -> None:
        """ "Keller" of "Roman Keller" is the player, not Keller, Texas."""
        text = "Roman Keller won in three sets. Keller now plays in the final."
        mentions = [("Roman Keller", "PERSON"), ("Keller", "GPE")]
        assert _codes(enricher, "Final", text, *mentions) == set()

    def test_state_abbreviation(self, enricher: CountriesEnricher) -> None:
        """A dateline's abbreviation written in the text ("Ala.") is the state."""
        text = "The plant in the north of Ala. will close."
        assert _codes(enricher, "Plant", text, ("Ala.", "GPE")) == {"US"}

    def test_city_with_its_state(self, enricher: CountriesEnricher) -> None:
        """ "Florence, Ala." is in Alabama, "London, Ontario" in Canada."""
        text = "The plant near Florence, Ala. will close."
        assert _codes(enricher, "Plant", text, ("Florence", "GPE"), ("Ala.", "GPE")) == {"US"}
        text = "Storms hit London, Ontario on Friday."
        assert _codes(enricher, "Storms", text, ("London", "GPE"), ("Ontario", "GPE")) == {"CA"}

    def test_evidence_logged(self, enricher: CountriesEnricher) -> None:
        """One debug event per article: for each code, its words and their kind."""
        text = "The Danish striker scored in Porto."
        story = article("Goal", text)
        analysis = _analysis(text, ("Danish", "NORP"), ("Porto", "GPE"))
        logger = logging.getLogger("worker.enrich.countries")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            with capture_logs() as logs:
                enricher.countries(story, "en", analysis)
        finally:
            logger.setLevel(level)
        (event,) = [e for e in logs if e["event"] == "enrich.countries_evidence"]
        assert event["evidence"] == {"DK": ["demonym: Danish"], "PT": ["place: Porto"]}
        assert event["log_level"] == "debug"

    def test_evidence_of_a_choice_by_context(self, enricher: CountriesEnricher) -> None:
        """A shared name decided by the rest of the article says so, with the likeliest."""
        text = (
            "Fans drove down from Newcastle for the final, the biggest day of the year in England"
        )
        analysis = _analysis(text, ("Newcastle", "GPE"), ("England", "GPE"))
        logger = logging.getLogger("worker.enrich.countries")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            with capture_logs() as logs:
                enricher.countries(article("Final", text), "en", analysis)
        finally:
            logger.setLevel(level)
        (event,) = [e for e in logs if e["event"] == "enrich.countries_evidence"]
        assert event["evidence"] == {
            "GB": ["place: Newcastle (by context, not AU)", "place: England"]
        }

    def test_no_evidence_built_at_info(self, enricher: CountriesEnricher) -> None:
        """At the default level no evidence event is made."""
        text = "The Danish striker scored."
        logger = logging.getLogger("worker.enrich.countries")
        level = logger.level
        logger.setLevel(logging.INFO)
        try:
            with capture_logs() as logs:
                enricher.countries(article("Goal", text), "en", _analysis(text, ("Danish", "NORP")))
        finally:
            logger.setLevel(level)
        assert [e for e in logs if e["event"] == "enrich.countries_evidence"] == []
