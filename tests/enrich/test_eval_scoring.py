# ruff: noqa: RUF001 - typographic apostrophes and quotation marks are what news text writes
"""The labelled evaluation set (``tests/enrich/eval``) and the scoring the bench measures it with
(``bench/_enrich_scoring.py``): hand-made gold/predicted pairs with known scores, and the set's
own shape (every article parsed and labelled, six kinds of six or more, labels found in the text).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from worker.parse import parse_dump

REPO = Path(__file__).resolve().parents[2]
EVAL = Path(__file__).resolve().parent / "eval"
KINDS = ("sport", "business", "politics", "entertainment", "technology", "middle_east")


def _load_scoring() -> ModuleType:
    """The bench's scoring module, imported from its file (bench/ is not a package)."""
    path = REPO / "bench" / "_enrich_scoring.py"
    spec = importlib.util.spec_from_file_location("_enrich_scoring", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_enrich_scoring", module)
    spec.loader.exec_module(module)
    return module


scoring = _load_scoring()


# --- names and counts ---------------------------------------------------------------------------


class TestNames:
    def test_normalise(self) -> None:
        """Case, runs of spaces and typographic apostrophes do not matter; titles do."""
        assert scoring.normalise_name("  Jose \n Almeida ") == "jose almeida"
        assert scoring.normalise_name("St James’ Park") == scoring.normalise_name("st james' park")
        assert scoring.normalise_name("Prince Faisal") != scoring.normalise_name("Faisal")

    def test_known_precision_recall_f1(self) -> None:
        """3 gold, 4 predicted, 2 right: P 2/4, R 2/3, F1 2·2/(2·2+2+1) = 4/7."""
        result = scoring.score_set(
            ["Jose Almeida", "Chelsea", "Porto"],
            ["jose almeida", "CHELSEA", "Almeida", "Premiership"],
        )
        assert (result.counts.tp, result.counts.fp, result.counts.fn) == (2, 2, 1)
        assert result.counts.precision == pytest.approx(0.5)
        assert result.counts.recall == pytest.approx(2 / 3)
        assert result.counts.f1 == pytest.approx(4 / 7)
        assert result.missed == ["porto"]
        assert result.extra == ["almeida", "premiership"]

    def test_duplicates_count_once(self) -> None:
        result = scoring.score_set(["Ulster"], ["Ulster", "ulster", " Ulster "])
        assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 0, 0)

    def test_short_form_is_not_the_full_name(self) -> None:
        """Exact match: the canonical form is part of what is measured."""
        result = scoring.score_set(["Jarno Lehtinen"], ["Lehtinen"])
        assert result.counts.f1 == 0.0

    def test_undefined_scores_are_none(self) -> None:
        """Nothing predicted: precision undefined; nothing to find and nothing found: all None."""
        empty = scoring.score_set(["GB"], [])
        assert empty.counts.precision is None
        assert empty.counts.recall == 0.0
        nothing = scoring.score_set([], [])
        assert (nothing.counts.precision, nothing.counts.recall, nothing.counts.f1) == (None,) * 3

    def test_micro_average(self) -> None:
        """Counts add up over articles before the scores are taken."""
        total = scoring.Counts(1, 0, 0) + scoring.Counts(1, 2, 3)
        assert (total.tp, total.fp, total.fn) == (2, 2, 3)
        assert total.precision == pytest.approx(0.5)
        assert total.recall == pytest.approx(0.4)


# --- quotes -------------------------------------------------------------------------------------


GOLD_QUOTES = [
    {"text": "We had them where we wanted them and we let them off the hook", "speaker": "Alan"},
    {"text": "You cannot give a side like Ulster that much possession.", "speaker": "Alan"},
    {"text": "Borders played some great rugby in the first half", "speaker": "Niall Carberry"},
]


class TestQuotes:
    def test_overlap(self) -> None:
        assert scoring.quote_overlap("We are not there yet.", "“we are NOT there yet,”") == 1.0
        # 4 shared words of the longer's 8
        assert scoring.quote_overlap("a b c d", "a b c d e f g h") == pytest.approx(0.5)
        assert scoring.quote_overlap("", "a b c") == 0.0

    def test_known_precision_recall_and_speakers(self) -> None:
        """Two of three gold quotes found (one of them trimmed), one narration taken for a quote:
        P 2/3, R 2/3; speakers right on one of the two matched."""
        predicted = [
            {"text": "We had them where we wanted them and we let them off", "speaker": "alan"},
            {"text": "Speaking to Le Matin, the 24-year-old Swiss added:", "speaker": None},
            {"text": "Borders played some great rugby in the first half", "speaker": None},
        ]
        result = scoring.score_quotes(GOLD_QUOTES, predicted)
        assert (result.counts.tp, result.counts.fp, result.counts.fn) == (2, 1, 1)
        assert result.counts.precision == pytest.approx(2 / 3)
        assert result.counts.recall == pytest.approx(2 / 3)
        assert (result.speakers_right, result.speakers_total) == (1, 2)
        assert result.speaker_accuracy == pytest.approx(0.5)
        assert result.wrong_speakers == [(GOLD_QUOTES[2]["text"], "Niall Carberry", None)]
        assert result.missed == [GOLD_QUOTES[1]["text"]]
        assert result.extra == ["Speaking to Le Matin, the 24-year-old Swiss added:"]

    def test_one_to_one(self) -> None:
        """Two gold quotes swallowed into one prediction: at most one of them matches."""
        gold = [{"text": "one two three four", "speaker": None}] * 2
        predicted = [{"text": "one two three four", "speaker": None}]
        result = scoring.score_quotes(gold, predicted)
        assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 0, 1)

    def test_below_half_is_no_match(self) -> None:
        gold = [{"text": "a b c d e f g h", "speaker": None}]
        predicted = [{"text": "a b c", "speaker": None}]
        result = scoring.score_quotes(gold, predicted)
        assert (result.counts.tp, result.counts.fp, result.counts.fn) == (0, 1, 1)
        assert result.speaker_accuracy is None

    def test_null_speaker(self) -> None:
        assert scoring.same_speaker(None, None)
        assert not scoring.same_speaker(None, "Alan")
        assert not scoring.same_speaker("Jarno Lehtinen", "Lehtinen")
        assert scoring.same_speaker("Jarno  Lehtinen", "jarno lehtinen")


# --- key phrases --------------------------------------------------------------------------------


class TestKeyPhrases:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("past Juan Carlos", "Juan Carlos Ferrero"),  # end of one, start of the other
            ("squeezing past Juan", "past Juan Carlos"),
            ("region to stem", "stem the flow"),
            ("Juan Carlos", "Juan Carlos Ferrero"),  # a fragment
            ("Top seed Roger", "seed"),
            ("Chelsea", "chelsea"),
        ],
    )
    def test_overlapping(self, a: str, b: str) -> None:
        assert scoring.phrases_overlap(a, b)
        assert scoring.phrases_overlap(b, a)

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("Chelsea manager", "Chelsea fans"),  # a shared first word is not an overlap
            ("interest rates", "rising prices"),
            ("art", "start of play"),  # words, not characters
        ],
    )
    def test_not_overlapping(self, a: str, b: str) -> None:
        assert not scoring.phrases_overlap(a, b)

    def test_pairs(self) -> None:
        phrases = ["Juan Carlos Ferrero", "past Juan Carlos", "Roger Federer", "clay court"]
        assert scoring.overlapping_phrases(phrases) == [("Juan Carlos Ferrero", "past Juan Carlos")]


# --- whole articles -----------------------------------------------------------------------------


def test_score_article_and_summaries() -> None:
    """Every field of one article, then the summary over two articles of two kinds."""
    gold: dict[str, Any] = {
        "kind": "sport",
        "title": "T",
        "person": ["Jose Almeida"],
        "org": ["Chelsea", "Porto"],
        "location": ["London"],
        "countries": ["GB", "PT"],
        "quotes": [{"text": "That is what champions do", "speaker": "Jose Almeida"}],
    }
    predicted = {
        "person": ["Jose Almeida", "Porto"],
        "org": ["Chelsea"],
        "location": None,  # the enricher failed: nothing predicted
        "countries": ["GB", "AU"],
        "quotes": [{"text": "That is what champions do", "speaker": "Almeida"}],
        "keywords": ["past Juan Carlos", "Juan Carlos Ferrero"],
    }
    result = scoring.score_article(gold, predicted)
    assert result.sets["person"].counts.precision == pytest.approx(0.5)
    assert result.sets["org"].counts.recall == pytest.approx(0.5)
    assert result.sets["location"].counts.recall == 0.0
    assert result.sets["countries"].counts.f1 == pytest.approx(0.5)
    assert result.quotes.counts.tp == 1 and result.quotes.speaker_accuracy == 0.0
    assert result.overlaps == [("past Juan Carlos", "Juan Carlos Ferrero")]

    other = scoring.score_article({**gold, "kind": "business"}, {**gold, "keywords": ["a", "b"]})
    summary = scoring.summarise([result, other])
    assert summary.articles == 2
    assert summary.sets["person"].precision == pytest.approx(2 / 3)
    assert summary.quotes.speaker_accuracy == pytest.approx(0.5)
    assert summary.overlapping_articles == 1
    kinds = scoring.by_kind([result, other])
    assert list(kinds) == ["sport", "business"]
    assert kinds["business"].sets["org"].f1 == 1.0
    data = scoring.summary_dict(summary)
    assert data["person"]["precision"] == pytest.approx(2 / 3)
    assert json.dumps(data)  # JSON-ready


# --- the set itself -----------------------------------------------------------------------------


def _labels() -> list[dict[str, Any]]:
    lines = (EVAL / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _articles() -> dict[tuple[str, str], Any]:
    found = {}
    for path in sorted(EVAL.glob("*.txt")):
        result = parse_dump(path.read_bytes())
        assert not result.unplaced, (path.name, result.unplaced)
        for article in result.articles:
            key = (path.stem, article.title)
            assert key not in found, f"two articles titled {key}"
            found[key] = article
    return found


def test_set_parses_with_a_label_for_each_article() -> None:
    """At least 40 articles, each with exactly one label and each label with its article; six
    kinds of six or more; every label well-formed."""
    articles = _articles()
    labels = _labels()
    keys = [(label["kind"], label["title"]) for label in labels]
    assert len(articles) >= 40
    assert len(keys) == len(set(keys)), "a label given twice"
    assert set(keys) == set(articles)
    per_kind = Counter(kind for kind, _ in keys)
    assert set(per_kind) == set(KINDS)
    assert all(count >= 6 for count in per_kind.values()), per_kind
    for label in labels:
        for name in ("person", "org", "location"):
            assert all(isinstance(x, str) and x.strip() for x in label[name]), label
        assert all(re.fullmatch(r"[A-Z]{2}", code) for code in label["countries"]), label
        for quote in label["quotes"]:
            assert set(quote) == {"text", "speaker"}, quote
            assert len(quote["text"].split()) >= 3, quote


def test_bodies_are_news_length() -> None:
    for key, article in _articles().items():
        words = len(article.body.split())
        assert 150 <= words <= 450, (key, words)


def test_labels_are_in_the_text() -> None:
    """Every labelled person and organisation occurs in the headline or body as labelled, every
    quote in the body; a quote's speaker is one of the article's people or organisations."""
    articles = _articles()
    for label in _labels():
        article = articles[(label["kind"], label["title"])]
        text = scoring.normalise_name(f"{article.title}\n{article.body}")
        for name in (*label["person"], *label["org"]):
            assert scoring.normalise_name(name) in text, (label["title"], name)
        for quote in label["quotes"]:
            assert quote["text"] in article.body, (label["title"], quote["text"])
            speaker = quote["speaker"]
            assert speaker is None or speaker in label["person"] + label["org"], quote
