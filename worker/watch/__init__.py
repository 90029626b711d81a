"""Watch stage: notice complete files in the inbox, claim them in the ledger, enqueue them."""

from worker.watch.inbox import FileTaker, SettleTracker, is_ignored, iter_inbox
from worker.watch.watcher import Watcher

__all__ = ["FileTaker", "SettleTracker", "Watcher", "is_ignored", "iter_inbox"]
