"""Tests for worker/enrich/countries.py and worker/enrich/gazetteer.py."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import ARABIC, MINISTER, PROSE, TABLE, article
from worker.enrich import CountriesEnricher, EnrichResources
from worker.enrich.countries import dateline_country, headline_countries
from worker.enrich.gazetteer import Gazetteer, fold_arabic


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

    def test_arabic_common_words_are_not_places(self, gazetteer: Gazetteer) -> None:
        """Words geonames lists as Arabic city names but that are common words match nothing."""
        assert gazetteer.scan_arabic("زار الوزير المدينة وقال إن الدولة ستساعد") == []

    def test_arabic_clitics(self, gazetteer: Gazetteer) -> None:
        """ "وبسوريا" (and in Syria) and "بدمشق" (in Damascus) are found through their prefixes."""
        assert gazetteer.scan_arabic("وبسوريا بدمشق") == ["SY", "SY"]

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
