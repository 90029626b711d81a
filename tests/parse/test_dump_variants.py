"""Format variants of issue #3: separators of two to five blank lines, extra blank lines inside a
header, upper-case titles, captions with other credits."""

from __future__ import annotations

import pytest

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, STORIES, render, render_dump
from worker.parse import DumpParser
from worker.parse.dump import caption_credit

parser = DumpParser()


@pytest.mark.parametrize("blank_lines", [2, 3, 4, 5])
@pytest.mark.parametrize("shape", ["full", "marker", "marker_20", "repeated_title"])
def test_separators_of_two_to_five_blank_lines(blank_lines: int, shape: str) -> None:
    """Articles with a header are found whatever the separator, two to five blank lines."""
    text = render_dump(list(STORIES), [shape] * 4, separator_blank_lines=blank_lines)
    articles = parser.articles(text)
    assert [a.title for a in articles] == [s.title for s in STORIES]
    assert [a.paragraphs for a in articles] == [s.paragraphs for s in STORIES]


def test_two_blank_lines_inside_a_body_do_not_split_it() -> None:
    """Two blank lines between paragraphs are not a separator when no header follows them."""
    text = render(HARBOUR).replace(HARBOUR.paragraphs[1] + "\n\n", HARBOUR.paragraphs[1] + "\n\n\n")
    (article,) = parser.articles(text)
    assert article.paragraphs == HARBOUR.paragraphs


@pytest.mark.parametrize("extra", [1, 2, 3, 4])
def test_extra_blank_lines_inside_the_header(extra: int) -> None:
    """Blank lines added between the parts of a header keep it one article."""
    gap = "\n" * (extra + 1)
    caption = HARBOUR.caption_line
    text = (
        f"{HARBOUR.title}{gap}{caption}\n{caption}\nTT{gap}{HARBOUR.title}{gap}"
        f"{caption}\n{caption}\n\n" + "\n\n".join(HARBOUR.paragraphs)
    )
    following = "\n\n\n\n" + render(ORCHARD)
    articles = parser.articles(text + following)
    assert [a.title for a in articles] == [HARBOUR.title, ORCHARD.title]
    assert articles[0].image_caption == caption
    assert articles[0].paragraphs == HARBOUR.paragraphs


def test_a_stray_title_before_an_article_is_not_merged_into_it() -> None:
    """A lone line followed by three blank lines and a real article stays unplaced."""
    items = parser.parse("Orphan Heading\n\n\n\n" + render(LIBRARY, "marker"))
    assert [type(i).__name__ for i in items] == ["Unplaced", "ParsedArticle"]
    assert items[1].title == LIBRARY.title


def test_upper_case_titles_and_a_truncated_last_article() -> None:
    """Upper-case titles are kept as written; a last article cut mid-word keeps its text."""
    upper = render(BRIDGE, "marker").replace(BRIDGE.title, BRIDGE.title.upper())
    cut = render(ORCHARD)[:-25]
    articles = parser.articles(upper + "\n\n\n\n" + cut)
    assert articles[0].title == BRIDGE.title.upper()
    assert articles[1].paragraphs[-1] == ORCHARD.paragraphs[-1][:-25]


@pytest.mark.parametrize(
    ("caption", "credit"),
    [
        ("Crowds in the square. (AP Photo)", "AP Photo"),
        ("Crowds in the square. (Getty Images)", "Getty Images"),
        ("Crowds in the square. (SPA)", "SPA"),
        ("Crowds in the square. (Photo: City Hall)", "Photo: City Hall"),
        ("Crowds in the square.", None),
    ],
)
def test_caption_credits(caption: str, credit: str | None) -> None:
    """The credit at the end of a caption is read as written."""
    assert caption_credit(caption) == credit


def test_trailing_spaces_tabs_and_crlf_do_not_matter() -> None:
    """Trailing whitespace on any line gives the same articles."""
    clean = render_dump([HARBOUR, ORCHARD])
    noisy = "\n".join(line + " \t" for line in clean.split("\n"))
    assert parser.articles(noisy) == parser.articles(clean)
