"""Tests for worker/dedupe/fingerprint.py: article ids and text normalisation."""

from __future__ import annotations

import dataclasses

from tests.dumps import HARBOUR, ORCHARD
from worker.dedupe import article_id, normalise_text
from worker.models import ParsedArticle


def _article(title: str = HARBOUR.title, paragraphs: tuple[str, ...] = HARBOUR.paragraphs):
    return ParsedArticle(title=title, paragraphs=paragraphs)


class TestNormaliseText:
    def test_case_folded_and_spaces_collapsed(self):
        """Case is folded and every run of whitespace (tabs, newlines) becomes one space."""
        assert normalise_text("  The  Harbour\tTOWN\n\nCouncil ") == "the harbour town council"

    def test_compatibility_forms_folded(self):
        """NFKC: full-width letters and ligatures compare equal to plain ones; ß folds to ss."""
        assert normalise_text("\uff28arbour \ufb01sh Stra\u00dfe") == "harbour fish strasse"


class TestArticleId:
    def test_same_text_same_id(self):
        """Two articles with the same text get the same id, whatever their index or line."""
        a = _article()
        b = dataclasses.replace(a, index=7, line=300, image_caption="other", image_credit="AP")
        assert article_id(a) == article_id(b)

    def test_case_and_whitespace_differences_same_id(self):
        """Upper-case feeds and re-wrapped lines give the same id."""
        a = _article()
        b = _article(
            title=HARBOUR.title.upper() + "  ",
            paragraphs=tuple(
                p.replace(" ", "\n", 3).replace(" ", "  ", 2) for p in HARBOUR.paragraphs
            ),
        )
        assert article_id(a) == article_id(b)

    def test_different_body_different_id(self):
        """One word changed in the body changes the id."""
        a = _article()
        edited = (*HARBOUR.paragraphs[:-1], "The new timetable takes effect in April.")
        assert article_id(a) != article_id(_article(paragraphs=edited))

    def test_different_title_different_id(self):
        """The same body under another title is another article."""
        assert article_id(_article()) != article_id(_article(title=ORCHARD.title))

    def test_title_body_boundary_matters(self):
        """Moving a word across the title/body boundary changes the id."""
        a = ParsedArticle(title="Harbour Town", paragraphs=("Votes on the timetable.",))
        b = ParsedArticle(title="Harbour Town Votes", paragraphs=("on the timetable.",))
        assert normalise_text(a.title + " " + a.body) == normalise_text(b.title + " " + b.body)
        assert article_id(a) != article_id(b)

    def test_id_is_hex_sha256(self):
        """The id is 64 lower-case hex digits."""
        key = article_id(_article())
        assert len(key) == 64
        assert set(key) <= set("0123456789abcdef")

    def test_fixed_input_fixed_digest(self):
        """A fixed input gives a fixed digest on every machine (the stored ids depend on it)."""
        article = ParsedArticle(
            title="Harbour Town Votes", paragraphs=("The council met.", "It voted yes.")
        )
        assert article_id(article) == (
            "7fbfe0ba371c939e14dbca8770b6ff2cfee1c05118471f6638ccb9b7b99dc325"
        )

    def test_fixed_non_ascii_input_fixed_digest(self):
        """Non-ASCII text is hashed as NFKC-casefolded UTF-8: a fixed digest too."""
        article = ParsedArticle(
            title="Caf\u00e9 \u201cOpens\u201d", paragraphs=("\uff21 wide letter.",)
        )
        assert article_id(article) == (
            "dd03ff4a6635aa104f866b06ca520fbf8eab2cc5d9151d504e5d4ec60cc816c1"
        )
