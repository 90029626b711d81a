"""No process outlives its test: a worker left running would steal the next test's messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.procs import kill_leftovers


@pytest.fixture(autouse=True)
def _kill_leftover_processes() -> Iterator[None]:
    yield
    kill_leftovers()
