"""Store stage: the file ledger and the article records (SQLite or PostgreSQL)."""

from worker.store.db import create_store_engine
from worker.store.store import STATES, ChunkPlan, Claim, PublishCounts, Store

__all__ = ["STATES", "ChunkPlan", "Claim", "PublishCounts", "Store", "create_store_engine"]
