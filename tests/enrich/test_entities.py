# ruff: noqa: RUF001, RUF002 - typographic apostrophes are what news text writes
"""Tests for worker/enrich/entities.py."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from tests.enrich.conftest import ARABIC, MINISTER, article
from worker.enrich import EnrichResources, EntitiesEnricher
from worker.enrich.entities import clean_entity, retype, sports_story, strip_titles, surname_key
from worker.enrich.nlp import Mention


def names(entities: dict, kind: str) -> dict[str, int]:
    return {item["text"]: item["count"] for item in entities[kind]}


class TestCleanEntity:
    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            ("Russia’s", "Russia"),
            ("Russia's", "Russia"),
            ("the United Nations", "United Nations"),
            ("  Idlib  province ", "Idlib province"),
            ("“Syria”", "Syria"),
            ("Syrians’", "Syrians"),
        ],
    )
    def test_surface_forms(self, raw: str, clean: str) -> None:
        """Possessives, a leading article, quotes and spacing are removed."""
        assert clean_entity(raw) == clean

    def test_surname_ignores_arabic_article(self) -> None:
        """ "al-Assad" and "Assad" have one surname key."""
        assert surname_key("Bashar al-Assad") == surname_key("Assad") == "assad"


@pytest.fixture(scope="module")
def entities(resources: EnrichResources) -> dict:
    enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
    (fields,) = enricher.enrich([MINISTER])
    return fields["entities"]


class TestEntitiesEnricher:
    def test_shape(self, entities: dict) -> None:
        """Three kinds, each a list of {text, count}."""
        assert set(entities) == {"person", "org", "location"}
        for items in entities.values():
            assert all(set(item) == {"text", "count"} for item in items)

    def test_surname_joins_full_name(self, entities: dict) -> None:
        """ "Kovacs" is counted under "Anna Kovacs", including the headline mention."""
        people = names(entities, "person")
        assert "Kovacs" not in people
        assert people["Anna Kovacs"] >= 4

    def test_name_with_particle_is_one_person(self, entities: dict) -> None:
        """ "Omar al-Haddad", "Omar Haddad" and "Haddad" are one person."""
        people = names(entities, "person")
        haddad = [name for name in people if "Haddad" in name]
        assert len(haddad) == 1
        assert people[haddad[0]] >= 3

    def test_locations_normalised(self, entities: dict) -> None:
        """ "Turkey’s" is the location "Turkey"; Syria is one location."""
        locations = names(entities, "location")
        assert "Turkey" in locations
        assert "Turkey’s" not in locations
        assert locations["Syria"] == 2

    def test_dateline_capitals_read_as_a_name(self, resources: EnrichResources) -> None:
        """A dateline's "CHICAGO" is the location "Chicago"."""
        enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
        story = article(
            "Traders expect a larger harvest",
            "CHICAGO, March 3 - Grain traders said on Tuesday that exports to Japan would rise.",
        )
        assert "Chicago" in names(enricher.enrich([story])[0]["entities"], "location")

    def test_shared_surname_is_not_merged(self, resources: EnrichResources) -> None:
        """Two people with one surname: the lone surname stays apart, it cannot be told whose."""
        story = article(
            "Siblings open a bakery",
            "John Mercer and his sister Mary Mercer opened a bakery in Leeds on Saturday.",
            "Mercer said the shop would sell bread made with local flour.",
        )
        enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
        people = names(enricher.enrich([story])[0]["entities"], "person")
        assert people.get("John Mercer") == 1
        assert people.get("Mary Mercer") == 1

    def test_arabic_is_none_with_reason_logged(self, resources: EnrichResources) -> None:
        """No English analysis of Arabic: entities are None, and the log says why."""
        enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
        with capture_logs() as logs:
            fields = enricher.enrich([ARABIC, MINISTER])
        assert fields[0] == {"entities": None}
        assert fields[1]["entities"] is not None
        skipped = [e for e in logs if e["event"] == "enrich.entities_skipped"]
        assert len(skipped) == 1
        assert skipped[0]["language"] == "ar"
        assert skipped[0]["articles"] == 1
        assert "reason" in skipped[0]


class TestRetype:
    """Labels corrected with the gazetteer and the article (mentions made by hand, no model)."""

    def test_titles_and_demonyms_stripped(self, resources: EnrichResources) -> None:
        """ "Brazilian Joao Pereira" and "Sheikh Tamar bin Rashed" lose the word before the name."""
        gazetteer = resources.gazetteer
        assert strip_titles("Brazilian Joao Pereira", gazetteer) == "Joao Pereira"
        assert strip_titles("Sheikh Tamar bin Rashed", gazetteer) == "Tamar bin Rashed"
        assert strip_titles("coach Ilse Brandt", gazetteer) == "Ilse Brandt"
        assert strip_titles("President", gazetteer) == "President"

    def test_known_place_labelled_person_is_a_location(self, resources: EnrichResources) -> None:
        """A city the model called a person is a location; a time zone is dropped."""
        text = "Rain fell on Rotterdam overnight, and the ferry left at 0900 GMT for Hull."
        mentions = [
            Mention("Rotterdam", "PERSON", text.index("Rotterdam"), 0),
            Mention("GMT", "ORG", text.index("GMT"), 0),
        ]
        (only,) = retype(mentions, text, resources.gazetteer)
        assert (only.text, only.label) == ("Rotterdam", "GPE")

    def test_town_in_a_sports_story_is_its_team(self, resources: EnrichResources) -> None:
        """In a match report a town's name is the club, unless it follows "in"."""
        text = (
            "Leeds beat Bristol 2-1 in the league on Saturday, their third victory of the "
            "season. The striker scored both goals after the match had started in Leeds."
        )
        mentions = [
            Mention("Leeds", "GPE", 0, 5),
            Mention("Bristol", "PERSON", text.index("Bristol"), 0),
            Mention("Leeds", "GPE", text.rindex("Leeds"), 0),
        ]
        labels = [m.label for m in retype(mentions, text, resources.gazetteer)]
        assert labels == ["ORG", "ORG", "GPE"]
        assert sports_story(text)
        assert not sports_story("Leeds council voted on the new budget on Tuesday.")

    def _retyped(self, resources: EnrichResources, text: str, *spans: tuple[str, str]) -> dict:
        mentions = [
            Mention(form, label, text.index(form), text.index(form) + len(form))
            for form, label in spans
        ]
        return {m.text: m.label for m in retype(mentions, text, resources.gazetteer)}

    def test_places_named_as_places(self, resources: EnrichResources) -> None:
        """ "the village of Xandor", "Velmora province", "in Quellburg": places, whatever the
        model said; "in Tom Hale's view" stays a person (Tom is a given name)."""
        text = (
            "Shells fell near the village of Xandor Kel overnight. Velmora province was calm. "
            "Families fled in Quellburg Dasht, and in Tom Hale's view more will follow."
        )
        labels = self._retyped(
            resources,
            text,
            ("Xandor Kel", "PERSON"),
            ("Velmora", "PERSON"),
            ("Quellburg Dasht", "PERSON"),
            ("Tom Hale", "PERSON"),
        )
        assert labels == {
            "Xandor Kel": "GPE",
            "Velmora": "GPE",
            "Quellburg Dasht": "GPE",
            "Tom Hale": "PERSON",
        }

    def test_given_name_makes_an_organisation_a_person(self, resources: EnrichResources) -> None:
        """ "Stefano Vireo" (the model: ORG), called "Vireo" later, is a person; "Stefano
        Motors" and "Jordan Valley Authority", with an organisation's word or a country in them,
        are not, nor is "Morgan Lisle", never shortened to "Lisle" as people are."""
        text = (
            "Stefano Vireo praised Stefano Motors, Morgan Lisle and the Jordan Valley Authority "
            "on Monday. Vireo said all three had helped."
        )
        labels = self._retyped(
            resources,
            text,
            ("Stefano Vireo", "ORG"),
            ("Stefano Motors", "ORG"),
            ("Morgan Lisle", "ORG"),
            ("Jordan Valley Authority", "ORG"),
        )
        assert labels == {
            "Stefano Vireo": "PERSON",
            "Stefano Motors": "ORG",
            "Morgan Lisle": "ORG",
            "Jordan Valley Authority": "ORG",
        }

    def test_words_and_titles_of_works_are_no_entities(self, resources: EnrichResources) -> None:
        """ "Coal" where the text also says "coal", an index, a drama's title and a name alone in
        quotation marks are dropped; a person's surname that is also a word ("Baker" beside
        "Ann Baker") is kept."""
        text = (
            "Coal towns will get help, Ann Baker said; coal output fell and the Kospi rose. "
            "Baker, a baker's daughter, wrote the drama Glass Harbour and the play “Tin Roofs”."
        )
        labels = self._retyped(
            resources,
            text,
            ("Coal", "PERSON"),
            ("Ann Baker", "PERSON"),
            ("Kospi", "PERSON"),
            ("Baker", "PERSON"),
            ("Glass Harbour", "PERSON"),
            ("Tin Roofs", "ORG"),
        )
        assert labels == {"Ann Baker": "PERSON", "Baker": "PERSON"}

    def test_surname_typed_as_place_is_the_person(self, resources: EnrichResources) -> None:
        """ "Okonjo" after "Bayo Okonjo" is the person, not a place; "in Okonjo" is the town."""
        text = "Bayo Okonjo won. Okonjo thanked voters, and the rally in Okonjo went on."
        mentions = [
            Mention("Bayo Okonjo", "PERSON", 0, 11),
            Mention("Okonjo", "GPE", text.index("Okonjo thanked"), 0),
            Mention("Okonjo", "GPE", text.rindex("Okonjo"), 0),
        ]
        labels = [m.label for m in retype(mentions, text, resources.gazetteer)]
        assert labels == ["PERSON", "PERSON", "GPE"]

    def test_split_and_half_found_names_completed(self, resources: EnrichResources) -> None:
        """ "Russian Tomas" + "Varga" is one person (and loses the demonym); a family name found
        alone ("Brodeur") takes the given name the text writes before it ("winger Luc
        Brodeur"), and the mention of the given name inside it goes."""
        text = "Russian Tomas Varga won. Then winger Luc Brodeur scored, and Brodeur celebrated."
        mentions = [
            Mention("Russian Tomas", "PERSON", 0, 13),
            Mention("Varga", "PERSON", 14, 19),
            Mention("Luc", "PERSON", text.index("Luc"), text.index("Luc") + 3),
            Mention("Brodeur", "PERSON", text.rindex("Brodeur"), text.rindex("Brodeur") + 7),
        ]
        people = [m.text for m in retype(mentions, text, resources.gazetteer)]
        assert people == ["Tomas Varga", "Luc Brodeur", "Brodeur"]

    def test_the_and_site_words(self, resources: EnrichResources) -> None:
        """No one's name takes "the" ("the Ravens" is a group); "Kell Farm" and "Orrin Park"
        are sites; "the Lantern Row" as an organisation makes "Lantern Row singer" one too."""
        text = (
            "Fans of the Ravens met at Kell Farm and Orrin Park. The band the Lantern Row played; "
            "Lantern Row singer Ida Moss waved."
        )
        labels = self._retyped(
            resources,
            text,
            ("Ravens", "PERSON"),
            ("Kell Farm", "ORG"),
            ("Orrin Park", "PERSON"),
            ("the Lantern Row", "ORG"),
        )
        assert labels == {
            "Ravens": "ORG",
            "Kell Farm": "FAC",
            "Orrin Park": "FAC",
            "the Lantern Row": "ORG",
        }
        lantern = text.rindex("Lantern Row")
        mentions = [
            Mention("the Lantern Row", "ORG", text.index("the Lantern"), 0),
            Mention("Lantern Row", "PERSON", lantern, lantern + 11),
        ]
        assert [m.label for m in retype(mentions, text, resources.gazetteer)] == ["ORG", "ORG"]

    def test_credits_titles_sites_and_teams(self, resources: EnrichResources) -> None:
        """A dateline's agency and a job title's word are no organisations; "the Tamra camp" and
        "Palazzo Verdi" are sites; a country next to a score in a match report is its team."""
        text = (
            "TUNIS (Reuters) - The Secretary of State met the Law Minister at the Tamra camp "
            "and in Palazzo Verdi. In the match, Portugal 2-1 was the score, and the striker and "
            "the goalkeeper celebrated a goal, a penalty and the league title in Portugal."
        )
        labels = self._retyped(
            resources,
            text,
            ("Reuters", "ORG"),
            ("State", "ORG"),
            ("Law", "ORG"),
            ("Tamra", "GPE"),
            ("Palazzo Verdi", "ORG"),
            ("Portugal", "GPE"),
        )
        assert labels == {"Tamra camp": "FAC", "Palazzo Verdi": "FAC", "Portugal": "ORG"}
        in_portugal = text.rindex("Portugal")
        (last,) = retype([Mention("Portugal", "GPE", in_portugal, in_portugal + 8)], text,
                         resources.gazetteer)  # fmt: skip
        assert last.label == "GPE"  # "in Portugal": the country

    def test_particle_names_and_complete_forms(self, resources: EnrichResources) -> None:
        """ "Femke van den" + "Bosch" is one person, named "Femke van den Bosch" even where "Van
        den Bosch" is the more frequent form; a one-word organisation ending a longer one's name
        joins it; a dateline's "HAGUE, March 3" is The Hague."""
        story = article(
            "Talks in The Hague",
            "THE HAGUE, March 3 (Reuters) - Femke van den Bosch met the European Commission. "
            "Van den Bosch said the talks went well. Van den Bosch added that the Commission "
            "would reply.",
        )
        enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
        found = enricher.enrich([story])[0]["entities"]
        assert names(found, "person").get("Femke van den Bosch", 0) >= 2
        assert "Van den Bosch" not in names(found, "person")
        orgs = names(found, "org")
        assert orgs.get("European Commission") == 2 and "Commission" not in orgs
        assert "Reuters" not in orgs
        assert "The Hague" in names(found, "location")

    def test_names_the_model_cut_or_mistyped(self, resources: EnrichResources) -> None:
        """ "Park Min" + "-seo" is Park Min-seo; "Ida Lund's Quay" a site; "analysts at Borrow
        Lane" a firm; "Van der Berg" after "Jan van der Berg" the person; "Culture" in "Culture
        Minister" no one; a region the model read as a full name ("Tamil Nadu") a place."""
        text = (
            "Park Min-seo, like Jan van der Berg, met analysts at Borrow Lane on Ida Lund's "
            "Quay. Van der Berg and the Culture Minister flew to Tamil Nadu."
        )
        labels = self._retyped(
            resources,
            text,
            ("Park Min", "PERSON"),
            ("Jan van der Berg", "PERSON"),
            ("Borrow Lane", "PERSON"),
            ("Ida Lund", "PERSON"),
            ("Van der Berg", "ORG"),
            ("Culture", "PERSON"),
            ("Tamil Nadu", "PERSON"),
        )
        assert labels == {
            "Park Min-seo": "PERSON",
            "Jan van der Berg": "PERSON",
            "Borrow Lane": "ORG",
            "Ida Lund's Quay": "FAC",
            "Van der Berg": "PERSON",
            "Tamil Nadu": "GPE",
        }


@pytest.fixture(scope="module")
def found(resources: EnrichResources) -> dict:
    story = article(
        "Carmaker Signs Battery Deal",
        "Brenner Motoren, the carmaker, signed a deal with Qiao Lingyun of Harbin Cells on "
        "Monday. Brenner said the batteries would arrive next year.",
        "Qiao said the Ministry of Industry and the Bank of Japan had approved it. "
        "The news came before the Velmont Open, where the company sponsors the final.",
        "Analysts at Dorran Partners said the deal was good for both sides. Its sponsor deal "
        "with Real Corvana and Dinamo Karsk ends in June.",
    )
    enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)
    return enricher.enrich([story])[0]["entities"]


class TestRulesAndGrouping:
    """The entity ruler in front of the model, and short forms joining full names (real model)."""

    def test_organisation_words_make_organisations(self, found: dict) -> None:
        orgs = names(found, "org")
        assert {"Brenner Motoren", "Dorran Partners"} <= set(orgs)
        assert {"Ministry of Industry", "Bank of Japan"} <= set(orgs)  # two, not one with "and"
        assert {"Real Corvana", "Dinamo Karsk"} <= set(orgs)  # clubs by their first word
        assert not {"Brenner Motoren", "Dorran Partners"} & set(names(found, "person"))

    def test_short_forms_join(self, found: dict) -> None:
        """ "Brenner" is the carmaker; "Qiao", a family name written first, is Qiao Lingyun."""
        people = names(found, "person")
        assert "Brenner" not in people
        assert people.get("Qiao Lingyun") == 2
        assert names(found, "org")["Brenner Motoren"] == 2

    def test_events_are_no_entities(self, found: dict) -> None:
        everything = {item["text"] for kind in found.values() for item in kind}
        assert not any("Velmont" in name for name in everything)
