"""Dedupe stage: exact duplicates by a content fingerprint (near duplicates: see issue #4)."""

from worker.dedupe.fingerprint import article_id, normalise_text

__all__ = ["article_id", "normalise_text"]
