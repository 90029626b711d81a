"""Text clean-up: encoding detection, mojibake repair, invisible characters, NFC."""

from __future__ import annotations

import codecs
import re
import unicodedata

import ftfy
from charset_normalizer import from_bytes

from worker.errors import UndecodableError

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# ftfy fixes mojibake, control characters and line breaks; we keep the text's own punctuation
# (curly quotes stay curly) and normalise to NFC so that the same words always compare equal.
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
    explain=False,
)


def detect_encoding(data: bytes) -> str:
    """The encoding of ``data``: BOM first, then strict UTF-8, then charset-normalizer's guess."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return encoding
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    # charset-normalizer's scores are close between code pages on short texts (big5 or cp1257 for
    # French, cp1250 for German). News dumps come in a few code pages: try those first, and among
    # the readings nearly as good as the best, take the one that does not mix scripts in a word
    # (cp1256 and ISO-8859-6 both read Arabic bytes as Arabic, only the right one cleanly).
    matches = list(from_bytes(data, cp_isolation=list(_PREFERRED_ENCODINGS)))
    if matches:
        best = min(
            matches,
            key=lambda m: (
                _mixed_script_words(data, m.encoding),
                round(m.chaos, 2),
                -round(m.coherence, 2),
            ),
        )
        # several code pages can give the very same text: name the usual one
        return next(
            (enc for enc in _PREFERRED_ENCODINGS if enc in best.could_be_from_charset),
            best.encoding,
        )
    matches = list(from_bytes(data))
    if not matches:
        raise UndecodableError("no text encoding fits these bytes")
    return min(matches, key=lambda match: (match.chaos, -match.coherence)).encoding


_MIXED_SCRIPT = re.compile(
    r"\w*(?:[A-Za-z\u00c0-\u024f][\u0600-\u06ff]|[\u0600-\u06ff][A-Za-z\u00c0-\u024f])\w*"
)


def _mixed_script_words(data: bytes, encoding: str) -> int:
    return len(_MIXED_SCRIPT.findall(data.decode(encoding, errors="replace")))


_PREFERRED_ENCODINGS = ("cp1252", "cp1256", "iso8859_6", "latin_1", "iso8859_15")


def clean_text(text: str) -> str:
    """Repair mojibake, unify line ends, drop invisible and control characters, NFC.

    ftfy is thorough but slow (about 7 MB/s); most dumps hold no mojibake at all. It runs only on
    the lines that show its signature, so clean text costs a regex scan, a translate and NFC.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _MAYBE_DIRTY.search(text) is None:  # one cheap scan: the usual case, a clean line
        if text.isascii() or unicodedata.is_normalized("NFC", text):
            return text
        return unicodedata.normalize("NFC", text)
    if _SUSPECT.search(text):
        text = "\n".join(
            ftfy.fix_text(line, _FTFY) if _SUSPECT.search(line) else line
            for line in text.split("\n")
        )
    # No-break and zero-width characters are layout, not content: they would split or join words
    # differently from one scrape to the next and change article ids.
    if _INVISIBLE.search(text):  # translate() costs ~40 ns a character: only when needed
        text = text.translate(_INVISIBLES)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


# UTF-8 read as cp1252/latin-1 shows a lead byte (Â-ô) followed by a continuation byte
# (0x80-0xBF, as latin-1 or as the cp1252 letters in that range), or stray C1 controls.
_CP1252_HIGH = "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d"
_CP1252_HIGH += (
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
)
_SUSPECT = re.compile(
    f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_HIGH}]|[\u0080-\u009f]|&[#a-zA-Z0-9]+;"
)

_INVISIBLES: dict[int, str | None] = {
    0x00A0: " ",  # no-break space
    0x202F: " ",  # narrow no-break space
    0x200B: None,  # zero-width space
    0x200C: None,  # zero-width non-joiner
    0x200D: None,  # zero-width joiner
    0x2060: None,  # word joiner
    0xFEFF: None,  # BOM, at the start or inside the text
    0x2028: "\n",  # line separator
    0x2029: "\n",  # paragraph separator
    # C0 control characters but tab and newline: terminal junk, never content
    **{code: None for code in range(0x20) if code not in (0x09, 0x0A)},
    0x7F: None,
}
_INVISIBLE = re.compile("[" + "".join(re.escape(chr(code)) for code in _INVISIBLES) + "]")
# Every match of _SUSPECT or _INVISIBLE starts with one of these characters. A bare character
# class is searched several times faster than _SUSPECT's alternation (which the regex engine has
# to try at every position), so clean text is told apart in one fast scan.
_MAYBE_DIRTY = re.compile(
    "[\u00c2-\u00f4\u0080-\u009f&" + "".join(re.escape(chr(code)) for code in _INVISIBLES) + "]"
)
