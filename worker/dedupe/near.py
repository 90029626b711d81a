"""Near duplicates: MinHash signatures over word shingles, LSH band keys, and the decision.

Pure code: no SQL, no Celery. Named after datatrove's minhash steps (signature → buckets → filter),
sharing one config, but online: each new article is decided against an index of everything stored
(``LshIndex``; the store keeps the shared one, see ``worker/store/near.py``).

Everything that ends up in the index is a function of the text and of ``NearDupConfig`` only:
fixed permutation seed, fixed permutation scheme, little-endian bytes, blake2b band keys. So a
signature computed on one machine, in one process, matches one computed anywhere else.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from worker.dedupe.fingerprint import normalise_text

if TYPE_CHECKING:
    import numpy as np

# NumPy and datasketch are imported where signatures are made or read, not here: the CLI's read
# commands import this module (through the store) and must answer fast (0.1 s and 0.5 s).

# datasketch >= 2.0's default permutation scheme, named so that a future default cannot change our
# signatures under a stored index (it is part of the config fingerprint).
MINHASH_SCHEME = "affine32"
# Bump when the way text becomes shingles changes: stored signatures are then stale.
SHINGLER_VERSION = 1
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class NearDupConfig:
    """The one config shared by every near-duplicate step.

    Defaults chosen by measurement (``bench/near_dup_quality.py``): every pair whose true Jaccard
    of word 5-shingles is 0.6 or more is linked, none under 0.4.

    Attributes:
        shingle_words: words per shingle. Smaller catches looser rewrites but makes unrelated
            articles on one topic look alike; 5 is what the thresholds are stated in.
        num_perm: permutations of the signature. The Jaccard estimate's standard error is
            sqrt(J(1-J)/num_perm): 0.031 at J=0.6 with 256, i.e. the 0.1 margin on either side of
            the threshold is over 3 standard errors. Costs 4 bytes per permutation per article.
        bands, rows: LSH layout, using the first ``bands * rows`` permutations. A pair with Jaccard
            J becomes a candidate with probability 1 - (1 - J**rows)**bands: with 40 x 3, 0.9952 at
            J=0.5, 0.99994 at 0.6, 0.28 at 0.2. More bands: more index rows and more candidates to
            verify; more rows: fewer candidates, more missed pairs.
        threshold: estimated Jaccard at or above which a candidate is a version of the same story.
        seed: seed of the permutations; part of the index's identity, never change casually.
    """

    shingle_words: int = 5
    num_perm: int = 256
    bands: int = 40
    rows: int = 3
    threshold: float = 0.5
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_words < 1:
            raise ValueError("shingle_words must be at least 1")
        if self.bands < 1 or self.rows < 1:
            raise ValueError("bands and rows must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({self.num_perm})"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")

    @classmethod
    def from_settings(cls, settings: Any) -> NearDupConfig:
        """The config held by a ``worker.settings.Settings`` (its ``near_dup_*`` fields)."""
        return cls(
            shingle_words=settings.near_dup_shingle_words,
            num_perm=settings.near_dup_num_perm,
            bands=settings.near_dup_bands,
            rows=settings.near_dup_rows,
            threshold=settings.near_dup_threshold,
        )

    @property
    def fingerprint(self) -> str:
        """Identity of the index that this config builds. The threshold is not in it: changing the
        threshold changes future decisions, not what is stored."""
        fields = asdict(self)
        del fields["threshold"]
        fields["scheme"] = MINHASH_SCHEME
        fields["shingler"] = SHINGLER_VERSION
        payload = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()

    def describe(self) -> str:
        return (
            f"{self.shingle_words}-word shingles, {self.num_perm} permutations, "
            f"{self.bands} bands x {self.rows} rows, threshold {self.threshold}"
        )


# --- shingles ------------------------------------------------------------------------------------


def words(title: str, body: str) -> list[str]:
    """The words of an article, normalised like its id (``normalise_text``), punctuation dropped:
    a changed quote mark or comma is not an edit of the story."""
    return _WORD.findall(normalise_text(title) + "\n" + normalise_text(body))


def shingles(title: str, body: str, size: int) -> set[bytes]:
    """The set of ``size``-word shingles; a text shorter than ``size`` words is one shingle."""
    tokens = words(title, body)
    if not tokens:
        return set()
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    """The true Jaccard similarity of two shingle sets (for measurement and tests)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# --- signatures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """A MinHash signature: ``num_perm`` unsigned 32-bit minima, and the LSH band keys."""

    values: np.ndarray  # uint32, shape (num_perm,)
    band_keys: tuple[int, ...]  # signed 64-bit, one per band

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, config: NearDupConfig) -> Signature:
        import numpy as np

        values = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        if len(values) != config.num_perm:
            raise ValueError(f"signature of {len(values)} values, config has {config.num_perm}")
        return cls(values, band_keys(values, config))


def band_keys(values: np.ndarray, config: NearDupConfig) -> tuple[int, ...]:
    """One stable key per band: blake2b-64 of the band's number and its rows' bytes, as a signed
    64-bit integer (what SQL BIGINT holds). Never Python's ``hash()``: salted per process."""
    raw = values[: config.bands * config.rows].astype("<u4").reshape(config.bands, config.rows)
    keys = []
    for number, band in enumerate(raw):
        digest = hashlib.blake2b(
            band.tobytes(), digest_size=8, person=b"nsband%02d" % (number % 100)
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def estimate_jaccard(a: Signature, b: Signature) -> float:
    """The fraction of permutations whose minima agree: an unbiased estimate of Jaccard."""
    import numpy as np

    return float(np.count_nonzero(a.values == b.values)) / len(a.values)


class MinhashSignature:
    """Step 1: text → ``Signature``. Build once per process; the permutations are computed here."""

    def __init__(self, config: NearDupConfig) -> None:
        from datasketch import MinHash

        self.config = config
        self._minhash = MinHash
        self._template = MinHash(num_perm=config.num_perm, seed=config.seed, scheme=MINHASH_SCHEME)

    def __call__(self, title: str, body: str) -> Signature | None:
        """The signature of one article, or None for an article without a single word."""
        return self.many([(title, body)])[0]

    def many(self, texts: Sequence[tuple[str, str]]) -> list[Signature | None]:
        """Signatures of many ``(title, body)`` pairs, with the permutations shared."""
        import numpy as np

        sets = [shingles(title, body, self.config.shingle_words) for title, body in texts]
        present = [s for s in sets if s]
        minhashes = iter(
            self._minhash.bulk(
                present,
                num_perm=self.config.num_perm,
                seed=self.config.seed,
                scheme=MINHASH_SCHEME,
                permutations=self._template.permutations,
            )
        )
        result: list[Signature | None] = []
        for shingle_set in sets:
            if not shingle_set:
                result.append(None)
                continue
            values = np.asarray(next(minhashes).hashvalues, dtype=np.uint32)
            result.append(Signature(values, band_keys(values, self.config)))
        return result


# --- index and decision --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Indexed:
    """What the index knows of a stored article: its signature and the story it belongs to."""

    article_id: str
    signature: Signature
    canonical: str  # its own id for a canonical record, else its duplicate_of


@dataclass(frozen=True, slots=True)
class Link:
    """The decision for a new article: a version of ``duplicate_of``."""

    duplicate_of: str
    similarity: float  # estimated Jaccard against duplicate_of (the canonical record)
    matched: str  # the stored article that the lookup found (the canonical or another version)
    matched_similarity: float


class LshIndex(Protocol):
    """Step 2: band keys → stored articles. The store implements it over SQL for all workers."""

    def candidates(self, keys: Iterable[int]) -> Mapping[str, Indexed]: ...

    def add(self, item: Indexed) -> None: ...


class MemoryLshIndex:
    """An ``LshIndex`` in a dict: the articles of one batch, benchmarks, tests."""

    def __init__(self) -> None:
        self._bands: dict[int, list[str]] = defaultdict(list)
        self._items: dict[str, Indexed] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._items

    def get(self, article_id: str) -> Indexed | None:
        return self._items.get(article_id)

    def candidates(self, keys: Iterable[int]) -> dict[str, Indexed]:
        found: dict[str, Indexed] = {}
        for key in keys:
            for article_id in self._bands.get(key, ()):
                found[article_id] = self._items[article_id]
        return found

    def add(self, item: Indexed) -> None:
        if item.article_id in self._items:
            return
        self._items[item.article_id] = item
        for key in item.signature.band_keys:
            self._bands[key].append(item.article_id)


class DuplicateFilter:
    """Step 3: verify candidates against their signatures and pick the story to link to."""

    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def decide(
        self,
        article_id: str,
        signature: Signature,
        candidates: Mapping[str, Indexed],
        lookup: Callable[[str], Indexed | None] | None = None,
    ) -> Link | None:
        """The best verified candidate's story, or None: this article starts a story of its own.

        Ties (equal estimates) go to the smaller id, so that the decision does not depend on the
        order in which the index returned the candidates.

        Args:
            lookup: finds a canonical record that is not among the candidates (the match was one
                of its versions), for the similarity against it.
        """
        best: tuple[float, str] | None = None
        for other_id, other in candidates.items():
            if other_id == article_id:  # its own earlier record: never a duplicate of itself
                continue
            estimate = estimate_jaccard(signature, other.signature)
            if estimate < self.config.threshold:
                continue
            if best is None or (-estimate, other_id) < (-best[0], best[1]):
                best = (estimate, other_id)
        if best is None:
            return None
        matched = candidates[best[1]]
        similarity = best[0]
        if matched.canonical != matched.article_id:
            canonical = candidates.get(matched.canonical) or (lookup and lookup(matched.canonical))
            if canonical:
                similarity = estimate_jaccard(signature, canonical.signature)
        return Link(matched.canonical, similarity, matched.article_id, best[0])


__all__ = [
    "MINHASH_SCHEME",
    "DuplicateFilter",
    "Indexed",
    "Link",
    "LshIndex",
    "MemoryLshIndex",
    "MinhashSignature",
    "NearDupConfig",
    "Signature",
    "band_keys",
    "estimate_jaccard",
    "jaccard",
    "shingles",
    "words",
]
