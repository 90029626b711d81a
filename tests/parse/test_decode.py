"""Tests for worker/parse/decode.py: bytes to clean text, whatever the encoding and line ends."""

from __future__ import annotations

import codecs

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-1252 codec)
import pytest

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD, Story, render_dump
from worker.dedupe import article_id
from worker.errors import EmptyDumpError
from worker.parse import clean_text, decode_dump, detect_encoding, parse_dump

TEXT = render_dump([HARBOUR, ORCHARD, LIBRARY, BRIDGE], ["full", "marker_20", "bare", "marker"])

# Our own story with letters where cp1252 and its neighbours (cp1250...) disagree: ñ ã à ø.
PLAZA = Story(
    title="Señor Muñoz Opens the New Plaza Café",
    caption="The plaza café of Señor Muñoz on its opening morning.",
    credit="AFP",
    paragraphs=(
        "Mayor Inês Conceição and café owner Jorge Muñoz cut the ribbon on Saturday, à la "
        "française, before a crowd from São Bento.",
        "The fjord ferry crew from Øster came too, Muñoz said.",
    ),
)
ACCENTED = render_dump([PLAZA, HARBOUR])


def _ids(data: bytes) -> list[str]:
    return [article_id(a) for a in parse_dump(data).articles]


class TestDecodeDump:
    def test_utf8(self):
        """Plain UTF-8 decodes to the same text and says utf-8."""
        assert decode_dump(TEXT.encode("utf-8")) == (TEXT, "utf-8")

    def test_utf8_with_bom(self):
        """The UTF-8 BOM is detected and dropped."""
        text, encoding = decode_dump(codecs.BOM_UTF8 + TEXT.encode("utf-8"))
        assert encoding == "utf-8-sig"
        assert text == TEXT
        assert not text.startswith("\ufeff")

    @pytest.mark.parametrize(
        "data",
        [
            codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
            codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        ],
        ids=["utf-16-le", "utf-16-be"],
    )
    def test_utf16_with_bom(self, data: bytes):
        """UTF-16 in either byte order, with its BOM, decodes to the same text."""
        text, encoding = decode_dump(data)
        assert encoding == "utf-16"
        assert text == TEXT

    def test_cp1252_curly_quotes(self):
        """cp1252 bytes (curly quotes 0x93/0x94) decode to the same text."""
        text, _ = decode_dump(TEXT.encode("cp1252"))
        assert text == TEXT
        assert "\u201cThis is the timetable" in text

    def test_cp1252_accented_letters(self):
        """cp1252 text with ñ, ã, à, ø decodes to those letters, not cp1250's ń, ă, ŕ, ř."""
        text, _ = decode_dump(ACCENTED.encode("cp1252"))
        assert text == ACCENTED

    @pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
    def test_line_ends_become_newlines(self, newline: str):
        """CRLF and bare CR line ends become ``\\n``."""
        text, _ = decode_dump(TEXT.replace("\n", newline).encode("utf-8"))
        assert "\r" not in text
        assert text == TEXT

    def test_mojibake_repaired(self):
        """UTF-8 read as cp1252 and saved again (``Turkeyâ€™s``) is repaired."""
        text, _ = decode_dump("Turkeyâ€™s economy grew.\n".encode())
        assert text == "Turkey\u2019s economy grew.\n"

    def test_curly_quotes_kept(self):
        """Correct curly quotes are not straightened."""
        text, _ = decode_dump("\u201cYes,\u201d she said. It\u2019s done.\n".encode())
        assert text == "\u201cYes,\u201d she said. It\u2019s done.\n"

    @pytest.mark.parametrize(
        "data",
        [b"", b"   ", b"\n\n\r\n\t  \n"],
        ids=["empty", "spaces", "blank-lines"],
    )
    def test_empty_or_whitespace_raises(self, data: bytes):
        """Empty or whitespace-only bytes raise EmptyDumpError (code empty_file)."""
        with pytest.raises(EmptyDumpError) as info:
            decode_dump(data)
        assert info.value.report()["code"] == "empty_file"

    @pytest.mark.parametrize(
        "data",
        [
            codecs.BOM_UTF8,
            codecs.BOM_UTF8 + b" \n\n",
            " \r\n\r\n".encode("utf-16"),
            "\u00a0\n".encode(),
        ],
        ids=["utf8-bom-only", "utf8-bom-blank", "utf16-blank", "nbsp-only"],
    )
    def test_empty_after_decoding_raises(self, data: bytes):
        """Bytes whose text is only whitespace (after BOM/encoding) raise EmptyDumpError."""
        with pytest.raises(EmptyDumpError):
            decode_dump(data)

    def test_blank_utf16_fails_as_empty_in_parse_dump(self):
        """parse_dump reports a blank UTF-16 file as empty, not as a dump without articles."""
        with pytest.raises(EmptyDumpError):
            parse_dump(" \r\n".encode("utf-16"))


class TestCleanText:
    def test_no_break_spaces_become_spaces(self):
        """NBSP and narrow NBSP become plain spaces."""
        assert clean_text("Harbour\u00a0Town\u202fCouncil") == "Harbour Town Council"

    def test_zero_width_characters_removed(self):
        """Zero-width space/joiners, word joiner and an inner BOM are removed."""
        assert clean_text("Har\u200bbour\u200c \u200dTo\u2060wn\ufeff") == "Harbour Town"

    def test_leading_bom_removed(self):
        """A BOM left at the start of decoded text is dropped."""
        assert clean_text("\ufeffTitle") == "Title"

    def test_nfc_normalisation(self):
        """Decomposed letters are composed (NFC), so the same word always compares equal."""
        assert clean_text("Cafe\u0301") == "Caf\u00e9"


class TestDetectEncoding:
    def test_bom_wins(self):
        """A BOM decides the encoding before any guessing."""
        assert detect_encoding(codecs.BOM_UTF16_BE + "x".encode("utf-16-be")) == "utf-16"
        assert detect_encoding(codecs.BOM_UTF8 + b"x") == "utf-8-sig"

    def test_strict_utf8_before_guessing(self):
        """Valid UTF-8 is UTF-8, even when it would also be valid in another charset."""
        assert detect_encoding("Caf\u00e9 \u2019".encode()) == "utf-8"


class TestSameIdsAcrossEncodings:
    @pytest.mark.parametrize(
        "encode",
        [
            lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
            lambda t: t.encode("utf-16"),
            lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
            lambda t: t.encode("cp1252"),
            lambda t: t.replace("\n", "\r\n").encode("utf-8"),
            lambda t: t.replace("\n", "\r").encode("utf-8"),
            lambda t: t.replace("\n", "\r\n").encode("cp1252"),
            lambda t: t.replace(" ", "\u00a0", 3).encode("utf-8"),
        ],
        ids=["utf8-bom", "utf16-le", "utf16-be", "cp1252", "crlf", "cr", "cp1252-crlf", "nbsp"],
    )
    def test_same_articles_same_ids(self, encode):
        """The same articles stored in another encoding or with other line ends keep their ids."""
        expected = _ids(TEXT.encode("utf-8"))
        assert len(expected) == 4
        assert _ids(encode(TEXT)) == expected

    def test_mojibake_copy_has_same_ids(self):
        """A copy whose curly quotes were mangled into mojibake gets the original ids back."""
        # what a Windows tool does: UTF-8 bytes read as cp1252 (undefined bytes kept as latin-1)
        mangled = TEXT.encode("utf-8").decode("sloppy-windows-1252").encode("utf-8")
        assert "\u00e2\u20ac\u0153This" in mangled.decode("utf-8")
        assert _ids(mangled) == _ids(TEXT.encode("utf-8"))

    def test_accented_cp1252_same_ids(self):
        """Accented cp1252 text gives the same ids as the same text in UTF-8."""
        assert _ids(ACCENTED.encode("cp1252")) == _ids(ACCENTED.encode("utf-8"))

    def test_accented_utf16_same_ids(self):
        """Accented text in UTF-16 gives the same ids as in UTF-8 (control for the cp1252 case)."""
        assert _ids(ACCENTED.encode("utf-16")) == _ids(ACCENTED.encode("utf-8"))
