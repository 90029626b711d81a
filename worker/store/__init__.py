"""Store stage: the file ledger and the article records (SQLite or PostgreSQL)."""

from worker.store.db import create_store_engine
from worker.store.ledger import (
    STATES,
    ChunkPlan,
    Claim,
    Due,
    FileState,
    LeaseLostError,
    Ledger,
    PublishCounts,
)
from worker.store.store import Store

__all__ = [
    "STATES",
    "ChunkPlan",
    "Claim",
    "Due",
    "FileState",
    "LeaseLostError",
    "Ledger",
    "PublishCounts",
    "Store",
    "create_store_engine",
]
