"""Tests for worker/parse/dump.py: the dump format's header shapes, separators and artefacts."""

from __future__ import annotations

import pytest

from tests.dumps import (
    BRIDGE,
    HARBOUR,
    LIBRARY,
    ORCHARD,
    SHAPES,
    STORIES,
    Story,
    render,
    render_dump,
)
from worker.errors import ArticleTooLongError
from worker.models import ParsedArticle, Unplaced
from worker.parse import DumpParser, ReadLimits, caption_credit, parse_dump
from worker.parse.dump import MAX_ARTICLE_CHARS


def _expected_caption(story: Story, shape: str) -> str | None:
    if shape == "full":
        return story.caption_line
    if shape == "no_caption_credit":
        return story.caption
    return None


def _expected_credit(story: Story, shape: str) -> str | None:
    return story.credit if shape == "full" else None


def _articles(text: str) -> list[ParsedArticle]:
    return DumpParser().articles(text)


def _line_of(text: str, needle: str, occurrence: int = 0) -> int:
    """Line number (from 1) of the ``occurrence``-th line equal to ``needle``."""
    hits = [n for n, line in enumerate(text.split("\n"), start=1) if line == needle]
    return hits[occurrence]


class TestHeaderShapes:
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("story", STORIES, ids=lambda s: s.title.split()[0])
    def test_shape_gives_title_caption_credit_and_paragraphs(self, story: Story, shape: str):
        """Every header shape yields one article: the title, the caption once, the raw credit and
        exactly the story's paragraphs in order."""
        (article,) = DumpParser().parse(render(story, shape))
        assert article.title == story.title
        assert article.image_caption == _expected_caption(story, shape)
        assert article.image_credit == _expected_credit(story, shape)
        assert article.paragraphs == story.paragraphs

    @pytest.mark.parametrize("shape", SHAPES)
    def test_body_holds_no_marker_title_or_caption(self, shape: str):
        """The body never contains the TT marker, the "20" line, the title or the caption."""
        (article,) = _articles(render(HARBOUR, shape))
        lines = article.body.split("\n")
        assert "TT" not in lines
        assert "20" not in lines
        assert HARBOUR.title not in article.body
        assert HARBOUR.caption not in article.body
        assert article.body == "\n\n".join(HARBOUR.paragraphs)

    def test_caption_kept_once_not_twice(self):
        """The scraper's doubled caption becomes a single caption, not two lines joined."""
        (article,) = _articles(render(ORCHARD, "full"))
        assert (
            article.image_caption
            == "A worker sorts apples at a packing house in the Northern Valley. (AFP)"
        )
        assert article.image_caption.count("Northern Valley") == 1

    @pytest.mark.parametrize("repeats", [1, 2, 3])
    def test_caption_repeated_one_two_or_three_times(self, repeats: int):
        """However often the scraper repeats the caption, it is kept once and the body is clean."""
        (article,) = _articles(render(BRIDGE, "full", caption_repeats=repeats))
        assert article.image_caption == BRIDGE.caption_line
        assert article.image_credit == "Reuters"
        assert article.paragraphs == BRIDGE.paragraphs

    def test_all_shapes_in_one_dump(self):
        """A dump mixing the shapes gives every article, in order, with index 0..n-1."""
        stories = [HARBOUR, ORCHARD, LIBRARY, BRIDGE, HARBOUR, ORCHARD]
        text = render_dump(stories, list(SHAPES))
        articles = _articles(text)
        assert [a.title for a in articles] == [s.title for s in stories]
        assert [a.index for a in articles] == list(range(6))
        for article, story, shape in zip(articles, stories, SHAPES, strict=True):
            assert article.paragraphs == story.paragraphs
            assert article.image_caption == _expected_caption(story, shape)
            assert article.image_credit == _expected_credit(story, shape)


class TestSeparators:
    @pytest.mark.parametrize("blanks", [3, 4, 5, 8])
    def test_three_or_more_blank_lines_separate_articles(self, blanks: int):
        """Three or more blank lines between articles all split the dump the same way."""
        text = render_dump([HARBOUR, ORCHARD, BRIDGE], separator_blank_lines=blanks)
        articles = _articles(text)
        assert [a.title for a in articles] == [HARBOUR.title, ORCHARD.title, BRIDGE.title]
        assert [a.paragraphs for a in articles] == [
            HARBOUR.paragraphs,
            ORCHARD.paragraphs,
            BRIDGE.paragraphs,
        ]

    def test_line_and_index_of_each_article(self):
        """``line`` is the line of the article's first title, ``index`` its position from 0."""
        text = render_dump([HARBOUR, LIBRARY, BRIDGE], ["full", "bare", "marker_20"], 4)
        articles = _articles(text)
        assert [a.index for a in articles] == [0, 1, 2]
        assert [a.line for a in articles] == [
            1,
            _line_of(text, LIBRARY.title),
            _line_of(text, BRIDGE.title),
        ]
        # hand-counted: HARBOUR "full" renders 18 lines, then 4 blank lines
        assert articles[1].line == 23

    def test_leading_blank_lines_shift_line_numbers(self):
        """Blank lines before the first article are counted in ``line``."""
        text = "\n\n" + render(LIBRARY, "bare") + "\n"
        (article,) = _articles(text)
        assert article.line == 3
        assert article.index == 0

    def test_trailing_spaces_and_tabs_are_ignored(self):
        """Trailing spaces/tabs on every line, and whitespace-only "blank" lines, change nothing."""
        text = render_dump([HARBOUR, ORCHARD], ["full", "marker_20"])
        padded = "\n".join(line + " \t" if line else "\t  " for line in text.split("\n"))
        articles = _articles(padded)
        assert [(a.title, a.image_caption, a.image_credit, a.paragraphs) for a in articles] == [
            (HARBOUR.title, HARBOUR.caption_line, "AP", HARBOUR.paragraphs),
            (ORCHARD.title, None, None, ORCHARD.paragraphs),
        ]


class TestArticleSizeLimit:
    """A dump without article separators reads as one article as long as the file: refused with
    ``article_too_long`` once an article passes ``max_article_chars``, before it grows further."""

    @staticmethod
    def _no_separators(paragraphs: int) -> str:
        body = "\n\n".join(
            f"Paragraph {n} of a story whose separators the exporter forgot."
            for n in range(paragraphs)
        )
        return f"A title\n\n{body}\n"

    def test_dump_without_separators_is_refused(self):
        """Paragraphs one blank line apart, never three: refused, the error points at line 1."""
        text = self._no_separators(40_000)  # ~2.5 MB, past the default limit
        assert len(text) > MAX_ARTICLE_CHARS
        with pytest.raises(ArticleTooLongError) as caught:
            parse_dump(text.encode())
        assert caught.value.code == "article_too_long"
        assert caught.value.line == 1
        assert str(MAX_ARTICLE_CHARS) in caught.value.message

    def test_limit_is_a_read_limit(self):
        """``ReadLimits.max_article_chars`` sets the bound; a small dump without separators is
        one article under it, and refused over it."""
        text = self._no_separators(100)
        (article,) = parse_dump(text.encode()).articles
        assert len(article.paragraphs) == 100
        with pytest.raises(ArticleTooLongError):
            parse_dump(text.encode(), ReadLimits(max_article_chars=len(text) // 2))

    def test_bound_is_exact(self):
        """Every line of the article counts with its newline; blank lines do not."""
        text = "T\n\n" + "x" * 100 + "\n"
        chars = len("T") + 1 + 100 + 1
        (article,) = DumpParser(max_article_chars=chars).articles(text)
        assert article.paragraphs == ("x" * 100,)
        with pytest.raises(ArticleTooLongError):
            DumpParser(max_article_chars=chars - 1).articles(text)

    def test_limit_is_per_article(self):
        """Many articles together far past the limit are fine: only one article counts."""
        text = render_dump([HARBOUR, ORCHARD, LIBRARY, BRIDGE] * 20)
        limit = max(len(render(s, "full")) for s in (HARBOUR, ORCHARD, LIBRARY, BRIDGE)) + 10
        assert len(text) > 20 * limit
        assert len(DumpParser(max_article_chars=limit).articles(text)) == 80

    def test_one_block_without_blank_lines_is_refused_in_bounded_memory(self):
        """A file with no blank line at all is one block: it is refused once the block is past
        the limit, without holding the rest of the file (peak memory a fraction of the file)."""
        import tracemalloc

        data = ("A line of text and never a blank line between them.\n" * 320_000).encode()
        assert len(data) > 16_000_000
        tracemalloc.start()
        try:
            with pytest.raises(ArticleTooLongError):
                parse_dump(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < len(data) // 2  # the input copy aside, ~1 M characters of lines at most


class TestScrapeArtefacts:
    def test_truncated_last_article_is_kept(self):
        """A last article cut mid-paragraph (no final newline) keeps what is there."""
        text = render_dump([HARBOUR, ORCHARD]).rstrip("\n")
        cut = text[: text.index("prices had fallen")]
        articles = _articles(cut)
        assert [a.title for a in articles] == [HARBOUR.title, ORCHARD.title]
        last = articles[-1]
        assert last.paragraphs[0] == ORCHARD.paragraphs[0]
        assert (
            last.paragraphs[-1]
            == ORCHARD.paragraphs[1][: ORCHARD.paragraphs[1].index("prices")].strip()
        )
        assert len(last.paragraphs) == 2

    def test_paragraph_repeated_consecutively_appears_once(self):
        """A paragraph the scraper wrote twice in a row (as two paragraphs) is kept once."""
        twice = BRIDGE.paragraphs[1]
        text = render(BRIDGE, "full").replace(twice, f"{twice}\n\n{twice}")
        assert text.count(twice) == 2
        (article,) = _articles(text)
        assert article.paragraphs == BRIDGE.paragraphs

    def test_same_paragraph_apart_is_kept_twice(self):
        """Only consecutive repeats are artefacts: a paragraph repeated later is content."""
        story = Story(title="Two Refrains", paragraphs=("Refrain.", "Verse one here.", "Refrain."))
        (article,) = _articles(render(story, "bare"))
        assert article.paragraphs == ("Refrain.", "Verse one here.", "Refrain.")

    def test_stray_title_block_becomes_unplaced(self):
        """A block that is only a title, with no body, is reported line by line as Unplaced and
        does not take an article index."""
        text = (
            render(HARBOUR)
            + "\n\n\n\nA Stray Headline With No Story\n\n\n\n"
            + render(ORCHARD, "bare")
            + "\n"
        )
        items = DumpParser().parse(text)
        assert [type(i) for i in items] == [ParsedArticle, Unplaced, ParsedArticle]
        stray = items[1]
        assert stray == Unplaced(line=22, text="A Stray Headline With No Story")
        assert stray.line == _line_of(text, "A Stray Headline With No Story")
        assert items[2].index == 1
        assert items[2].line == _line_of(text, ORCHARD.title)

    def test_stray_header_without_body_lists_every_line(self):
        """A title with its caption but no body: each non-blank line is Unplaced with its line."""
        text = (
            render(LIBRARY, "bare")
            + "\n\n\n\nOrphan Headline\n\nOrphan caption (AP)\nOrphan caption (AP)\n\n\n\n"
            + render(BRIDGE)
            + "\n"
        )
        items = DumpParser().parse(text)
        unplaced = [i for i in items if isinstance(i, Unplaced)]
        first = _line_of(text, "Orphan Headline")
        assert unplaced == [
            Unplaced(first, "Orphan Headline"),
            Unplaced(first + 2, "Orphan caption (AP)"),
            Unplaced(first + 3, "Orphan caption (AP)"),
        ]
        assert [a.title for a in items if isinstance(a, ParsedArticle)] == [
            LIBRARY.title,
            BRIDGE.title,
        ]

    def test_parse_dump_separates_articles_and_unplaced(self):
        """parse_dump returns articles and unplaced lines apart, and the encoding."""
        text = "Lonely Title\n\n\n\n" + render(HARBOUR) + "\n"
        result = parse_dump(text.encode("utf-8"))
        assert [a.title for a in result.articles] == [HARBOUR.title]
        assert result.articles[0].line == 5
        assert result.articles[0].index == 0
        assert result.unplaced == [Unplaced(1, "Lonely Title")]
        assert result.encoding == "utf-8"


class TestCaptionCredit:
    @pytest.mark.parametrize(
        ("caption", "credit"),
        [
            ("Boats in the harbour. (AP)", "AP"),
            ("Apples on a tree (AFP)", "AFP"),
            ("A bridge at dawn. ( Reuters )  ", "Reuters"),
            ("A portrait (AP Photo/Jane Doe)", "AP Photo/Jane Doe"),
            ("A caption with no credit at all.", None),
            ("A caption (with an aside) that goes on.", None),
        ],
    )
    def test_credit_is_the_parenthesis_at_the_end(self, caption: str, credit: str | None):
        """The credit is the text in the last parentheses, as written; none if not at the end."""
        assert caption_credit(caption) == credit
