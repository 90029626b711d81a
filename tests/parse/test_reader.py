"""Reading dumps however they arrive: archives, encodings, line ends, chunks, and bad input."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
from pathlib import Path

import pytest

from tests.dumps import ARABIC, BRIDGE, HARBOUR, LIBRARY, ORCHARD, render_dump
from worker.dedupe import article_id
from worker.errors import (
    BinaryFileError,
    CompressionBombError,
    CorruptArchiveError,
    EmptyDumpError,
    LineTooLongError,
    NoArticlesError,
    UndecodableError,
)
from worker.parse import ReadLimits, iter_part, parse_dump, parse_file, prepare_dump
from worker.parse.reader import iter_raw_lines

TEXT = render_dump([HARBOUR, ORCHARD, LIBRARY, BRIDGE])
IDS = [article_id(a) for a in parse_dump(TEXT.encode()).articles]


def _ids(data: bytes, limits: ReadLimits = ReadLimits()) -> list[str]:
    return [article_id(a) for a in parse_dump(data, limits).articles]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class TestArchives:
    @pytest.mark.parametrize(
        "compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gz", "bz2", "xz"]
    )
    def test_compressed_dump_gives_the_same_articles(self, compress) -> None:
        """A .gz, .bz2 or .xz dump is read transparently: same articles, same ids."""
        assert _ids(compress(TEXT.encode())) == IDS

    def test_zip_with_several_members(self, tmp_path: Path) -> None:
        """Every member of a zip is read; each article knows its member; hidden files skipped."""
        first = render_dump([HARBOUR, ORCHARD]).encode()
        second = render_dump([LIBRARY, BRIDGE]).encode("utf-16")
        data = _zip({"a.txt": first, "sub/b.txt": second, "__MACOSX/._a.txt": b"\x00\x05junk"})
        result = parse_dump(data)
        assert [article_id(a) for a in result.articles] == IDS
        assert result.labels == ["a.txt", "a.txt", "sub/b.txt", "sub/b.txt"]
        assert [a.index for a in result.articles] == [0, 1, 2, 3]

    def test_compression_bomb_is_refused(self) -> None:
        """A small archive that expands past the ratio limit is refused while unpacking."""
        bomb = gzip.compress(b"\n" * (40 << 20))
        with pytest.raises(CompressionBombError):
            parse_dump(bomb)

    def test_zip_declaring_too_much_is_refused_before_unpacking(self) -> None:
        """A zip whose members declare more than the size limit is refused at once."""
        data = _zip({"big.txt": b"x" * 5000})
        with pytest.raises(CompressionBombError):
            parse_dump(data, ReadLimits(max_uncompressed_bytes=1000))

    @pytest.mark.parametrize(
        "data",
        [
            gzip.compress(TEXT.encode())[:-30],
            b"BZh91AY&SY" + os.urandom(200),
            _zip({"a.txt": TEXT.encode()})[:-60],
        ],
        ids=["truncated-gz", "garbage-bz2", "truncated-zip"],
    )
    def test_corrupt_archive(self, data: bytes) -> None:
        """A damaged archive is a clear corrupt_archive error."""
        with pytest.raises(CorruptArchiveError):
            parse_dump(data)

    @pytest.mark.parametrize("damage", ["encrypted", "unknown_method"])
    def test_zip_member_zipfile_cannot_open(self, damage: str) -> None:
        """An encrypted member or an unknown compression method (zipfile raises RuntimeError
        and NotImplementedError for them, found by the fuzz test) is a corrupt archive too."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("dump.txt", render_dump([HARBOUR], ["marker"]))
        data = bytearray(buffer.getvalue())
        central = data.find(b"PK\x01\x02")
        if damage == "encrypted":  # general-purpose flag bit 0, in both headers
            data[6] |= 1
            data[central + 8] |= 1
        else:  # compression method 99 (AES), which zipfile does not implement
            data[8] = data[central + 10] = 99
        with pytest.raises(CorruptArchiveError, match="cannot be read"):
            parse_dump(bytes(data))


class TestEncodings:
    @pytest.mark.parametrize("encoding", ["cp1256", "iso-8859-6", "utf-16-le", "utf-16-be"])
    def test_arabic_in_legacy_encodings_gives_the_utf8_ids(self, encoding: str) -> None:
        """Arabic articles in cp1256, ISO-8859-6 or BOM-less UTF-16 give the UTF-8 ids."""
        text = render_dump([ARABIC], ["marker"])
        assert _ids(text.encode(encoding)) == _ids(text.encode("utf-8"))

    def test_mixed_line_ends(self) -> None:
        """Articles with LF, CRLF and CR line ends in one file give the same articles.

        (Within an article one convention: a CR followed by an LF-ended blank line would be a
        CRLF, in any reader.)"""
        parts = [
            (render_dump([story]) + "\n\n\n").replace("\n", end)
            for story, end in zip(
                [HARBOUR, ORCHARD, LIBRARY, BRIDGE], ["\r\n", "\r", "\n", "\r"], strict=True
            )
        ]
        mixed = "".join(parts)
        assert _ids(mixed.encode()) == IDS

    def test_a_cp1252_line_inside_a_utf8_dump(self) -> None:
        """A pasted cp1252 line in a UTF-8 dump is read as cp1252, not dropped."""
        data = TEXT.encode().replace(b"Students had", "Étudiants had".encode("cp1252"))
        articles = parse_dump(data).articles
        assert "Étudiants had collected" in articles[2].body

    def test_undecodable_beyond_the_threshold(self) -> None:
        """Text that is mostly bytes no encoding maps is refused as undecodable."""
        data = TEXT.encode() + b"\n\n\n\n" + bytes(range(0x80, 0x100)) * 400
        with pytest.raises((UndecodableError, BinaryFileError)):
            parse_dump(data)


def _plain_articles(count: int, first: int = 0) -> bytes:
    """``count`` ASCII articles of about 1 kB each, numbered from ``first``."""
    body = "\n\n".join(f"Paragraph {n} says something plain and ordinary." for n in range(20))
    return "".join(
        f"Plain story {n}\n\n{body}\n\n\n\n" for n in range(first, first + count)
    ).encode()


# A paragraph a UTF-8 reader cannot decode: the bytes cp1252 maps to nothing (0x81, 0x8d, ...).
_ODD_LINE = b"Odd " + b"\x81\x8d\x8f\x90\x9d" * 100 + b"\n\n"  # 500 undecodable characters


def _odd_article(number: int, odd_lines: int) -> bytes:
    return f"Odd story {number}\n\nA readable first paragraph.\n\n".encode() + (
        _ODD_LINE * odd_lines + b"\n\n"
    )


class TestUndecodableIsAWholeFileDecision:
    """The 1 % undecodable rule is about the file, decided by the first, planning pass over the
    whole file; a cluster of odd lines in one chunk, or early in the file, does not fail a file
    that is fine as a whole, and a chunk read later never judges again."""

    def test_a_chunk_with_a_cluster_of_odd_lines_is_read(self, tmp_path: Path) -> None:
        """The whole file is under 1 %; the chunk holding the cluster is far over it: the chunk
        is read anyway, with the same articles as the whole-file pass."""
        data = _plain_articles(400) + _odd_article(0, 10) + _plain_articles(400, 400)
        path = tmp_path / "dump.txt"
        path.write_bytes(data)
        (part,) = prepare_dump(path, tmp_path / "scratch")
        located = list(iter_part(part))  # the planning pass: judged, and fine
        odd = next(n for n, (_, a) in enumerate(located) if a.title == "Odd story 0")
        start, first = located[odd - 2]
        end = located[odd + 3][0]
        chunk = list(
            iter_part(part, start=start, end=end, first_line=first.line, first_index=first.index)
        )
        assert [item for _, item in chunk] == [item for _, item in located[odd - 2 : odd + 3]]
        assert "\ufffd" in chunk[2][1].body

    def test_a_cluster_early_in_the_file_does_not_fail_it(self) -> None:
        """Past the encoding-detection prefix, a cluster that is over 1 % of what was read so far
        but under 1 % of the whole file: the file is read, every article found."""
        data = _plain_articles(300) + _odd_article(0, 10) + _plain_articles(1200, 300)
        assert data.index(b"Odd story") > 256 * 1024  # detection saw only clean ASCII
        result = parse_dump(data)
        assert len(result.articles) == 1501

    def test_a_file_over_the_ratio_is_refused_by_the_whole_file_pass(self) -> None:
        """The same cluster in a small file is more than 1 % of it: refused."""
        data = _plain_articles(300) + _odd_article(0, 10) + _plain_articles(10, 300)
        with pytest.raises(UndecodableError):
            parse_dump(data)

    def test_a_big_file_of_garbage_is_refused_early(self, tmp_path: Path) -> None:
        """Once the undecodable characters are more than 1 % of the file's bytes, the file fails
        whatever follows: refused there, without reading to the end."""
        data = _plain_articles(300) + _odd_article(0, 4000)
        path = tmp_path / "dump.txt"
        path.write_bytes(data)
        (part,) = prepare_dump(path, tmp_path / "scratch")
        with pytest.raises(UndecodableError) as caught:
            list(iter_part(part))
        past = int(caught.value.message.rsplit("past byte ", 1)[1].rstrip(")"))
        # 1 % of the file's bytes in undecodable characters: ~50 odd lines past the clean start
        assert past < data.index(b"Odd story") + len(data) // 50


class TestBadInput:
    @pytest.mark.parametrize(
        ("data", "error"),
        [
            (b"", EmptyDumpError),
            (b" \n\t\n\r\n", EmptyDumpError),
            (b"\x89PNG\r\n\x1a\n" + os.urandom(500), BinaryFileError),
            (b"\x7fELF\x02\x01\x01" + os.urandom(500), BinaryFileError),
            (os.urandom(4000), (BinaryFileError, UndecodableError)),
            (b"Only a title\n\n\n\nAnother lonely title\n", NoArticlesError),
        ],
        ids=["empty", "whitespace", "png", "elf", "random", "no-articles"],
    )
    def test_each_bad_input_has_its_error(self, data: bytes, error) -> None:
        """Each kind of bad input raises its documented error, never anything else."""
        with pytest.raises(error):
            parse_dump(data)

    def test_a_line_too_long(self) -> None:
        """A line past the limit is refused without reading it whole."""
        with pytest.raises(LineTooLongError):
            parse_dump(b"x" * 5000, ReadLimits(max_line_bytes=1000))


class TestChunks:
    def test_byte_ranges_starting_on_articles_give_the_whole(self, tmp_path: Path) -> None:
        """Parsing from each article's offset to the next gives the same articles as the whole
        dump, with the same indexes and line numbers: what chunks of a big dump rely on."""
        path = tmp_path / "dump.txt"
        path.write_bytes(TEXT.replace("\n", "\r\n").encode())
        (part,) = prepare_dump(path, tmp_path / "scratch")
        located = list(iter_part(part))
        offsets = [offset for offset, _ in located] + [None]
        for number, (offset, article) in enumerate(located):
            ((_, again),) = list(
                iter_part(
                    part,
                    start=offset,
                    end=offsets[number + 1],
                    first_line=article.line,
                    first_index=article.index,
                )
            )
            assert again == article

    def test_raw_lines_split_crlf_across_read_blocks(self) -> None:
        """A CRLF cut by the read block boundary is one line end, not two."""
        data = b"a" * ((1 << 20) - 1) + b"\r\nb\rc\n"
        lines = [line for _, line in iter_raw_lines(io.BytesIO(data), max_line_bytes=2 << 20)]
        assert lines == [b"a" * ((1 << 20) - 1), b"b", b"c"]

    def test_parse_file_removes_its_scratch_folder(self, tmp_path: Path) -> None:
        """Unpacked copies do not outlive the parse."""
        path = tmp_path / "dump.gz"
        path.write_bytes(gzip.compress(TEXT.encode()))
        parse_file(path, tmp_path / "scratch")
        assert not (tmp_path / "scratch").exists()
