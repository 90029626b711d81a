"""Ordinary news sentences our entity rules must leave alone (found by a cold review).

Each rule of ``entities.retype`` and ``rules`` was written for a mistake of the model; these are
the sentences where a careless version of the rule makes a new one. Real model, our own text.
"""

from __future__ import annotations

import pytest

from tests.enrich.conftest import article
from worker.enrich import EnrichResources, EntitiesEnricher, KeywordsEnricher
from worker.enrich.entities import retype
from worker.enrich.nlp import Mention

FILLER = "The figures were published on Tuesday and were widely reported in the press."


@pytest.fixture(scope="module")
def enrich(resources: EnrichResources):
    enricher = EntitiesEnricher(resources.spacy_analyzer(), resources.gazetteer)

    def run(*paragraphs: str) -> dict[str, set[str]]:
        (fields,) = enricher.enrich([article("Story", *paragraphs, FILLER)])
        return {
            kind: {item["text"] for item in items} for kind, items in fields["entities"].items()
        }

    return run


def test_and_joins_no_names(enrich) -> None:
    found = enrich(
        "Talks between Google and Samsung Electronics stalled, and the Bank of England and the "
        "Federal Reserve held rates."
    )
    assert not [name for name in found["org"] if " and " in name]
    assert "Samsung Electronics" in found["org"]


def test_sentence_words_start_no_names(enrich) -> None:
    found = enrich(
        "Meanwhile Tesla Motors said sales rose. As Britain braces for snow, Real GDP grew 2%."
    )
    assert not [n for n in found["org"] if n.split()[0] in {"Meanwhile", "As", "Real"}]
    assert "United Kingdom" in found["location"]


def test_people_stay_people(enrich) -> None:
    found = enrich(
        "Emmanuel Macron arrived in London. Macron's state visit will last three days.",
        "The Biden administration imposed tariffs. A spokesman for Netanyahu declined to comment.",
        "Mr Rice said rice exports would fall.",
    )
    assert not {"Macron", "Biden", "Netanyahu"} & (found["location"] | found["org"])
    assert any("Rice" in name for name in found["person"])


def test_countries_and_companies_keep_their_kind(enrich) -> None:
    found = enrich(
        "Jordan crossing points were closed on Monday.",
        "Satya Nadella's Microsoft beat forecasts. Microsoft said cloud sales grew.",
        "Analysts at Morgan Stanley said luxury shares fell.",
        "Amazon said Amazon Web Services grew quickly. Amazon shares rose.",
    )
    assert "Jordan" in found["location"]
    assert not [n for n in found["person"] if "Microsoft" in n]
    assert "Morgan Stanley" not in found["person"]
    assert "Amazon" in found["org"]


def test_two_full_names_side_by_side_stay_two(enrich) -> None:
    found = enrich("Pictured from left: John Smith Mary Jones and Peter Brown at the launch.")
    assert not [n for n in found["person"] if len(n.split()) > 3]


def test_hyphenated_adjectives_are_no_name_parts(enrich) -> None:
    found = enrich("Sarah Jones-led firms grew. Jones said the market was strong.")
    assert not [n for n in found["person"] if n.endswith("-led")]


def test_acronym_before_a_title_is_the_organisation(enrich) -> None:
    found = enrich("UN Secretary-General Antonio Guterres called for a ceasefire.")
    assert "UN" in found["org"]


def test_an_empty_mention_is_dropped_not_a_crash(resources: EnrichResources) -> None:
    text = "He said - it was fine."
    assert retype([Mention("-", "PERSON", 8, 9)], text, resources.gazetteer) == []


def test_an_organisations_edge_word_makes_no_key_phrase(resources: EnrichResources) -> None:
    story = article(
        "Trade Gap Widens",
        "The United States trade deficit widened in March, officials said. Manchester United "
        "shares fell after the club's results, and Manchester United fans protested.",
        "United States officials said the trade deficit would narrow. The central bank said "
        "rates would stay on hold.",
    )
    (fields,) = KeywordsEnricher(resources.analyzer, gazetteer=resources.gazetteer).enrich([story])
    assert fields["keywords"].count("Manchester United") <= 1
    assert not [k for k in fields["keywords"] if k.startswith("States ")]


def test_what_the_guards_still_let_through(enrich) -> None:
    """The guards above keep the rules' use: "Vendra" is still Vendra Electronics (the rest of
    the name is organisations' words), and a dateline's capitals are still its place."""
    found = enrich(
        "KARACHI (Reuters) - Its chief executive, Tavish Okonkwo, said Vendra Electronics would "
        "hire. Vendra shares rose, and Vendra Electronics said more jobs would follow.",
    )
    assert "Vendra" not in found["org"]
    assert "Karachi" in found["location"]
