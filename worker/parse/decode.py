"""Bytes to clean text: encoding detected, BOM dropped, mojibake repaired, line ends unified."""

from __future__ import annotations

import codecs

import ftfy
from charset_normalizer import from_bytes

from worker.errors import EmptyDumpError, UndecodableError

_BOMS: tuple[tuple[bytes, str], ...] = (
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
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    matches = list(from_bytes(data))
    if not matches:
        raise UndecodableError("no text encoding fits these bytes")
    # charset-normalizer often scores several code pages the same (cp1250 = cp1252 for most
    # Western text); break ties in favour of the encodings news dumps actually come in.
    best = min(
        matches,
        key=lambda m: (round(m.chaos, 3), -round(m.coherence, 3), _preference(m.encoding)),
    )
    return best.encoding


_PREFERRED_ENCODINGS = ("cp1252", "iso8859_1", "cp1256", "iso8859_6", "iso8859_15")


def _preference(encoding: str) -> int:
    try:
        return _PREFERRED_ENCODINGS.index(encoding)
    except ValueError:
        return len(_PREFERRED_ENCODINGS)


def decode_dump(data: bytes) -> tuple[str, str]:
    """Decode a whole dump.

    Returns:
        The clean text (``\\n`` line ends, NFC, no BOM) and the encoding that was detected.

    Raises:
        EmptyDumpError: the bytes hold nothing but whitespace.
        UndecodableError: no encoding fits.
    """
    if not data:
        raise EmptyDumpError("the file is empty")
    encoding = detect_encoding(data)
    text = clean_text(data.decode(encoding))
    if not text.strip():
        raise EmptyDumpError("the file holds only whitespace")
    return text, encoding


def clean_text(text: str) -> str:
    """Repair mojibake, unify line ends and drop invisible characters."""
    text = text.lstrip("\ufeff")
    text = ftfy.fix_text(text, _FTFY)
    # No-break and zero-width characters are layout, not content: they would split or join words
    # differently from one scrape to the next and change article ids.
    return text.translate(_INVISIBLES)


_INVISIBLES = {
    0x00A0: " ",  # no-break space
    0x202F: " ",  # narrow no-break space
    0x200B: None,  # zero-width space
    0x200C: None,  # zero-width non-joiner
    0x200D: None,  # zero-width joiner
    0x2060: None,  # word joiner
    0xFEFF: None,  # BOM inside the text
}
