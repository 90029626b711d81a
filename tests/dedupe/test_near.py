"""Tests for worker/dedupe/near.py: shingles, signatures, band keys, the decision (no store)."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys

import numpy as np
import pytest

from tests.stories_near import BASE, STORY_VERSIONS
from worker.dedupe.near import (
    DuplicateFilter,
    Indexed,
    MemoryLshIndex,
    MinhashSignature,
    NearDupConfig,
    Signature,
    estimate_jaccard,
    jaccard,
    shingles,
)

CONFIG = NearDupConfig()
SIGNER = MinhashSignature(CONFIG)

# Pinned: a change here means every stored index is stale (bump SHINGLER_VERSION, rebuild).
BAND_KEYS_SHA256 = "62f3266206b38766ed72e2e6e2f8aa03c53ae2be1e515118031aafc68013df4e"
SIGNATURE_SHA256 = "2e06106ee11157059327533449b0cea1367371ecbc2bb73d5cbc80537bbd131d"


def _body(story) -> str:
    return "\n\n".join(story.paragraphs)


def _sig(story) -> Signature:
    sig = SIGNER(story.title, _body(story))
    assert sig is not None
    return sig


def _shingles(story) -> set[bytes]:
    return shingles(story.title, _body(story), CONFIG.shingle_words)


class TestConfig:
    def test_bands_must_fit_the_permutations(self):
        """bands x rows beyond num_perm is refused at construction, with the numbers."""
        with pytest.raises(ValueError, match="40 x 8"):
            NearDupConfig(num_perm=256, bands=40, rows=8)

    def test_fingerprint_ignores_the_threshold(self):
        """The threshold changes decisions, not the index: no rebuild for it."""
        assert NearDupConfig(threshold=0.7).fingerprint == CONFIG.fingerprint
        assert NearDupConfig(num_perm=128, bands=32, rows=4).fingerprint != CONFIG.fingerprint
        assert NearDupConfig(shingle_words=4).fingerprint != CONFIG.fingerprint


class TestShingles:
    def test_normalised_like_the_id(self):
        """Case, spacing and punctuation do not make two texts different."""
        a = shingles("A Title", "One two, three four five six.", 5)
        b = shingles("a  title", "ONE two three\nfour five six", 5)
        assert a == b

    def test_short_text_is_one_shingle_and_empty_is_none(self):
        """Fewer words than a shingle: one shingle of all of them; no words: no signature."""
        assert shingles("Hi", "there", 5) == {b"hi there"}
        assert SIGNER("", "  ") is None


class TestSignature:
    def test_stable_digest(self):
        """A fixed text gives fixed band keys and signature bytes, on every machine."""
        sig = _sig(BASE[0])
        assert hashlib.sha256(repr(sig.band_keys).encode()).hexdigest() == BAND_KEYS_SHA256
        assert hashlib.sha256(sig.to_bytes()).hexdigest() == SIGNATURE_SHA256
        assert len(sig.band_keys) == CONFIG.bands
        assert all(-(2**63) <= k < 2**63 for k in sig.band_keys)

    def test_same_in_another_process(self):
        """Another interpreter (another hash seed) computes the same band keys."""
        code = (
            "from tests.stories_near import BASE;"
            "from worker.dedupe.near import MinhashSignature, NearDupConfig;"
            "s = BASE[0];"
            "sig = MinhashSignature(NearDupConfig())(s.title, '\\n\\n'.join(s.paragraphs));"
            "print(repr(sig.band_keys))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": "12345", "PATH": ""},
        ).stdout.strip()
        assert out == repr(_sig(BASE[0]).band_keys)

    def test_bytes_round_trip(self):
        sig = _sig(BASE[1])
        back = Signature.from_bytes(sig.to_bytes(), CONFIG)
        assert np.array_equal(back.values, sig.values) and back.band_keys == sig.band_keys
        assert len(sig.to_bytes()) == 4 * CONFIG.num_perm

    def test_many_equals_one_by_one(self):
        texts = [(s.title, _body(s)) for s in BASE] + [("", "")]
        many = SIGNER.many(texts)
        assert many[-1] is None
        for sig, (title, body) in zip(many[:-1], texts[:-1], strict=True):
            assert sig.band_keys == SIGNER(title, body).band_keys

    def test_estimate_close_to_true_jaccard(self):
        """Within 0.1 of the exact Jaccard (3 standard errors at 256 permutations) for every
        pair of versions of one story and for pairs of different stories."""
        for group in STORY_VERSIONS:
            for a, b in itertools.combinations(group, 2):
                true = jaccard(_shingles(a), _shingles(b))
                assert abs(estimate_jaccard(_sig(a), _sig(b)) - true) < 0.1
        for a, b in itertools.combinations(BASE, 2):
            assert estimate_jaccard(_sig(a), _sig(b)) < 0.05


def _run(stories) -> dict[str, tuple[str | None, float | None]]:
    """Decide stories in order against a MemoryLshIndex, as the store does."""
    index = MemoryLshIndex()
    judge = DuplicateFilter(CONFIG)
    decided = {}
    for number, story in enumerate(stories):
        sig = _sig(story)
        key = f"{number}:{story.title}"
        link = judge.decide(key, sig, index.candidates(sig.band_keys), index.get)
        index.add(Indexed(key, sig, link.duplicate_of if link else key))
        decided[key] = (link.duplicate_of, link.similarity) if link else (None, None)
    return decided


class TestDuplicateFilter:
    def test_versions_linked_to_the_first(self):
        """Every version of a story links to the story's first version, never to another."""
        stories = [v for group in STORY_VERSIONS for v in group]
        decided = _run(stories)
        keys = list(decided)
        for start in range(0, len(keys), 5):
            first, *later = keys[start : start + 5]
            assert decided[first] == (None, None)
            for key in later:
                duplicate_of, similarity = decided[key]
                assert duplicate_of == first
                assert similarity >= CONFIG.threshold

    def test_different_stories_on_one_topic_not_linked(self):
        decided = _run(BASE)
        assert all(link == (None, None) for link in decided.values())

    def test_chain_points_at_the_first_version(self):
        """C is found only through B (a version of A): C's duplicate_of is A, with the
        similarity against A, which may be under the threshold."""
        words = [f"w{i}" for i in range(120)]
        a = " ".join(words)
        b = " ".join(words[30:] + [f"x{i}" for i in range(30)])
        c = " ".join(words[60:] + [f"x{i}" for i in range(60)])
        sig = {name: SIGNER("t", text) for name, text in (("a", a), ("b", b), ("c", c))}
        index = MemoryLshIndex()
        judge = DuplicateFilter(CONFIG)
        index.add(Indexed("a", sig["a"], "a"))
        link_b = judge.decide("b", sig["b"], index.candidates(sig["b"].band_keys), index.get)
        assert link_b and link_b.duplicate_of == "a"
        index.add(Indexed("b", sig["b"], "a"))
        link_c = judge.decide("c", sig["c"], index.candidates(sig["c"].band_keys), index.get)
        assert link_c and (link_c.duplicate_of, link_c.matched) == ("a", "b")
        assert link_c.similarity == estimate_jaccard(sig["c"], sig["a"])
        assert link_c.similarity < link_c.matched_similarity

    def test_never_a_duplicate_of_itself(self):
        """The article's own id among the candidates (a redelivery) is skipped."""
        sig = _sig(BASE[0])
        assert DuplicateFilter(CONFIG).decide("me", sig, {"me": Indexed("me", sig, "me")}) is None
