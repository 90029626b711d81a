"""Reading a dump as it arrives: compressed or not, in any encoding, without loading it whole.

``prepare_dump`` turns a file into one or more *parts* that the line reader can stream with exact
byte offsets: the file itself when it is text in an ASCII-compatible encoding, or a UTF-8 copy in a
scratch folder when it is compressed (each archive member a part) or UTF-16. ``iter_lines`` then
yields ``(byte offset, clean line)`` for any byte range of a part, so that a chunk of a big dump can
be read on its own by any worker.

Whether a part has too many undecodable characters is a property of the whole part: it is decided
by a read of the whole part (the first, planning pass) and never by a read of a byte range (a
chunk), so a cluster of odd lines in one chunk cannot fail a file that is fine as a whole.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from worker.errors import (
    BinaryFileError,
    CompressionBombError,
    CorruptArchiveError,
    EmptyDumpError,
    LineTooLongError,
    UndecodableError,
)
from worker.parse.decode import BOMS, clean_text, detect_encoding
from worker.parse.dump import MAX_ARTICLE_CHARS

_PREFIX_BYTES = 256 * 1024
_READ_BYTES = 1 << 20

_COMPRESSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
)
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java binary"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"7z\xbc\xaf", "a 7-Zip archive (not supported: use zip, gz, bz2 or xz)"),
    (b"Rar!", "a RAR archive (not supported: use zip, gz, bz2 or xz)"),
)
# ASCII-compatible encodings can be split on newline bytes; others are transcoded first.
_NOT_LINE_SAFE = ("utf-16", "utf_16", "utf-32", "utf_32")
_NEWLINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Bounds that keep one hostile file from exhausting a worker."""

    max_uncompressed_bytes: int = 4 << 30
    max_compression_ratio: float = 200.0
    max_line_bytes: int = 1 << 20
    # of the characters of a whole part (the file, or an archive member), never of a chunk
    max_undecodable_ratio: float = 0.01
    # one article, header included (a newline counted per line): see dump.MAX_ARTICLE_CHARS
    max_article_chars: int = MAX_ARTICLE_CHARS


@dataclass(frozen=True, slots=True)
class DumpPart:
    """One stream of text lines: the dump itself, or one member of an archive."""

    label: str  # "" for the dump itself, the member name for an archive member
    path: Path
    encoding: str  # how to read ``path``
    size: int
    detected: str = ""  # the encoding the bytes arrived in (UTF-16 is read from a UTF-8 copy)


def prepare_dump(path: Path, scratch: Path, limits: ReadLimits = ReadLimits()) -> list[DumpPart]:
    """The parts of the dump at ``path``; copies, if any, go to ``scratch``.

    Raises:
        EmptyDumpError, BinaryFileError, CompressionBombError, CorruptArchiveError,
        UndecodableError: the file cannot be a dump.
    """
    with path.open("rb") as handle:
        prefix = handle.read(_PREFIX_BYTES)
    if not prefix:
        raise EmptyDumpError("the file is empty")
    kind = next((name for magic, name in _COMPRESSED_MAGIC if prefix.startswith(magic)), None)
    if kind is None:
        return [_text_part("", path, prefix, scratch, 0)]
    scratch.mkdir(parents=True, exist_ok=True)
    compressed_size = path.stat().st_size
    if kind == "zip":
        return _zip_parts(path, scratch, compressed_size, limits)
    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    target = scratch / "part-0.raw"
    try:
        with opener(path, "rb") as source:
            _bounded_copy(source, target, compressed_size, limits, what=path.name)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise CorruptArchiveError(f"the {kind} stream is corrupt: {exc}") from exc
    return [_text_part("", target, _head(target), scratch, 0)]


def _zip_parts(
    path: Path, scratch: Path, compressed_size: int, limits: ReadLimits
) -> list[DumpPart]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir()
                and not Path(m.filename).name.startswith((".", "__MACOSX"))
                and "__MACOSX/" not in m.filename
            ]
            declared = sum(m.file_size for m in members)
            if declared > limits.max_uncompressed_bytes:
                raise CompressionBombError(
                    f"the archive declares {declared} bytes uncompressed, above the limit of "
                    f"{limits.max_uncompressed_bytes}"
                )
            parts = []
            written = 0
            for number, member in enumerate(members):
                target = scratch / f"part-{number}.raw"
                with archive.open(member) as source:
                    written += _bounded_copy(
                        source,
                        target,
                        compressed_size,
                        limits,
                        what=member.filename,
                        already=written,
                    )
                parts.append(_text_part(member.filename, target, _head(target), scratch, number))
    except zipfile.BadZipFile as exc:
        raise CorruptArchiveError(f"the zip archive is corrupt: {exc}") from exc
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise CorruptArchiveError(f"a zip member cannot be read: {exc}") from exc
    except (NotImplementedError, RuntimeError) as exc:
        # zipfile's words for a compression method it lacks and for an encrypted member
        raise CorruptArchiveError(f"a zip member cannot be read: {exc}") from exc
    if not parts:
        raise EmptyDumpError("the archive holds no file")
    return parts


def _bounded_copy(
    source: BinaryIO,
    target: Path,
    compressed_size: int,
    limits: ReadLimits,
    what: str,
    already: int = 0,
) -> int:
    """Decompress into ``target``, refusing to go past the size and ratio limits."""
    written = 0
    with target.open("wb") as out:
        while block := source.read(_READ_BYTES):
            written += len(block)
            total = already + written
            ratio = total / max(compressed_size, 1)
            if total > limits.max_uncompressed_bytes or (
                total > 10 * _READ_BYTES and ratio > limits.max_compression_ratio
            ):
                out.close()
                target.unlink(missing_ok=True)
                raise CompressionBombError(
                    f"{what} expands past {total} bytes (ratio {ratio:.0f}); limits: "
                    f"{limits.max_uncompressed_bytes} bytes, "
                    f"ratio {limits.max_compression_ratio:.0f}"
                )
            out.write(block)
    return written


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_PREFIX_BYTES)


def _text_part(label: str, path: Path, prefix: bytes, scratch: Path, number: int) -> DumpPart:
    """A part ready for the line reader: the file itself, or a UTF-8 copy of UTF-16 text."""
    if not prefix:
        raise EmptyDumpError(f"{label or 'the file'} is empty")
    for magic, what in _BINARY_MAGIC:
        if prefix.startswith(magic):
            raise BinaryFileError(f"{label or 'the file'} is {what}, not a text dump")
    encoding = _bom_encoding(prefix) or _utf16_without_bom(prefix) or _detect(prefix)
    if not encoding.replace("-", "_").startswith(_NOT_LINE_SAFE):
        if prefix.count(0) > len(prefix) // 100:
            raise BinaryFileError(f"{label or 'the file'} holds NUL bytes: binary, not text")
        return DumpPart(label, path, encoding, path.stat().st_size, encoding)
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"part-{number}.utf8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        while block := source.read(_READ_BYTES):
            out.write(decoder.decode(block))
        out.write(decoder.decode(b"", final=True))
    return DumpPart(label, target, "utf-8", target.stat().st_size, encoding)


def _bom_encoding(prefix: bytes) -> str | None:
    return next((encoding for bom, encoding in BOMS if prefix.startswith(bom)), None)


def _utf16_without_bom(prefix: bytes) -> str | None:
    """UTF-16 text without a BOM has a NUL in every other byte of its ASCII characters."""
    sample = prefix[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    # ASCII (spaces, newlines, digits) is a tenth of even Arabic or CJK text
    if odd > 0.1 * half and even < 0.01 * half:
        return "utf-16-le"
    if even > 0.1 * half and odd < 0.01 * half:
        return "utf-16-be"
    return None


def _detect(prefix: bytes) -> str:
    # a prefix may end inside a multi-byte character: the incremental decoder keeps that tail
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(prefix, final=False)
    invalid = text.count("\ufffd")
    if not invalid:
        return "utf-8"
    # Mostly UTF-8 with a few stray lines in a legacy code page (pasted text) is still UTF-8:
    # the line reader decodes those lines on their own.
    valid_non_ascii = sum(1 for char in text if char > "\x7f") - invalid
    if valid_non_ascii > invalid and invalid < 0.005 * len(text):
        return "utf-8"
    return detect_encoding(prefix)


def iter_raw_lines(
    stream: BinaryIO, start: int = 0, end: int | None = None, max_line_bytes: int = 1 << 20
) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of each line in ``[start, end)``, split on CRLF, CR or LF."""
    stream.seek(start)
    position = start
    tail = b""
    while True:
        want = _READ_BYTES if end is None else min(_READ_BYTES, end - position)
        block = stream.read(want) if want > 0 else b""
        position += len(block)
        buffer = tail + block
        last = 0
        final = not block
        if b"\r" not in buffer:  # LF only, the usual case: bytes.split beats a regex per line
            pieces = buffer.split(b"\n")
            tail = pieces.pop()  # after the last LF: the start of a line the next block ends
            line_offset = position - len(buffer)
            for piece in pieces:
                yield line_offset, piece
                line_offset += len(piece) + 1
            last = len(buffer) - len(tail)
        else:
            for match in _NEWLINE.finditer(buffer):
                if match.end() == len(buffer) and buffer.endswith(b"\r") and not final:
                    break  # a CR at the end of a block may be the first half of a CRLF
                yield position - len(buffer) + last, buffer[last : match.start()]
                last = match.end()
            tail = buffer[last:]
        if len(tail) > max_line_bytes:
            line_offset = position - len(buffer) + last
            raise LineTooLongError(
                f"a line longer than {max_line_bytes} bytes starts at byte {line_offset}",
            )
        if final:
            if tail:
                yield position - len(tail), tail
            return


class LineReader:
    """Decoded, cleaned lines of one part, with the byte offset of each line.

    A read of the whole part (``lines()`` with no range) checks the share of undecodable
    characters against ``max_undecodable_ratio``; a read of a byte range (a chunk) does not: the
    whole-part read that planned the chunks decided for the file, and one chunk's share says
    nothing about the file's.
    """

    def __init__(self, part: DumpPart, limits: ReadLimits = ReadLimits()) -> None:
        self.part = part
        self.limits = limits
        self.replaced = 0
        self.chars = 0
        self._utf8 = part.encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8")
        # replaced characters past which the whole part fails whatever the rest holds
        self._certain_failure = float("inf")

    def lines(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
        """``(byte offset, clean line)`` for the lines in ``[start, end)``.

        Raises:
            LineTooLongError: a line is longer than ``max_line_bytes``.
            UndecodableError: (whole-part reads only) too many characters fit no encoding.
        """
        whole = start == 0 and end is None
        with self.part.path.open("rb") as stream:
            if whole:
                # A part never has more characters than bytes (no encoding read here spends
                # less than a byte on a character, and a bad byte becomes at most one U+FFFD):
                # past this count the ratio over the whole part is over the limit for sure, so a
                # big file of garbage is refused early without judging a prefix.
                size = os.fstat(stream.fileno()).st_size
                self._certain_failure = self.limits.max_undecodable_ratio * max(size, 1)
            for offset, raw in iter_raw_lines(stream, start, end, self.limits.max_line_bytes):
                if offset == 0 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                yield offset, self._decode(raw, offset)
        if whole:
            self._check_undecodable()

    def _decode(self, raw: bytes, offset: int) -> str:
        if raw.isascii():
            text = raw.decode("ascii")
        elif self._utf8:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                # a line in another encoding inside a UTF-8 dump (pasted text): cp1252 is the
                # usual culprit; what it cannot map is counted as undecodable
                text = raw.decode("cp1252", errors="replace")
                self.replaced += text.count("\ufffd")
        else:
            text = raw.decode(self.part.encoding, errors="replace")
            self.replaced += text.count("\ufffd")
        self.chars += len(text)
        if self.replaced > self._certain_failure:
            self._check_undecodable(offset)
        return clean_text(text)

    def _check_undecodable(self, offset: int | None = None) -> None:
        if self.replaced > self.limits.max_undecodable_ratio * max(self.chars, 1):
            where = f" (past byte {offset})" if offset is not None else ""
            raise UndecodableError(
                f"{self.replaced} of {self.chars} characters cannot be decoded as "
                f"{self.part.encoding}{where}"
            )


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
