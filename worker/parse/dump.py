"""The dump format: text lines to articles, with the scraper's artefacts removed.

An article as scraped (see DESIGN.md)::

    Title
    <blank>
    Caption (AP)          <- caption, often repeated by the scraper
    Caption (AP)
    TT                    <- site marker, sometimes followed by a "20" line
    <blank>
    Title                 <- title repeated
    <blank>
    Caption (AP)          <- caption repeated
    Caption (AP)
    <blank>
    Body paragraph ...

Articles are separated by three or more blank lines, paragraphs by one. Every part of the header
but the first title is optional. The parser works line by line and holds one article at a time;
an article longer than ``max_article_chars`` (a dump without separators reads as one article as
long as the file) is refused before it grows further, so memory stays bounded.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from worker.errors import ArticleTooLongError
from worker.models import ParsedArticle, Unplaced

ARTICLE_SEPARATOR_BLANK_LINES = 3
# The longest article in the sample dumps is 31 k characters (113 paragraphs); the longest news
# features run to ~100 k. An "article" of a million characters is a dump whose separators are
# missing (or not a dump at all), and holding it whole would make memory grow with the file.
MAX_ARTICLE_CHARS = 1 << 20
MARKERS = frozenset({"TT"})
_MARKER_TAIL = re.compile(r"^\d{1,4}$")  # the "20" line some pages carry after the marker
_CREDIT = re.compile(r"\(\s*([^()]{1,60}?)\s*\)\s*$")
# How far into an article a repeated title is looked for: the header is never longer.
_HEADER_LOOKAHEAD_BLOCKS = 4
_MAX_TITLE_CHARS = 300


@dataclass(frozen=True, slots=True)
class _Block:
    line: int  # line number of the block's first line, from 1
    lines: tuple[str, ...]
    offset: int = 0  # byte offset of the block's first line in its file
    chars: int = 0  # characters of its lines, a newline each


def caption_credit(caption: str) -> str | None:
    """The credit at the end of a caption, as written: ``"... Syria. (AP)"`` gives ``"AP"``."""
    match = _CREDIT.search(caption)
    return match.group(1) if match else None


class DumpParser:
    """Turns the lines of a dump into ``ParsedArticle`` and ``Unplaced`` items, in order.

    Raises (while iterating):
        ArticleTooLongError: an article runs past ``max_article_chars`` characters.
    """

    def __init__(self, max_article_chars: int = MAX_ARTICLE_CHARS) -> None:
        self.max_article_chars = max_article_chars

    def parse(self, text: str) -> list[ParsedArticle | Unplaced]:
        return list(self.iter_items(text.split("\n")))

    def iter_items(self, lines: Iterable[str]) -> Iterator[ParsedArticle | Unplaced]:
        for _, item in self.iter_located((0, line) for line in lines):
            yield item

    def iter_located(
        self, lines: Iterable[tuple[int, str]], first_line: int = 1, first_index: int = 0
    ) -> Iterator[tuple[int, ParsedArticle | Unplaced]]:
        """Items with the byte offset where each starts, from ``(offset, line)`` pairs.

        ``first_line`` and ``first_index`` place a chunk of a dump within the whole dump.
        """
        index = first_index
        for blocks in _split_articles(lines, first_line, self.max_article_chars):
            item = _article_from_blocks(blocks, index)
            if isinstance(item, ParsedArticle):
                index += 1
                yield blocks[0].offset, item
            else:
                for unplaced in item:
                    yield blocks[0].offset, unplaced

    def articles(self, text: str) -> list[ParsedArticle]:
        return [item for item in self.parse(text) if isinstance(item, ParsedArticle)]


def _iter_blocks(
    lines: Iterable[tuple[int, str]], first_line: int, max_chars: int
) -> Iterator[tuple[int, _Block]]:
    """Blocks of non-blank lines, each with the number of blank lines before it."""
    current: list[str] = []
    start = start_offset = chars = 0
    gap = 0
    for number, (offset, raw) in enumerate(lines, start=first_line):
        line = raw.rstrip()
        if not line or line.isspace():
            if current:
                yield gap, _Block(start, tuple(current), start_offset, chars)
                current = []
                gap = 0
            gap += 1
            continue
        if not current:
            start, start_offset, chars = number, offset, 0
        chars += len(line) + 1
        if chars > max_chars:  # a block is part of an article: no need to hold more of it
            raise _too_long(start, max_chars)
        current.append(line.lstrip() if line[0] in " \t" else line)
    if current:
        yield gap, _Block(start, tuple(current), start_offset, chars)


def _too_long(line: int, max_chars: int) -> ArticleTooLongError:
    return ArticleTooLongError(
        f"the article starting at line {line} runs past {max_chars} characters: are the "
        f"{ARTICLE_SEPARATOR_BLANK_LINES} blank lines between articles missing?",
        line=line,
    )


def _split_articles(
    lines: Iterable[tuple[int, str]], first_line: int, max_chars: int = MAX_ARTICLE_CHARS
) -> Iterator[list[_Block]]:
    """Group blocks into articles.

    Three or more blank lines separate articles, unless what follows can only continue a header
    still waiting for its body (extra blank lines inside a header). Two blank lines separate
    articles when what follows starts with a header (title, then a marker or the title again).

    Raises:
        ArticleTooLongError: an article (or one block of it) runs past ``max_chars`` characters.
    """
    window: deque[tuple[int, _Block]] = deque()
    blocks = _iter_blocks(lines, first_line, max_chars)
    article: list[_Block] = []
    chars = 0
    while True:
        while len(window) < _HEADER_LOOKAHEAD_BLOCKS + 1:
            item = next(blocks, None)
            if item is None:
                break
            window.append(item)
        if not window:
            break
        gap, block = window.popleft()
        if article and _starts_article(gap, block, article, [b for _, b in window]):
            yield article
            article = []
            chars = 0
        article.append(block)
        chars += block.chars
        if chars > max_chars:
            raise _too_long(article[0].line, max_chars)
    if article:
        yield article


def _starts_article(gap: int, block: _Block, article: list[_Block], upcoming: list[_Block]) -> bool:
    if gap >= ARTICLE_SEPARATOR_BLANK_LINES:
        return not (_header_end(article)[1] == len(article) and _continues_header(block, article))
    if gap == 2 and _header_end(article)[1] < len(article):
        return _opens_header(block, upcoming)
    return False


def _continues_header(block: _Block, article: list[_Block]) -> bool:
    """A marker block, the title again, or the caption again: only a header looks like this."""
    title = article[0].lines[0]
    if _has_marker(block) or _is_title_block(block, title):
        return True
    captions, _ = _header_end(article)
    return len(article) > 1 and _is_repeat_of(block, captions)


def _opens_header(block: _Block, upcoming: list[_Block]) -> bool:
    """A one-line title followed by a marker or by itself (after at most a caption block)."""
    if len(block.lines) != 1 or len(block.lines[0]) > _MAX_TITLE_CHARS or not upcoming:
        return False
    title = block.lines[0]
    if _has_marker(upcoming[0]) or _is_title_block(upcoming[0], title):
        return True
    return len(upcoming) > 1 and _is_title_block(upcoming[1], title)


def _has_marker(block: _Block) -> bool:
    return any(line.strip() in MARKERS for line in block.lines)


def _is_repeat_of(block: _Block, captions: list[str]) -> bool:
    distinct = {" ".join(line.split()) for line in block.lines}
    known = {" ".join(c.split()) for c in captions}
    return len(distinct) == 1 and (distinct <= known or len(block.lines) > 1)


def _key(text: str) -> str:
    """What two texts must share to be "the same": spacing and case do not count."""
    return " ".join(text.split()).casefold()


def _is_title_block(block: _Block, title: str) -> bool:
    title_key = None
    for line in block.lines:
        if line == title:
            continue
        if title_key is None:
            title_key = _key(title)
        if _key(line) != title_key:
            return False
    return True


def _header_end(blocks: list[_Block]) -> tuple[list[str], int]:
    """The caption lines of an article's header, and the index of its first body block."""
    first = blocks[0]
    title = first.lines[0]
    captions: list[str] = [line.strip() for line in first.lines[1:]]
    position = 1

    # A repeated title close to the start closes the header: what lies before it is header too.
    repeat = next(
        (
            i
            for i in range(1, min(len(blocks), 1 + _HEADER_LOOKAHEAD_BLOCKS))
            if _is_title_block(blocks[i], title)
        ),
        None,
    )
    if repeat is not None:
        for block in blocks[1:repeat]:
            captions.extend(_header_lines(block))
        position = repeat + 1
    else:
        # without a repeated title, marker blocks (and any blank lines between them) are header
        while position < len(blocks) and _has_marker(blocks[position]):
            captions.extend(_header_lines(blocks[position]))
            position += 1

    # After the header: the caption again (one block of identical lines), or a caption block
    # that is recognisable on its own because the scraper repeated its line.
    while position < len(blocks) and _is_repeat_of(blocks[position], captions):
        captions.extend(line.strip() for line in blocks[position].lines)
        position += 1
    return captions, position


def _article_from_blocks(blocks: list[_Block], index: int) -> ParsedArticle | list[Unplaced]:
    first = blocks[0]
    title = first.lines[0].strip()
    captions, position = _header_end(blocks)
    caption = captions[0] if captions else None
    paragraphs = _body(blocks[position:], title, caption)
    if not paragraphs:
        return [Unplaced(b.line + i, text) for b in blocks for i, text in enumerate(b.lines)]
    return ParsedArticle(
        title=title,
        paragraphs=tuple(paragraphs),
        image_caption=caption,
        image_credit=caption_credit(caption) if caption else None,
        index=index,
        line=first.line,
    )


def _header_lines(block: _Block) -> list[str]:
    """Caption lines of a header block: markers and the marker's number line removed."""
    kept: list[str] = []
    after_marker = False
    for raw in block.lines:
        line = raw.strip()
        if line in MARKERS:
            after_marker = True
            continue
        if after_marker and _MARKER_TAIL.match(line):
            continue
        kept.append(line)
    return kept


def _body(blocks: list[_Block], title: str, caption: str | None) -> list[str]:
    """Body paragraphs, without markers, repeats of the header, or a paragraph said twice."""
    paragraphs: list[str] = []
    # each text is normalised once, not once per comparison
    skip = {_key(title)} if caption is None else {_key(title), _key(caption)}
    previous = None
    for block in blocks:
        lines = [stripped for line in block.lines if (stripped := line.strip()) not in MARKERS]
        if not lines:
            continue
        text = lines[0] if len(lines) == 1 else "\n".join(lines)
        key = _key(text)
        if key in skip or key == previous:
            continue
        paragraphs.append(text)
        previous = key
    return paragraphs
