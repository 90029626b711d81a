"""Quality of near-duplicate linking on the real samples: precision and recall, by kind of pair.

A pair is *linked* when the online decision would link them: one is a candidate of the other
(they share an LSH band key) and the estimated Jaccard of their signatures is at or above the
threshold. The truth is the exact Jaccard of the two sets of word shingles (``shingles()``).

Sets of pairs:

``bbc same-title``
    the BBC same-title pairs whose texts differ: edited versions of one story (true J 0.28-1.0).
``synthetic …``
    versions we make of real sample articles (BBC, Reuters, Asharq Al-Awsat Arabic), seeded:
    1 %, 2 %, 5 % of the words replaced, a paragraph added or removed, a new headline, the last
    third cut off (truncation).
``hard negatives``
    different stories on one topic: for each article of a BBC category (or Reuters, or the Arabic
    file), the most similar other article of the same file that is not a same-title version.
``all samples``
    every pair of articles of all sample files with true Jaccard >= 0.4 (found exactly through an
    inverted index of shingles) and every pair the LSH links: the global check that no link joins
    two articles under 0.4.

For each set: pairs, how many are linked, and split by true Jaccard: recall among pairs >= 0.6
(target 100 %), links among pairs < 0.4 (target 0), and the grey zone 0.4-0.6 for information.

Run::

    .venv/bin/python bench/near_dup_quality.py
    .venv/bin/python bench/near_dup_quality.py --num-perm 128 --bands 32 --rows 4 --threshold 0.5
    .venv/bin/python bench/near_dup_quality.py --samples DIR --seed 7

Exits 0 and prints the reason when the samples folder is absent.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from _common import DEFAULT_SAMPLES, machine_lines, sample_files, table

from worker.dedupe import normalise_text
from worker.dedupe.near import (
    Indexed,
    MemoryLshIndex,
    MinhashSignature,
    NearDupConfig,
    Signature,
    estimate_jaccard,
    jaccard,
    shingles,
)
from worker.parse import parse_dump


@dataclass
class Text:
    name: str  # file:index, or file:index+edit for a synthetic version
    title: str
    paragraphs: tuple[str, ...]

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass
class Pair:
    kind: str
    a: Text
    b: Text


class Judge:
    """True and estimated similarity, and the online linking decision, for pairs of texts."""

    def __init__(self, config: NearDupConfig) -> None:
        self.config = config
        self.signer = MinhashSignature(config)
        self._shingles: dict[str, set[bytes]] = {}
        self._sigs: dict[str, Signature | None] = {}

    def shingles(self, t: Text) -> set[bytes]:
        if t.name not in self._shingles:
            self._shingles[t.name] = shingles(t.title, t.body, self.config.shingle_words)
        return self._shingles[t.name]

    def signature(self, t: Text) -> Signature | None:
        if t.name not in self._sigs:
            self._sigs[t.name] = self.signer(t.title, t.body)
        return self._sigs[t.name]

    def true(self, a: Text, b: Text) -> float:
        return jaccard(self.shingles(a), self.shingles(b))

    def linked(self, a: Text, b: Text) -> bool:
        sa, sb = self.signature(a), self.signature(b)
        if sa is None or sb is None:
            return False
        if not set(sa.band_keys) & set(sb.band_keys):
            return False
        return estimate_jaccard(sa, sb) >= self.config.threshold


# --- inputs ---------------------------------------------------------------------------------


def load(samples: Path) -> dict[str, list[Text]]:
    corpus: dict[str, list[Text]] = {}
    for path in sample_files(samples):
        parsed = parse_dump(path.read_bytes())
        corpus[path.name] = [
            Text(f"{path.name}:{a.index}", a.title, a.paragraphs) for a in parsed.articles
        ]
    return corpus


def _key(t: Text) -> str:
    return normalise_text(t.title) + "\x1f" + normalise_text(t.body)


def same_title_pairs(corpus: dict[str, list[Text]]) -> list[Pair]:
    pairs = []
    for name, texts in corpus.items():
        if not name.startswith("bbc-"):
            continue
        by_title: dict[str, list[Text]] = defaultdict(list)
        for t in texts:
            by_title[normalise_text(t.title)].append(t)
        for group in by_title.values():
            distinct = list({_key(t): t for t in group}.values())
            pairs += [
                Pair("bbc same-title", distinct[i], distinct[j])
                for i in range(len(distinct))
                for j in range(i + 1, len(distinct))
            ]
    return pairs


def _edit_words(t: Text, share: float, vocabulary: list[str], rng: random.Random) -> Text:
    paragraphs = [p.split() for p in t.paragraphs]
    slots = [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))]
    for i, j in rng.sample(slots, max(1, round(len(slots) * share))):
        paragraphs[i][j] = rng.choice(vocabulary)
    return Text(f"{t.name}+words{share:.0%}", t.title, tuple(" ".join(p) for p in paragraphs))


def synthetic_pairs(corpus: dict[str, list[Text]], per_kind: int, seed: int) -> list[Pair]:
    """Versions of real articles (those with 3+ paragraphs and 120+ words), paired with them."""
    rng = random.Random(seed)
    everyone = [t for texts in corpus.values() for t in texts]
    bases = [t for t in everyone if len(t.paragraphs) >= 3 and len(t.body.split()) >= 120]
    by_file = {name: [t for t in texts if t in bases] for name, texts in corpus.items()}
    chosen: list[Text] = []
    for texts in by_file.values():  # spread the bases over every file that has some
        chosen += rng.sample(texts, min(len(texts), max(1, per_kind // len(by_file) + 1)))
    chosen = rng.sample(chosen, min(per_kind, len(chosen)))
    vocabulary = [w for t in rng.sample(everyone, 200) for w in t.body.split()]
    pairs: list[Pair] = []
    for t in chosen:
        other = rng.choice([o for o in bases if o is not t])
        for share in (0.01, 0.02, 0.05):
            pairs.append(
                Pair(f"synthetic {share:.0%} words", t, _edit_words(t, share, vocabulary, rng))
            )
        where = rng.randrange(len(t.paragraphs) + 1)
        added = (*t.paragraphs[:where], rng.choice(other.paragraphs), *t.paragraphs[where:])
        pairs.append(Pair("synthetic paragraph added", t, Text(f"{t.name}+para", t.title, added)))
        drop = rng.randrange(len(t.paragraphs))
        removed = t.paragraphs[:drop] + t.paragraphs[drop + 1 :]
        pairs.append(
            Pair("synthetic paragraph removed", t, Text(f"{t.name}-para", t.title, removed))
        )
        pairs.append(
            Pair("synthetic new headline", t, Text(f"{t.name}+title", other.title, t.paragraphs))
        )
        body_words = t.body.split()
        cut = " ".join(body_words[: round(len(body_words) * 2 / 3)])
        pairs.append(Pair("synthetic truncated to 2/3", t, Text(f"{t.name}+cut", t.title, (cut,))))
    return pairs


def hard_negatives(corpus: dict[str, list[Text]], judge: Judge, per_file: int) -> list[Pair]:
    """For the most topical articles of each file: its most similar other story of that file."""
    pairs = []
    for texts in corpus.values():
        distinct = list({_key(t): t for t in texts}.values())
        if len(distinct) < 20:
            continue
        best = _best_pairs(distinct, judge)
        same_title = {
            frozenset((a.name, b.name))
            for a in distinct
            for b in distinct
            if a is not b and normalise_text(a.title) == normalise_text(b.title)
        }
        kept = [(j, a, b) for (j, a, b) in best if frozenset((a.name, b.name)) not in same_title][
            :per_file
        ]
        pairs += [Pair("nearest other story, same file", a, b) for _, a, b in kept]
    return pairs


def _best_pairs(texts: list[Text], judge: Judge) -> list[tuple[float, Text, Text]]:
    """Each text's most similar partner by shingle overlap (exact), most similar pairs first."""
    counts = _overlaps(texts, judge)
    best: dict[int, tuple[float, int]] = {}
    for (i, j), _ in counts.items():
        score = judge.true(texts[i], texts[j])
        for me, other in ((i, j), (j, i)):
            if score > best.get(me, (-1.0, -1))[0]:
                best[me] = (score, other)
    seen, result = set(), []
    for i, (score, j) in best.items():
        key = (min(i, j), max(i, j))
        if key not in seen:
            seen.add(key)
            result.append((score, texts[key[0]], texts[key[1]]))
    return sorted(result, key=lambda r: -r[0])


def _overlaps(texts: list[Text], judge: Judge) -> Counter:
    """Pairs of texts that share at least one shingle, with how many (inverted index)."""
    postings: dict[bytes, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        for s in judge.shingles(t):
            postings[s].append(i)
    counts: Counter = Counter()
    for ids in postings.values():
        if len(ids) > 50:  # boilerplate shared by many texts: not what makes two similar
            continue
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                counts[(ids[x], ids[y])] += 1
    return counts


def all_samples_check(corpus: dict[str, list[Text]], judge: Judge) -> dict[str, int | float]:
    """Every pair >= 0.4 (exact) and every LSH-linked pair, over all sample files together."""
    texts = list({_key(t): t for ts in corpus.values() for t in ts}.values())
    counts = _overlaps(texts, judge)
    similar = {}
    for (i, j), shared in counts.items():
        a, b = judge.shingles(texts[i]), judge.shingles(texts[j])
        if shared / (len(a) + len(b) - shared) >= 0.4:
            similar[(i, j)] = judge.true(texts[i], texts[j])
    index = MemoryLshIndex()
    linked = set()
    for i, t in enumerate(texts):
        sig = judge.signature(t)
        if sig is None:
            continue
        for other_id, other in index.candidates(sig.band_keys).items():
            if estimate_jaccard(sig, other.signature) >= judge.config.threshold:
                linked.add((int(other_id), i))
        index.add(Indexed(str(i), sig, str(i)))
    under = [p for p in linked if judge.true(texts[p[0]], texts[p[1]]) < 0.4]
    high = [p for p, j in similar.items() if j >= 0.6]
    grey = [p for p, j in similar.items() if j < 0.6]
    return {
        "articles": len(texts),
        "pairs >= 0.6": len(high),
        "linked of >= 0.6": sum(p in linked for p in high),
        "pairs 0.4-0.6": len(grey),
        "linked of 0.4-0.6": sum(p in linked for p in grey),
        "links": len(linked),
        "links under 0.4": len(under),
        "lowest linked true J": min((judge.true(texts[a], texts[b]) for a, b in linked), default=1),
    }


# --- report ---------------------------------------------------------------------------------


def evaluate(pairs: list[Pair], judge: Judge) -> list[list[str]]:
    by_kind: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for p in pairs:
        sa, sb = judge.signature(p.a), judge.signature(p.b)
        estimate = estimate_jaccard(sa, sb) if sa and sb else 0.0
        by_kind[p.kind].append((judge.true(p.a, p.b), estimate, judge.linked(p.a, p.b)))
    rows = []
    for kind, results in by_kind.items():
        high = [r for r in results if r[0] >= 0.6]
        grey = [r for r in results if 0.4 <= r[0] < 0.6]
        low = [r for r in results if r[0] < 0.4]
        error = max(abs(t - e) for t, e, _ in results)
        rows.append(
            [
                kind,
                str(len(results)),
                f"{min(r[0] for r in results):.2f}-{max(r[0] for r in results):.2f}",
                str(sum(r[2] for r in results)),
                _share(sum(r[2] for r in high), len(high)),
                _share(sum(r[2] for r in grey), len(grey)),
                f"{sum(r[2] for r in low)}/{len(low)}",
                f"{error:.3f}",
            ]
        )
    return rows


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total}" + (f" ({hits / total:.0%})" if total else "")


def main() -> int:
    defaults = NearDupConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--shingle-words", type=int, default=defaults.shingle_words)
    parser.add_argument("--num-perm", type=int, default=defaults.num_perm)
    parser.add_argument("--bands", type=int, default=defaults.bands)
    parser.add_argument("--rows", type=int, default=defaults.rows)
    parser.add_argument("--threshold", type=float, default=defaults.threshold)
    parser.add_argument("--seed", type=int, default=4, help="seed of the synthetic edits")
    parser.add_argument("--per-kind", type=int, default=150, help="synthetic bases")
    args = parser.parse_args()
    corpus = load(args.samples)
    if not corpus:
        print(f"skipped: no sample dumps in {args.samples}")
        return 0
    config = NearDupConfig(
        shingle_words=args.shingle_words,
        num_perm=args.num_perm,
        bands=args.bands,
        rows=args.rows,
        threshold=args.threshold,
    )
    judge = Judge(config)
    print("\n".join(machine_lines()))
    print(f"config  : {config.describe()}")
    started = time.perf_counter()
    pairs = same_title_pairs(corpus)
    pairs += synthetic_pairs(corpus, args.per_kind, args.seed)
    pairs += hard_negatives(corpus, judge, per_file=60)
    header = [
        "pairs",
        "n",
        "true J",
        "linked",
        "recall J>=0.6",
        "linked 0.4-0.6",
        "linked J<0.4",
        "max |est-true|",
    ]
    print()
    print(table(header, evaluate(pairs, judge)))
    linked = [p for p in pairs if judge.linked(p.a, p.b)]
    wrong = [p for p in linked if judge.true(p.a, p.b) < 0.4]
    high = [p for p in pairs if judge.true(p.a, p.b) >= 0.6]
    print()
    print(
        f"all sets: precision (links with true J >= 0.4) "
        f"{_share(len(linked) - len(wrong), len(linked))}, "
        f"recall (J >= 0.6 linked) {_share(sum(judge.linked(p.a, p.b) for p in high), len(high))}"
    )
    check = all_samples_check(corpus, judge)
    print()
    print("across all samples (every pair, exact):")
    cells = [[k, f"{v:.3f}" if isinstance(v, float) else str(v)] for k, v in check.items()]
    print(table(["what", "count"], cells))
    print(f"\n({time.perf_counter() - started:.1f} s)")
    ok = not wrong and check["links under 0.4"] == 0
    ok = ok and all(judge.linked(p.a, p.b) for p in high)
    ok = ok and check["linked of >= 0.6"] == check["pairs >= 0.6"]
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
