# ruff: noqa: RUF001 - typographic apostrophes are what news text writes
"""Scoring of enrichment output against the labelled evaluation set (``tests/enrich/eval``).

Pure functions over plain data, no project import: ``bench/enrich_eval.py`` uses them, and
``tests/enrich/test_eval_scoring.py`` checks them on hand-made pairs. The rules they implement are
written down in ``tests/enrich/eval/RULES.md``:

* **names** (person, org, location) and **countries**: sets per article, compared by exact match
  after ``normalise_name`` (case-folded, whitespace collapsed, typographic apostrophes and dashes
  made plain); a name predicted twice counts once. Micro-averaged over articles.
* **quotes**: a predicted quote matches a gold one when the words they share (as a multiset, after
  ``quote_words``) cover at least ``QUOTE_OVERLAP`` (half) of the longer of the two; matching is
  one-to-one, best overlap first. Precision and recall count matched quotes.
* **speaker accuracy**: over the matched quotes, the share whose predicted speaker equals the gold
  speaker after ``normalise_name`` (``None`` equals only ``None``).
* **key phrases**: an article's phrases *overlap* when one phrase's words occur as a contiguous run
  in another's, or the end of one is the start of another ("past Juan Carlos" / "Juan Carlos
  Ferrero"), compared case-insensitively, word by word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME_FIELDS = ("person", "org", "location")
SET_FIELDS = (*NAME_FIELDS, "countries")
QUOTE_OVERLAP = 0.5

_PLAIN = str.maketrans({"’": "'", "‘": "'", "`": "'", "–": "-", "—": "-", "‐": "-"})
_WORD = re.compile(r"\w+(?:'\w+)*")


def normalise_name(name: str) -> str:
    """The form two names are compared in: "  Jose   Mourinho " and "jose mourinho" are one."""
    return " ".join(name.translate(_PLAIN).casefold().split())


def quote_words(text: str) -> list[str]:
    """A quote's words, case-folded, without punctuation or quotation marks."""
    return _WORD.findall(text.translate(_PLAIN).casefold())


# --- counts -------------------------------------------------------------------------------------


@dataclass
class Counts:
    """True positives, false positives and false negatives, with the scores they give.

    A score whose denominator is zero is ``None`` (printed as "-"): nothing was predicted, or
    nothing was there to find.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        if self.tp + self.fp + self.fn == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


@dataclass
class SetResult:
    counts: Counts
    missed: list[str]  # gold names not predicted (normalised)
    extra: list[str]  # predicted names not in gold (normalised)


def score_set(gold: Iterable[str], predicted: Iterable[str]) -> SetResult:
    """Exact-match set comparison of two lists of names (or country codes)."""
    want = {normalise_name(g) for g in gold if g and g.strip()}
    got = {normalise_name(p) for p in predicted if p and p.strip()}
    return SetResult(
        Counts(len(want & got), len(got - want), len(want - got)),
        missed=sorted(want - got),
        extra=sorted(got - want),
    )


# --- quotes -------------------------------------------------------------------------------------


def quote_overlap(a: str, b: str) -> float:
    """Shared words (as a multiset) over the length of the longer quote, 0..1."""
    wa, wb = quote_words(a), quote_words(b)
    if not wa or not wb:
        return 0.0
    shared = sum((Counter(wa) & Counter(wb)).values())
    return shared / max(len(wa), len(wb))


def same_speaker(gold: str | None, predicted: str | None) -> bool:
    if gold is None or predicted is None:
        return gold is None and predicted is None
    return normalise_name(gold) == normalise_name(predicted)


@dataclass
class QuoteResult:
    counts: Counts = field(default_factory=Counts)
    speakers_right: int = 0
    speakers_total: int = 0  # matched quotes
    # (gold text, gold speaker, predicted speaker) of each matched quote with a wrong speaker
    wrong_speakers: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def __add__(self, other: QuoteResult) -> QuoteResult:
        return QuoteResult(
            self.counts + other.counts,
            self.speakers_right + other.speakers_right,
            self.speakers_total + other.speakers_total,
            self.wrong_speakers + other.wrong_speakers,
            self.missed + other.missed,
            self.extra + other.extra,
        )

    @property
    def speaker_accuracy(self) -> float | None:
        return self.speakers_right / self.speakers_total if self.speakers_total else None


def score_quotes(
    gold: Sequence[Mapping[str, Any]], predicted: Sequence[Mapping[str, Any]]
) -> QuoteResult:
    """One-to-one matching of quotes (``{"text", "speaker"}``), best overlap first."""
    pairs = sorted(
        (
            (quote_overlap(str(g["text"]), str(p["text"])), i, j)
            for i, g in enumerate(gold)
            for j, p in enumerate(predicted)
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    matched_gold: dict[int, int] = {}
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < QUOTE_OVERLAP:
            break
        if i in matched_gold or j in used:
            continue
        matched_gold[i] = j
        used.add(j)
    result = QuoteResult(
        Counts(len(matched_gold), len(predicted) - len(used), len(gold) - len(matched_gold))
    )
    for i, j in sorted(matched_gold.items()):
        want, got = gold[i].get("speaker"), predicted[j].get("speaker")
        result.speakers_total += 1
        if same_speaker(want, got):
            result.speakers_right += 1
        else:
            result.wrong_speakers.append((str(gold[i]["text"]), want, got))
    result.missed = [str(g["text"]) for i, g in enumerate(gold) if i not in matched_gold]
    result.extra = [str(p["text"]) for j, p in enumerate(predicted) if j not in used]
    return result


# --- key phrases --------------------------------------------------------------------------------


def _phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(quote_words(phrase))


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def _end_meets_start(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """A non-empty end of ``a`` is the start of ``b`` ("region to stem" / "stem the flow")."""
    return any(a[-k:] == b[:k] for k in range(1, min(len(a), len(b)) + 1))


def phrases_overlap(a: str, b: str) -> bool:
    """One phrase is a fragment of the other, or they share a run of words at their edges."""
    wa, wb = _phrase_words(a), _phrase_words(b)
    if not wa or not wb:
        return False
    shorter, longer = sorted((wa, wb), key=len)
    return _contains(longer, shorter) or _end_meets_start(wa, wb) or _end_meets_start(wb, wa)


def overlapping_phrases(phrases: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of an article's key phrases that overlap, in the order given."""
    return [
        (a, b) for i, a in enumerate(phrases) for b in phrases[i + 1 :] if phrases_overlap(a, b)
    ]


# --- whole articles -----------------------------------------------------------------------------


@dataclass
class ArticleResult:
    """One article's comparison: a ``SetResult`` per set field, the quotes, the key phrases."""

    kind: str
    title: str
    sets: dict[str, SetResult]
    quotes: QuoteResult
    overlaps: list[tuple[str, str]]


def score_article(gold: Mapping[str, Any], predicted: Mapping[str, Any]) -> ArticleResult:
    """``gold``: a label line; ``predicted``: the same keys (lists of names, codes, quotes) plus
    ``keywords``. A field missing from ``predicted`` (or ``None``) counts as predicting nothing."""
    sets = {name: score_set(gold.get(name) or [], predicted.get(name) or []) for name in SET_FIELDS}
    quotes = score_quotes(gold.get("quotes") or [], predicted.get("quotes") or [])
    overlaps = overlapping_phrases(predicted.get("keywords") or [])
    return ArticleResult(str(gold.get("kind")), str(gold.get("title")), sets, quotes, overlaps)


@dataclass
class Summary:
    """Micro-averaged scores over a group of articles."""

    articles: int
    sets: dict[str, Counts]
    quotes: QuoteResult
    overlapping_articles: int


def summarise(results: Sequence[ArticleResult]) -> Summary:
    sets = {name: sum((r.sets[name].counts for r in results), Counts()) for name in SET_FIELDS}
    quotes = sum((r.quotes for r in results), QuoteResult())
    return Summary(len(results), sets, quotes, sum(1 for r in results if r.overlaps))


def by_kind(results: Sequence[ArticleResult]) -> dict[str, Summary]:
    kinds = dict.fromkeys(r.kind for r in results)
    return {kind: summarise([r for r in results if r.kind == kind]) for kind in kinds}


def summary_dict(summary: Summary) -> dict[str, Any]:
    """A summary as JSON-ready data."""

    def scores(counts: Counts) -> dict[str, Any]:
        return {
            "tp": counts.tp,
            "fp": counts.fp,
            "fn": counts.fn,
            "precision": counts.precision,
            "recall": counts.recall,
            "f1": counts.f1,
        }

    return {
        "articles": summary.articles,
        **{name: scores(counts) for name, counts in summary.sets.items()},
        "quotes": scores(summary.quotes.counts),
        "speaker_accuracy": summary.quotes.speaker_accuracy,
        "speakers_matched": summary.quotes.speakers_total,
        "overlapping_keyphrase_articles": summary.overlapping_articles,
    }
