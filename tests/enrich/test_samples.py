"""The issue's checks on the real seed dump; skipped where ../shared/samples is absent."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import SAMPLES
from worker.enrich import EnrichResources, build_pipeline
from worker.parse import parse_dump
from worker.settings import Settings

SEED = SAMPLES / "000_ea8bfdc928b77613.txt"
pytestmark = pytest.mark.skipif(not SEED.is_file(), reason=f"{SEED} not present")


@pytest.fixture(scope="module")
def seed(resources: EnrichResources) -> list[dict]:
    articles = parse_dump(SEED.read_bytes()).articles
    fields = build_pipeline(Settings(), None, resources).run(articles).fields
    assert all(f is not None for f in fields)
    return fields  # type: ignore[return-value]


def test_people(seed: list[dict]) -> None:
    """The people include Lavrov, Assad, Erdogan and Bogdanov."""
    people = {p["text"] for f in seed for p in f["entities"]["person"]}
    assert {"Sergei Lavrov", "Recep Tayyip Erdogan", "Mikhail Bogdanov"} <= people
    assert people & {"Bashar Assad", "Bashar al-Assad"}


def test_countries(seed: list[dict]) -> None:
    """The countries include Syria, Turkey and Russia."""
    assert {"SY", "TR", "RU"} <= {c for f in seed for c in f["countries"]}


def test_second_article_quotes_lavrov(seed: list[dict]) -> None:
    """The quotes of the second article are Lavrov's (Bogdanov's phrase apart)."""
    quotes = seed[1]["quotes"]
    speakers = [q["speaker"] for q in quotes]
    assert speakers.count("Sergei Lavrov") >= 4
    assert set(speakers) <= {"Sergei Lavrov", "Mikhail Bogdanov"}
