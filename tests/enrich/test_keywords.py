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
