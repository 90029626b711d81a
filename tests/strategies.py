"""Hypothesis strategies for dump files: random stories that the dump format can represent.

Every constraint below says why it is there: each one is a case the format itself cannot express
(the parser would be right to read it differently), not a weakness of the parser we hide.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import re
import zipfile

from hypothesis import strategies as st

from tests.dumps import SHAPES, Shape, Story, render

# Letters a news text uses. Only precomposed (NFC) letters: the parser normalises to NFC, so a
# decomposed "e" + U+0301 comes back composed (the same text, other code points).
ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
LATIN_LETTERS = "éèêëàâäçñöüßøåíóúáôûîïœæÉÀÇÖÜŠšŽžŁłğşı"
DIGITS = "0123456789"
# Arabic base letters only (no harakat, no hamza above/below as a combining mark): NFC-stable.
ARABIC_LETTERS = "".join(chr(c) for c in range(0x0627, 0x063B)) + "".join(
    chr(c) for c in range(0x0641, 0x064B)
)
# Punctuation that may end a word. No "&" (an HTML entity such as "&amp;" is unescaped on
# purpose), no parentheses (a caption ending in "(...)" carries a credit; parentheses elsewhere
# would make a credit-less caption ambiguous), no "(" / ")" at all for simplicity.
TRAILING = ["", "", "", ".", ",", ";", ":", "!", "?", "\u2019s", "-"]
QUOTES = [("", ""), ("", ""), ("", ""), ("\u201c", "\u201d"), ("\u2018", "\u2019"), ('"', '"')]

CREDITS = ["AP", "AFP", "Reuters", "AP Photo", "Getty Images", "SPA"]


def _letter(repertoire: str) -> st.SearchStrategy[str]:
    """A letter of running text: mostly ASCII, an accented letter now and then (about one in
    ten), as in real European text; legacy code pages are guessed from such statistics."""
    accents = [c for c in LATIN_LETTERS if c in repertoire]
    plain = st.sampled_from(ASCII_LETTERS + DIGITS)
    if not accents:
        return plain
    return st.one_of(*[plain] * 9, st.sampled_from(accents))


def _latin_word(repertoire: str) -> st.SearchStrategy[str]:
    quotes = [q for q in QUOTES if q[0] in repertoire or not q[0]]
    return st.builds(
        lambda core, trail, quote: quote[0] + core + trail + quote[1],
        st.text(_letter(repertoire), min_size=1, max_size=10),
        st.sampled_from([t for t in TRAILING if all(c in repertoire for c in t)]),
        st.sampled_from(quotes),
    )


arabic_word = st.text(st.sampled_from(ARABIC_LETTERS), min_size=2, max_size=8)

# A legacy code page (cp1252, latin-1, cp1256, iso-8859-6) has no BOM and no signature: the parser
# guesses it from letter statistics (charset-normalizer), which needs text that looks like a
# language. Random letter soup such as "ÇXb5H8öó" is refused as undecodable, rightly: so dumps in
# those encodings are written with real words (ours, written for these tests).
LATIN_VOCABULARY = tuple(
    [
        "le",
        "la",
        "les",
        "des",
        "une",
        "pour",
        "avec",
        "dans",
        "sur",
        "président",
        "ministre",
        "été",
        "déjà",
        "après",
        "très",
        "où",
        "ça",
        "français",
        "économie",
        "société",
        "année",
        "général",
        "réunion",
        "élève",
        "côté",
        "fenêtre",
        "hôpital",
        "naïve",
        "Noël",
        "der",
        "die",
        "das",
        "und",
        "für",
        "über",
        "Straße",
        "größer",
        "Bürger",
        "Ärzte",
        "Öffnung",
        "schön",
        "würde",
        "München",
        "el",
        "los",
        "las",
        "año",
        "señor",
        "niño",
        "mañana",
        "España",
        "información",
        "según",
        "también",
        "o",
        "os",
        "da",
        "não",
        "são",
        "ações",
        "coração",
        "São",
        "Paulo",
        "the",
        "of",
        "and",
        "council",
        "harbour",
        "ferry",
        "said",
        "on",
        "Tuesday",
        "city",
        "people",
    ]
)
ARABIC_VOCABULARY = tuple(
    [
        "في",
        "من",
        "على",
        "إلى",
        "عن",
        "مع",
        "أن",
        "قال",
        "وزير",
        "رئيس",
        "الحكومة",
        "المدينة",
        "مكتبة",
        "جديدة",
        "يوم",
        "الأحد",
        "السكان",
        "الأطفال",
        "القراءة",
        "الامتحانات",
        "الليل",
        "العامة",
        "البلدية",
        "كتاب",
        "ألف",
        "أكثر",
        "عشرين",
        "مدير",
        "القاعات",
    ]
)
LEGACY = ("cp1252", "latin-1", "cp1256", "iso-8859-6")


def _vocabulary_word(repertoire: str) -> st.SearchStrategy[str]:
    # Dumps in a legacy code page are in that code page's languages: Western words in cp1252 and
    # latin-1; Arabic words (and plain ASCII ones, as in credits) in cp1256 and ISO-8859-6. A few
    # French accented words inside an Arabic dump is too little for any detector to tell cp1256
    # from cp1252, and no newsroom writes such dumps.
    vocabulary = LATIN_VOCABULARY
    if ARABIC_LETTERS[0] in repertoire:
        vocabulary = ARABIC_VOCABULARY + tuple(w for w in LATIN_VOCABULARY if w.isascii())
    words = [w for w in vocabulary if all(c in repertoire for c in w)]
    quotes = [q for q in QUOTES if q[0] in repertoire or not q[0]]
    return st.builds(
        lambda core, trail, quote: quote[0] + core + trail + quote[1],
        st.sampled_from(words),
        st.sampled_from([t for t in TRAILING if all(c in repertoire for c in t)]),
        st.sampled_from(quotes),
    )


def _cp1252_high(char: str) -> bool:
    try:
        return 0x80 <= char.encode("cp1252")[0] <= 0xBF and len(char.encode("cp1252")) == 1
    except UnicodeEncodeError:
        return False


def normalised(text: str) -> str:
    """How the parser compares lines: whitespace runs collapsed, case folded."""
    return " ".join(text.split()).casefold()


def _line(draw: st.DrawFn, repertoire: str, min_words: int = 1, max_words: int = 12) -> str:
    # Words are joined by one space: a line never starts or ends with whitespace (the parser
    # strips lines) and holds no tab, no-break space or other invisible character (normalised).
    if repertoire.startswith(_LEGACY_TAG):
        word = _vocabulary_word(repertoire)
    else:
        latin = _latin_word(repertoire)
        arabic = ARABIC_LETTERS[0] in repertoire
        word = st.one_of(latin, arabic_word) if arabic else latin
    return " ".join(draw(st.lists(word, min_size=min_words, max_size=max_words)))


def _ok_line(line: str) -> bool:
    stripped = line.strip()
    # "TT" is the site marker, dropped wherever it stands on a line of its own.
    # A line of 1-4 digits right after the marker is the marker's "20" line.
    return stripped not in ("TT",) and not stripped.isdigit()


def _latin_only(repertoire: str) -> str:
    return "".join(c for c in repertoire if c not in ARABIC_LETTERS + "".join(ARABIC_VOCABULARY))


@st.composite
def _stories(draw: st.DrawFn, repertoire: str) -> Story:
    # Arabic words come in when the encoding can carry them (one story in two then).
    if not draw(st.booleans()):
        repertoire = _latin_only(repertoire)
    # A title is one line (the first line of the article); at most 300 characters, the longest
    # title the parser accepts as the start of an article after only two blank lines.
    title = _line(draw, repertoire, 1, 14)[:300].rstrip()
    if not title or not _ok_line(title):
        title = "Headline " + title
    caption = credit = None
    kind = draw(st.sampled_from(["none", "plain", "credit", "credit", "photo"]))
    if kind != "none":
        caption = _line(draw, repertoire, 2, 14)
        if kind == "credit":
            credit = draw(st.sampled_from(CREDITS))
        elif kind == "photo":
            credit = "Photo: " + _line(draw, _latin_only(repertoire), 1, 3)
    paragraphs: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        # A paragraph is one or more lines with no blank line inside (a blank line ends it).
        lines = [_line(draw, repertoire) for _ in range(draw(st.integers(1, 3)))]
        paragraphs.append("\n".join(lines))
    return Story(title=title, paragraphs=tuple(paragraphs), caption=caption, credit=credit)


# A letter from "Â" to "ô" followed by a character that cp1252 writes as 0x80-0xBF ("Çœ",
# "Ã”") is the signature of UTF-8 read as cp1252: the parser repairs such lines on purpose
# (clean_text runs ftfy on them), so "Çœ" comes back as "ǜ". Real words do not hold these pairs.
_MOJIBAKE_SIGNATURE = re.compile(
    "[\u00c2-\u00f4][" + "".join(c for c in map(chr, range(0x80, 0x2200)) if _cp1252_high(c)) + "]"
)


def representable(story: Story) -> bool:
    """Whether the dump format can carry ``story`` unchanged (see the reasons inline)."""
    texts = [story.title, story.caption_line or "", *story.paragraphs]
    if any(_MOJIBAKE_SIGNATURE.search(text) for text in texts):
        return False
    title = normalised(story.title)
    # The caption is written with its credit (shape "full") or without ("no_caption_credit").
    captions = {normalised(c) for c in (story.caption, story.caption_line) if c is not None}
    # The caption is one line and not a marker; a caption that is the title again would be
    # read as the repeated title.
    if story.caption is not None and (not _ok_line(story.caption) or title in captions):
        return False
    previous = None
    for number, paragraph in enumerate(story.paragraphs):
        lines = paragraph.split("\n")
        if not all(_ok_line(line) for line in lines):
            return False
        text = normalised(paragraph)
        # The scraper repeats the title and the caption: the parser drops a body paragraph
        # that says either again, and a paragraph that repeats the one before it.
        if text in (title, previous):
            return False
        if text in captions:
            return False
        # Right after the header, a block of one line said several times is the caption
        # repeated by the scraper (the parser cannot tell it from a body paragraph).
        if number == 0 and len(lines) > 1 and len({" ".join(x.split()) for x in lines}) == 1:
            return False
        previous = text
    return True


def stories(encoding: str = "utf-8") -> st.SearchStrategy[Story]:
    """A story the dump format can carry and give back unchanged, written with the characters
    of ``encoding``."""
    return _stories(repertoire(encoding)).filter(representable)


def repertoire(encoding: str) -> str:
    """The characters of our alphabets that ``encoding`` can write."""
    every = ASCII_LETTERS + DIGITS + LATIN_LETTERS + ARABIC_LETTERS + "".join(TRAILING)
    every += "".join(q for pair in QUOTES for q in pair) + " "
    every += "".join(ARABIC_VOCABULARY)
    chars = "".join(dict.fromkeys(c for c in every if encodable(c, encoding)))
    return _LEGACY_TAG + chars if encoding in LEGACY else chars


_LEGACY_TAG = "\x00"  # marks the repertoire of a legacy code page: write real words


def expected_caption(story: Story, shape: Shape) -> tuple[str | None, str | None]:
    """The caption and credit ``render(story, shape)`` writes (only full shapes carry one)."""
    if story.caption is None or shape not in ("full", "no_caption_credit"):
        return None, None
    if shape == "no_caption_credit":
        return story.caption, None
    return story.caption_line, story.credit


UNICODE = ("utf-8", "utf-8-sig", "utf-16")
ENCODINGS = UNICODE + LEGACY
NEWLINES = ("\n", "\r\n", "\r")
COMPRESSIONS = ("none", "gzip", "bz2", "xz", "zip")


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def compress(data: bytes, how: str) -> bytes:
    """``data`` as the file a producer would drop: raw, or in an archive."""
    if how == "gzip":
        return gzip.compress(data)
    if how == "bz2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    if how == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("dump.txt", data)
        return buffer.getvalue()
    return data


@st.composite
def dumps(draw: st.DrawFn, encoding: str = "utf-8") -> tuple[list[tuple[Story, Shape]], str]:
    """Stories with a header shape each, and the UTF-8/LF text of the dump that holds them; the
    text can be written in ``encoding``."""
    story = stories(encoding)
    items = draw(st.lists(st.tuples(story, st.sampled_from(SHAPES)), min_size=1, max_size=5))
    parts: list[str] = []
    for number, (story, shape) in enumerate(items):
        repeats = draw(st.integers(1, 3))
        if number:
            # Three to five blank lines between articles; two only before an article whose
            # header shows it (a marker or the title repeated), as the parser requires.
            low = 3 if shape == "bare" or len(story.title) > 300 else 2
            parts.append("\n" * (draw(st.integers(low, 5)) + 1))
        parts.append(render(story, shape, caption_repeats=repeats))
    if draw(st.booleans()):
        parts.append("\n")
    return items, "".join(parts)


def encode_dump(text: str, encoding: str, newline: str) -> bytes:
    """The bytes of ``text`` (LF line ends) in ``encoding`` with ``newline`` line ends."""
    text = text.replace("\n", newline)
    if encoding == "utf-16":  # Python writes the BOM, in the machine's byte order
        return text.encode("utf-16")
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)
