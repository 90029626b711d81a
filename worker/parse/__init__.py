"""Parse stage: dump bytes to ``ParsedArticle`` records. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from worker.errors import NoArticlesError
from worker.models import ParsedArticle, Unplaced
from worker.parse.decode import clean_text, decode_dump, detect_encoding
from worker.parse.dump import DumpParser, caption_credit

__all__ = [
    "DumpParser",
    "ParseResult",
    "caption_credit",
    "clean_text",
    "decode_dump",
    "detect_encoding",
    "parse_dump",
]


@dataclass(frozen=True, slots=True)
class ParseResult:
    articles: list[ParsedArticle]
    unplaced: list[Unplaced]
    encoding: str


def parse_dump(data: bytes) -> ParseResult:
    """Decode and parse a whole dump.

    Raises:
        DumpError: (a subclass) when the bytes are empty, undecodable, or hold no article.
    """
    text, encoding = decode_dump(data)
    articles: list[ParsedArticle] = []
    unplaced: list[Unplaced] = []
    for item in DumpParser().iter_items(text.split("\n")):
        (articles if isinstance(item, ParsedArticle) else unplaced).append(item)
    if not articles:
        where = unplaced[0].line if unplaced else None
        raise NoArticlesError("no article (a title followed by body paragraphs) found", line=where)
    return ParseResult(articles, unplaced, encoding)
