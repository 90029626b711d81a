"""Tests for worker/enrich/language.py and the language enricher."""

from __future__ import annotations

from tests.enrich.conftest import ARABIC, PROSE, TABLE, article
from worker.enrich import EnrichResources, LanguageEnricher
from worker.enrich.language import MIN_CONFIDENCE, LanguageIdentifierModel


class TestLanguageIdentifierModel:
    def test_table_of_figures_is_unsure(self) -> None:
        """An earnings table has too few words for the model: its guess is below the threshold."""
        guess = LanguageIdentifierModel().guess(TABLE.title + "\n" + TABLE.body)
        assert guess.confidence < MIN_CONFIDENCE

    def test_prose_is_sure(self) -> None:
        """Ordinary English prose is identified with confidence."""
        guess = LanguageIdentifierModel().guess(PROSE.title + "\n" + PROSE.body)
        assert guess == guess.__class__("en", guess.confidence)
        assert guess.confidence >= MIN_CONFIDENCE

    def test_no_letters_is_unknown(self) -> None:
        """Figures alone have no language."""
        assert LanguageIdentifierModel().guess("12 34 5.6 <ABC>").language is None


class TestLanguageEnricher:
    def test_table_takes_the_language_of_its_dump(self, resources: EnrichResources) -> None:
        """A table in a dump of English prose is English, not the model's random guess."""
        fields = LanguageEnricher(resources.analyzer).enrich([PROSE, TABLE])
        assert [f["language"] for f in fields] == ["en", "en"]

    def test_table_alone_is_unknown_rather_than_wrong(self) -> None:
        """With nothing sure to lean on, the language stays None."""
        assert LanguageEnricher().enrich([TABLE]) == [{"language": None}]

    def test_arabic(self, resources: EnrichResources) -> None:
        """Arabic text is ``ar``."""
        assert LanguageEnricher(resources.analyzer).enrich([ARABIC]) == [{"language": "ar"}]

    def test_arabic_page_listing_latin_titles_is_arabic(self) -> None:
        """An Arabic page whose list is in Latin letters is Arabic: the Arabic words decide."""
        page = article(
            "Top Films",
            "أفضل عشرة أفلام في السينما لهذا العام",
            "1. The Long Road Home | Maria Stone (USA)",
            "2. Winter in the Valley | Peter Lang (UK)",
            "3. The Glass Garden | Ana Ruiz (Spain)",
            "4. Night Train to the Coast | Tom Berg (USA)",
        )
        assert LanguageEnricher().enrich([page]) == [{"language": "ar"}]

    def test_english_with_one_arabic_name_stays_english(self) -> None:
        """A few Arabic letters in an English story do not make it Arabic."""
        story = article(
            "Ministers meet in the capital",
            "The ministers met on Monday in the capital, where the newspaper Al-Ahram (الأهرام) "
            "reported that the talks on trade and water would continue for another week, and "
            "officials said a joint statement was expected before the end of the month.",
        )
        assert LanguageEnricher().enrich([story]) == [{"language": "en"}]
