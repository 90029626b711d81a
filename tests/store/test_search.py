"""Full-text search's query translation (worker/store/search.py), pure logic."""

from __future__ import annotations

import pytest

from worker.store.search import fts5_query


@pytest.mark.parametrize(
    ("typed", "fts5"),
    [
        ("harbour", '"harbour"'),
        ("harbour ferry", '"harbour" "ferry"'),
        ('"night crossings" ferry', '"night crossings" "ferry"'),
        ("ferry OR boat OR ship", '("ferry" OR "boat" OR "ship")'),
        ("ferry -strike", '"ferry" NOT "strike"'),
        ('ferry -"on strike"', '"ferry" NOT "on strike"'),
        ("50% rise", '"50%" "rise"'),  # quoted: FTS5 tokenizes it, never parses it
        ('say "hi', '"say" """hi"'),  # an unclosed quote: a word, its quote doubled
        ("OR ferry", '"OR" "ferry"'),  # OR with nothing before it is a word
        ("ferry ( ) *", '"ferry"'),  # punctuation alone: nothing to match
    ],
)
def test_web_search_syntax_becomes_fts5(typed: str, fts5: str) -> None:
    assert fts5_query(typed) == fts5


@pytest.mark.parametrize("typed", ["-ferry", '-"a b"', "( )", '"'])
def test_a_search_with_nothing_to_find_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="nothing to search"):
        fts5_query(typed)
