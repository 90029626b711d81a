"""Many processes creating the store at once (N workers starting on a fresh database)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect

from worker.store.db import create_store_engine

pytestmark = pytest.mark.integration


def test_workers_starting_together_on_a_fresh_postgresql(postgres_url: str) -> None:
    """Eight engines creating the schema at the same moment all succeed, and it exists once."""
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _: create_store_engine(postgres_url), range(8)))
    assert {"files", "articles", "sources", "chunks"} <= set(inspect(engines[0]).get_table_names())
    for engine in engines:
        engine.dispose()
