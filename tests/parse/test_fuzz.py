"""Fuzz of parse_dump (issue #3, "Tests"): on any bytes, the only exception is a DumpError, and
what it returns is made of articles with a title and a body free of markers."""

from __future__ import annotations

import codecs

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dumps import ARABIC, STORIES, render_dump
from tests.strategies import compress
from worker.errors import DumpError
from worker.parse import ReadLimits, parse_dump

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TEXT = render_dump([*STORIES, ARABIC], ["full", "marker_20", "bare", "repeated_title", "marker"])
SEEDS = (
    _TEXT.encode("utf-8"),
    codecs.BOM_UTF8 + _TEXT.replace("\n", "\r\n").encode("utf-8"),
    _TEXT.encode("utf-16"),
    render_dump(list(STORIES)).replace("\u201c", '"').replace("\u201d", '"').encode("cp1252"),
)
INSERTS = (b"\x00", b"\r", b"\n", b"\n\n\n\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"TT\n20\n")


def _check(data: bytes, limits: ReadLimits = ReadLimits()) -> None:
    try:
        result = parse_dump(data, limits)
    except DumpError:
        return
    for article in result.articles:
        assert article.title.strip()
        assert article.paragraphs
        assert all(p.strip() and p != "TT" for p in article.paragraphs)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid dump, raw or compressed, with bytes flipped, cut, or inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if draw(st.booleans()):
        data = bytearray(compress(bytes(data), draw(st.sampled_from(["gzip", "bz2", "xz", "zip"]))))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "huge"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(INSERTS)) * draw(st.integers(1, 40))
        elif kind == "huge":
            data[at:at] = b"x" * draw(st.integers(100, 5000))
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=4000))
def test_arbitrary_bytes_raise_only_dump_errors(data: bytes) -> None:
    """Random bytes parse to articles or raise a DumpError subclass, nothing else."""
    _check(data)


@FUZZ
@given(data=mutated(), max_line=st.sampled_from([64, 256, 4096, 1 << 20]))
def test_mutated_dumps_raise_only_dump_errors(data: bytes, max_line: int) -> None:
    """Valid dumps with flipped bytes, truncations, NULs, CRs, BOMs and huge lines, read with
    small line limits, parse to well-formed articles or raise a DumpError subclass."""
    _check(data, ReadLimits(max_line_bytes=max_line))
