"""Round trip of the dump format (issue #3, "Tests"): random stories rendered in any header shape,
encoding, line ending and archive parse back to the same articles.

What the generator may produce, and why each limit is there, is in ``tests/strategies.py``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.dumps import Shape, Story
from tests.strategies import (
    COMPRESSIONS,
    LEGACY,
    NEWLINES,
    UNICODE,
    compress,
    dumps,
    encodable,
    encode_dump,
    expected_caption,
)
from worker.dedupe.fingerprint import article_id
from worker.parse import parse_dump

ROUND_TRIP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _fields(article) -> tuple:
    return (
        article.title,
        article.paragraphs,
        article.image_caption,
        article.image_credit,
    )


def _expected(items: list[tuple[Story, Shape]]) -> list[tuple]:
    return [(s.title, s.paragraphs, *expected_caption(s, shape)) for s, shape in items]


def _round_trip(data, encodings: tuple[str, ...], min_bytes: int = 0) -> None:
    encoding = data.draw(st.sampled_from(encodings), "encoding")
    items, text = data.draw(dumps(encoding), "dump")
    assume(len(text.encode("utf-8")) >= min_bytes)
    baseline = parse_dump(text.encode("utf-8"))
    assert [_fields(a) for a in baseline.articles] == _expected(items)
    assert not baseline.unplaced

    assert encodable(text, encoding)
    newline = data.draw(st.sampled_from(NEWLINES), "newline")
    how = data.draw(st.sampled_from(COMPRESSIONS), "compression")
    result = parse_dump(compress(encode_dump(text, encoding, newline), how))

    assert [_fields(a) for a in result.articles] == _expected(items)
    assert [article_id(a) for a in result.articles] == [article_id(a) for a in baseline.articles]
    assert not result.unplaced


@ROUND_TRIP
@given(data=st.data())
def test_round_trip_in_any_shape_unicode_encoding_line_end_and_archive(data) -> None:
    """Every article comes back with its title, paragraphs, caption and raw credit, and with the
    same article id as the UTF-8/LF rendering, in UTF-8 (with or without BOM) or UTF-16, with
    any line end, raw or in any archive."""
    _round_trip(data, UNICODE)


@settings(ROUND_TRIP)
@given(data=st.data())
def test_round_trip_in_legacy_code_pages(data) -> None:
    """The same round trip for dumps in cp1252, latin-1, cp1256 or ISO-8859-6 (no BOM: the
    parser must guess the code page), written with real words so that a guess is possible.

    A guess needs some text: a dump of a few words in a legacy code page is ambiguous for any
    detector (five Arabic letters in ISO-8859-6 read as well in Shift-JIS), so dumps under 200
    bytes are left out here; real dumps are kilobytes at least."""
    _round_trip(data, LEGACY, min_bytes=200)


def test_cp1252_french_is_not_read_as_big5() -> None:
    """Minimal reproduction found by the round trip: three French words in cp1252."""
    data = b"le \xe7a \xe9l\xe8ve\n\npour dans le\n"
    result = parse_dump(data)
    (article,) = result.articles
    expected = ("le ça élève", ("pour dans le",))
    assert (article.title, article.paragraphs) == expected, result.encoding
