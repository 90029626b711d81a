"""Tests for worker/enrich/keywords.py."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import ARABIC, MINISTER, PROSE, article
from worker.enrich import EnrichResources, KeywordsEnricher


@pytest.fixture(scope="module")
def enricher(resources: EnrichResources) -> KeywordsEnricher:
    return KeywordsEnricher(resources.analyzer)


class TestKeywordsEnricher:
    def test_key_phrases(self, enricher: KeywordsEnricher) -> None:
        """The story's subject is among its key phrases; at most ten."""
        (fields,) = enricher.enrich([PROSE])
        keywords = fields["keywords"]
        assert 0 < len(keywords) <= 10
        assert any("wheat harvest" in k or "Grain traders" in k for k in keywords)

    def test_no_phrase_repeats_another(self, enricher: KeywordsEnricher) -> None:
        """A phrase whose words a kept phrase already holds is left out."""
        (fields,) = enricher.enrich([MINISTER])
        words = [set(k.casefold().split()) for k in fields["keywords"]]
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                assert not (a <= b or b <= a)

    def test_arabic_without_punctuation(self, enricher: KeywordsEnricher) -> None:
        """Arabic key phrases, with no Arabic comma or quotation mark inside them."""
        (fields,) = enricher.enrich([ARABIC])
        assert fields["keywords"]
        assert not any(ch in k for k in fields["keywords"] for ch in '،"“”')

    def test_empty_article(self, enricher: KeywordsEnricher) -> None:
        """No text, no key phrases."""
        assert enricher.enrich([article("", "")]) == [{"keywords": []}]


class TestOverlapRules:
    def test_edge_overlap_and_fragments_are_overlaps(self) -> None:
        """A word-run inside another, or one phrase ending where the other starts, overlaps."""
        from worker.enrich.keywords import overlaps, phrase_words

        assert overlaps(phrase_words("Harbour Lane"), phrase_words("old Harbour Lane bridge"))
        assert overlaps(phrase_words("ferry to stop"), phrase_words("stop the crossing"))
        assert not overlaps(phrase_words("ferry crews"), phrase_words("harbour master"))

    def test_function_words_trimmed_at_edges(self) -> None:
        """Articles, prepositions and reporting verbs go from the edges; other words stay."""
        from worker.enrich.keywords import trim_function_words

        assert trim_function_words("past Tomas Berg") == "past Tomas Berg"
        assert trim_function_words("the ferry crews of") == "ferry crews"
        assert trim_function_words("Statistics showed") == "Statistics"

    def test_no_overlapping_phrases_in_output(self, enricher: KeywordsEnricher) -> None:
        """No kept phrase overlaps another (checked word by word, as the bench does)."""
        from worker.enrich.keywords import overlaps, phrase_words

        text = (
            "The Office for Harbour Statistics showed freight volumes falling at the port of "
            "Kelso Bay. The Harbour Statistics office said the Kelso Bay ferry crews would strike "
            "over pay, and the ferry crews union said the strike at Kelso Bay port would last "
            "two weeks. Harbour master Tomas Berg said the Kelso Bay ferry timetable would change."
        )
        (fields,) = enricher.enrich([article("Port strike", text)])
        words = [phrase_words(k) for k in fields["keywords"]]
        assert words
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                assert not overlaps(a, b), (a, b)


def test_names_in_key_phrases_are_written_in_full(resources: EnrichResources) -> None:
    """With the entities enricher's names, a key phrase cutting or wrapping a person's name
    ("coach Jose", "Sir Anton", "Halvorsen") is the name as entities writes it; without them
    (no gazetteer: the entities enricher is off) key phrases are YAKE's alone."""
    story = article(
        "Halvorsen Names New Squad",
        "Coach Jose Halvorsen named his squad on Monday. Sir Anton Brevik, the federation "
        "president, said Halvorsen had picked the youngest squad in twenty years.",
        "Halvorsen said the young players had earned their places. Halvorsen will name his "
        "captain on Friday, and Brevik will present the shirts.",
    )
    named = KeywordsEnricher(resources.analyzer, gazetteer=resources.gazetteer)
    (fields,) = named.enrich([story])
    keywords = fields["keywords"]
    assert "Jose Halvorsen" in keywords
    people_words = {"jose", "halvorsen", "anton", "brevik"}
    for phrase in keywords:
        if set(phrase.casefold().split()) & people_words:
            assert phrase in {"Jose Halvorsen", "Anton Brevik"}, phrase
    (plain,) = KeywordsEnricher(resources.analyzer).enrich([story])
    assert plain["keywords"] != keywords
