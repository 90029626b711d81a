"""atheris harness for parse_dump: the only exception allowed is a DumpError subclass.

Not part of the test suite. Run: ``.venv/bin/python bench/fuzz_parser.py -max_total_time=180``
(needs ``pip install atheris``).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from worker.errors import DumpError
    from worker.parse import ReadLimits, parse_dump

LIMITS = ReadLimits(max_line_bytes=4096)


def one_input(data: bytes) -> None:
    try:
        result = parse_dump(data, LIMITS)
    except DumpError:
        return
    for article in result.articles:
        assert article.title.strip() and article.paragraphs
        assert all(p.strip() and p != "TT" for p in article.paragraphs)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
