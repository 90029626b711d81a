"""The outbox relay: new records, as the store's publishes announced them, delivered to services.

Every publish writes an announcement (``outbox`` table) per new record in its own transaction,
numbered in commit order. The relay, a thread of the watcher, reads the announcements past each
destination's cursor, delivers them and then moves that cursor (``outbox_cursors``). A crash
between the delivery and the move delivers them again: consumers get every record at least
once, in commit order, with its id to de-duplicate on.

Destinations:
- :class:`RedisStream` (``XADD newsingest:articles``) when the broker is Redis. Entry ids are the
  announcement numbers (``<seq>-1``), and Redis refuses an id not above the stream's last one,
  so a re-delivery after a crash adds nothing: each consumer group sees every record once.
- :class:`Webhook`: a POST of a JSON batch, signed with HMAC-SHA256 of the body under a shared
  secret (``X-Newsingest-Signature: sha256=<hex>``), retried with backoff while it fails.

No Celery here: the watcher wires it in (``worker/cli.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict
from typing import Any, Protocol

from worker import faults
from worker.log import elapsed_ms, get_logger
from worker.store.store import Announcement, Store

log = get_logger("newsingest.outbox")

STREAM_KEY = "newsingest:articles"
_BATCH = 500
_MAX_BACKOFF_S = 60.0


class Destination(Protocol):
    name: str

    def deliver(self, batch: list[Announcement]) -> None:
        """Deliver every announcement of ``batch`` or raise."""


def stream_fields(item: Announcement) -> dict[str, str]:
    """A stream entry's fields: strings, with countries as JSON and nulls as ""."""
    return {
        "seq": str(item.seq),
        "id": item.id,
        "title": item.title,
        "language": item.language or "",
        "countries": json.dumps(item.countries or []),
        "duplicate_of": item.duplicate_of or "",
        "file": item.file,
        "ingested_at": item.ingested_at,
    }


class RedisStream:
    """XADD to a Redis stream under ids ``<seq>-1``, trimmed to about ``maxlen`` entries."""

    def __init__(self, url: str, key: str = STREAM_KEY, maxlen: int | None = 1_000_000) -> None:
        import redis

        self.name = f"redis-stream:{key}"
        self.key = key
        self.maxlen = maxlen
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)

    def deliver(self, batch: list[Announcement]) -> None:
        import redis

        pipe = self.client.pipeline(transaction=False)
        for item in batch:
            pipe.xadd(
                self.key,
                stream_fields(item),  # type: ignore[arg-type]
                id=f"{item.seq}-1",
                maxlen=self.maxlen,
                approximate=True,
            )
        for item, result in zip(batch, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(result, redis.ResponseError) and "equal or smaller" in str(result):
                self._check_delivered(item)
            elif isinstance(result, Exception):
                raise result

    def _check_delivered(self, item: Announcement) -> None:
        """An id refused as not above the stream's last: delivered before a crash, if the entry
        under it is this record. Anything else is a stream this store did not write (an old
        stream beside a new store): refuse loudly rather than drop records."""
        found = self.client.xrange(self.key, f"{item.seq}-1", f"{item.seq}-1")
        if found and found[0][1].get(b"id") == item.id.encode():
            return
        if not found:
            # trimmed (stream_maxlen) or XDELed since it was delivered: Redis 7 counts every
            # entry ever added, so a stream that lost entries and now starts past this one
            # had it (an older Redis cannot tell: refused)
            info = self.client.xinfo_stream(self.key)
            added, first = info.get("entries-added"), info.get("recorded-first-entry-id")
            lost_some = added is not None and added > info["length"]
            if lost_some and first is not None and _seq_of(first) > item.seq:
                return
            removed = info.get("max-deleted-entry-id")
            if lost_some and removed is not None and _seq_of(removed) >= item.seq:
                return
        raise StreamMismatchError(
            f"stream {self.key} holds ids past {item.seq}-1 that this store did not write: "
            f"delete it (DEL {self.key}) or set stream_key to a new name"
        )


def _seq_of(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0])


class StreamMismatchError(Exception):
    """The Redis stream was written by another store (or an earlier one of the same name)."""


class Webhook:
    """POST ``{"records": [...]}`` to ``url``, signed with ``secret``."""

    def __init__(self, url: str, secret: str, timeout_s: float = 10.0) -> None:
        # the cursor's key and what the logs show: the host and a digest of the whole URL, never
        # the URL itself (it may carry a token)
        host = urllib.parse.urlsplit(url).hostname or "?"
        self.name = f"webhook:{host}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        self.url = url
        self.secret = secret.encode()
        self.timeout_s = timeout_s

    def deliver(self, batch: list[Announcement]) -> None:
        body = json.dumps({"records": [asdict(item) for item in batch]}).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Newsingest-Signature": "sha256=" + sign(self.secret, body),
                "X-Newsingest-Delivery": f"{batch[0].seq}-{batch[-1].seq}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as error:  # a 4xx/5xx: not delivered, retried
            raise OSError(f"webhook answered {error.code}") from error


def sign(secret: bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body``: what a receiver recomputes and compares
    (``hmac.compare_digest``) with the ``X-Newsingest-Signature`` header's."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class Relay:
    """Delivers the outbox to each destination until ``stop()``; safe to run in a thread."""

    def __init__(self, store: Store, destinations: list[Any], interval_s: float = 0.5) -> None:
        self.store = store
        self.destinations = destinations
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._retry_at = {d.name: 0.0 for d in destinations}
        self._failures = {d.name: 0 for d in destinations}

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        log.info("relay.started", destinations=[d.name for d in self.destinations])
        while not self._stop.is_set():
            busy = False
            for destination in self.destinations:
                busy |= self.pump(destination) == _BATCH
            if not busy:
                self._stop.wait(self.interval_s)
        log.info("relay.stopped")

    def pump(self, destination: Destination) -> int:
        """Deliver one batch past ``destination``'s cursor; the number delivered (0 when there
        was none, or while the destination backs off after a failure)."""
        if time.monotonic() < self._retry_at[destination.name]:
            return 0
        started = time.perf_counter()
        try:
            after = self.store.cursor(destination.name)
            batch = self.store.announcements(after, limit=_BATCH)
            if not batch:
                return 0
            destination.deliver(batch)
            faults.point("relay.after_deliver")  # a crash here re-delivers this batch
            self.store.advance_cursor(destination.name, batch[-1].seq)
        except Exception as exc:  # the destination or the store away: back off, try again
            self._failures[destination.name] += 1
            backoff = min(_MAX_BACKOFF_S, 0.5 * 2 ** (self._failures[destination.name] - 1))
            self._retry_at[destination.name] = time.monotonic() + backoff
            log.warning(
                "relay.delivery_failed",
                destination=destination.name,
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=backoff,
            )
            return 0
        self._failures[destination.name] = 0
        log.info(
            "relay.delivered",
            destination=destination.name,
            records=len(batch),
            first_seq=batch[0].seq,
            last_seq=batch[-1].seq,
            duration_ms=elapsed_ms(started),
        )
        return len(batch)


class AnnouncementWaiter:
    """Waits for new announcements: PostgreSQL's ``LISTEN`` (the publish NOTIFYs at commit) on
    a connection of its own, a plain sleep on SQLite (``tail --follow`` then polls the table)."""

    def __init__(self, store: Store) -> None:
        self._connection: Any = None
        if store.engine.dialect.name == "postgresql":
            from worker.store.store import NOTIFY

            self._connection = store.engine.raw_connection()
            driver = self._connection.driver_connection
            driver.autocommit = True
            driver.execute(f"LISTEN {NOTIFY}")

    def wait(self, timeout_s: float) -> None:
        """Return at the next announcement, or after ``timeout_s``."""
        if self._connection is None:
            time.sleep(timeout_s)
            return
        for _ in self._connection.driver_connection.notifies(timeout=timeout_s, stop_after=1):
            break

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
