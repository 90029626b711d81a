"""Dedupe stage: exact duplicates by a content fingerprint, near duplicates by MinHash/LSH."""

from worker.dedupe.fingerprint import article_id, normalise_text
from worker.dedupe.near import (
    DuplicateFilter,
    LshIndex,
    MinhashSignature,
    NearDupConfig,
    Signature,
)

__all__ = [
    "DuplicateFilter",
    "LshIndex",
    "MinhashSignature",
    "NearDupConfig",
    "Signature",
    "article_id",
    "normalise_text",
]
