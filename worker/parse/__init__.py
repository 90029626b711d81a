"""Parse stage: dump files to ``ParsedArticle`` records, streamed, in any encoding or archive."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from worker.errors import EmptyDumpError, NoArticlesError
from worker.models import ParsedArticle, Unplaced
from worker.parse.decode import clean_text, detect_encoding
from worker.parse.dump import DumpParser, caption_credit
from worker.parse.reader import DumpPart, LineReader, ReadLimits, prepare_dump, remove_scratch

__all__ = [
    "DumpParser",
    "DumpPart",
    "ParseResult",
    "ReadLimits",
    "caption_credit",
    "clean_text",
    "decode_dump",
    "detect_encoding",
    "iter_part",
    "parse_dump",
    "parse_file",
    "prepare_dump",
    "remove_scratch",
    "require_articles",
]


@dataclass(slots=True)
class ParseResult:
    articles: list[ParsedArticle] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    encoding: str = ""
    labels: list[str] = field(default_factory=list)  # archive member of each article ("" if none)


def iter_part(
    part: DumpPart,
    limits: ReadLimits = ReadLimits(),
    start: int = 0,
    end: int | None = None,
    first_line: int = 1,
    first_index: int = 0,
) -> Iterator[tuple[int, ParsedArticle | Unplaced]]:
    """``(byte offset, item)`` for the articles and unplaced lines of a part, or of a byte range
    of it that starts on an article (a chunk), streamed.

    Raises (while iterating):
        LineTooLongError, ArticleTooLongError: a line or an article over the limits.
        UndecodableError: only when reading the whole part (``start == 0``, ``end is None``):
            the planning pass decides for the file, a chunk read later never judges again.
    """
    reader = LineReader(part, limits)
    parser = DumpParser(limits.max_article_chars)
    yield from parser.iter_located(reader.lines(start, end), first_line, first_index)


def parse_file(path: Path, scratch: Path, limits: ReadLimits = ReadLimits()) -> ParseResult:
    """Parse a whole dump (every member of an archive), holding its articles in memory.

    Raises:
        DumpError: (a subclass) when the file is empty, binary, undecodable, a bad archive, or
        holds no article.
    """
    result = ParseResult()
    try:
        parts = prepare_dump(path, scratch, limits)
        result.encoding = ",".join(dict.fromkeys(part.detected for part in parts))
        for part in parts:
            for _, item in iter_part(part, limits, first_index=len(result.articles)):
                if isinstance(item, ParsedArticle):
                    result.articles.append(item)
                    result.labels.append(part.label)
                else:
                    result.unplaced.append(item)
    finally:
        remove_scratch(scratch)
    require_articles(len(result.articles), result.unplaced)
    return result


def require_articles(found: int, unplaced: Sequence[Unplaced]) -> None:
    """A dump must hold at least one article.

    Raises:
        EmptyDumpError: nothing at all was read (only whitespace).
        NoArticlesError: text, but no title followed by body paragraphs.
    """
    if found:
        return
    if not unplaced:
        raise EmptyDumpError("the file holds only whitespace")
    raise NoArticlesError(
        "no article (a title followed by body paragraphs) found", line=unplaced[0].line
    )


def parse_dump(data: bytes, limits: ReadLimits = ReadLimits()) -> ParseResult:
    """``parse_file`` for bytes in memory."""
    with tempfile.TemporaryDirectory(prefix="newsingest-") as folder:
        path = Path(folder) / "dump"
        path.write_bytes(data)
        return parse_file(path, Path(folder) / "scratch", limits)


def decode_dump(data: bytes, limits: ReadLimits = ReadLimits()) -> tuple[str, str]:
    """The clean text of a dump (``\\n`` line ends, NFC, no BOM) and its detected encoding.

    Raises:
        EmptyDumpError: the bytes hold nothing but whitespace.
        UndecodableError: no encoding fits.
    """
    with tempfile.TemporaryDirectory(prefix="newsingest-") as folder:
        path = Path(folder) / "dump"
        path.write_bytes(data)
        parts = prepare_dump(path, Path(folder) / "scratch", limits)
        text = "\n".join(line for part in parts for _, line in LineReader(part, limits).lines())
    if not text.strip():
        raise EmptyDumpError("the file holds only whitespace")
    if data.rstrip(b"\x00").endswith((b"\n", b"\r")):  # the line reader drops the last newline
        text += "\n"
    return text, ",".join(dict.fromkeys(part.detected for part in parts))
