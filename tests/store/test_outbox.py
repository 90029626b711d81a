"""The transactional outbox and its relay (worker/outbox.py) on a real SQLite store: what a
publish announces, cursors, and the webhook (a real HTTP server on loopback) with its signature
and retries."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.dumps import BRIDGE, HARBOUR, LIBRARY, ORCHARD
from tests.helpers_unit import record, sha, sqlite_store
from worker.outbox import Relay, Webhook, sign
from worker.store import Store

SECRET = "not-a-real-secret"


def _publish(store: Store, name: str, stories: list[Any], owner: str = "task-1") -> None:
    digest = sha(name)
    if store.ledger.get_file(digest) is None:
        store.ledger.claim(digest, name, f"/work/{digest}", 1)
    row = store.ledger.get_file(digest)
    if row["task_id"] != owner or row["state"] not in ("processing", "stored"):
        assert store.ledger.start(digest, owner, lease_seconds=60) is not None
    records = [record(s, digest, name, i, 1 + 10 * i) for i, s in enumerate(stories)]
    store.publish(digest, name, records, owner=owner, failed=0, unplaced=0, encoding="utf-8")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = sqlite_store(tmp_path)
    yield store
    store.close()


def test_a_publish_announces_its_new_records_only(store: Store) -> None:
    """New records, in file order; not a record already stored (an exact duplicate), not a
    publish redelivered after a crash."""
    _publish(store, "a.txt", [HARBOUR, ORCHARD])
    _publish(store, "a.txt", [HARBOUR, ORCHARD])  # redelivered
    _publish(store, "b.txt", [ORCHARD, LIBRARY])
    announced = store.announcements(0)
    assert [(a.seq, a.title, a.file) for a in announced] == [
        (1, HARBOUR.title, "a.txt"),
        (2, ORCHARD.title, "a.txt"),
        (3, LIBRARY.title, "b.txt"),
    ]
    assert [a.title for a in store.announcements(2)] == [LIBRARY.title]
    assert store.last_announced() == 3
    assert [(seq, r.title) for seq, r in store.iter_announced(1, through=2)] == [(2, ORCHARD.title)]


def test_cursors_only_move_forward(store: Store) -> None:
    assert store.cursor("somewhere") == 0
    store.advance_cursor("somewhere", 5)
    store.advance_cursor("somewhere", 3)  # a late, slower relay
    assert store.cursor("somewhere") == 5
    assert store.cursor("elsewhere") == 0


class _Receiver(BaseHTTPRequestHandler):
    failures_left = 0
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"failures_left": 2, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_gets_signed_batches_and_is_retried_until_it_answers(
    store: Store, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    webhook = Webhook(url, SECRET, timeout_s=5)
    relay = Relay(store, [webhook], interval_s=0.05)
    _publish(store, "a.txt", [HARBOUR, ORCHARD])
    assert relay.pump(webhook) == 0  # 503: not delivered, the cursor stays
    assert store.cursor(webhook.name) == 0
    relay._retry_at[webhook.name] = 0.0  # skip the backoff (0.5 s, then 1 s) in this test
    assert relay.pump(webhook) == 0  # 503 again
    relay._retry_at[webhook.name] = 0.0
    assert relay.pump(webhook) == 2
    assert store.cursor(webhook.name) == 2
    _publish(store, "b.txt", [LIBRARY, BRIDGE])
    assert relay.pump(webhook) == 2
    assert relay.pump(webhook) == 0  # nothing new

    batches = []
    for headers, body in handler.received:
        expected = "sha256=" + sign(SECRET.encode(), body)
        assert hmac.compare_digest(headers["X-Newsingest-Signature"], expected)
        batches.append(json.loads(body)["records"])
    assert [[r["title"] for r in batch] for batch in batches] == [
        [HARBOUR.title, ORCHARD.title],
        [LIBRARY.title, BRIDGE.title],
    ]
    assert [handler.received[i][0]["X-Newsingest-Delivery"] for i in range(2)] == ["1-2", "3-4"]
    assert batches[0][0]["file"] == "a.txt"


def test_a_failing_destination_does_not_hold_up_the_others(
    store: Store, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.failures_left = 0
    working = Webhook(url, SECRET)
    broken = Webhook("http://127.0.0.1:9/nothing-listens-here", SECRET, timeout_s=1)
    relay = Relay(store, [broken, working], interval_s=0.05)
    _publish(store, "a.txt", [HARBOUR])
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if store.cursor(working.name) == 1:
                break
            threading.Event().wait(0.05)
    finally:
        relay.stop()
        thread.join(10)
    assert store.cursor(working.name) == 1
    assert store.cursor(broken.name) == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_long_destination_name_keeps_its_cursor(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A stream key or webhook name of any length (varchar(64) once made PostgreSQL refuse the
    cursor, and the relay re-deliver forever)."""
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path}/s.sqlite"
    )
    store = Store.from_url(url)
    try:
        name = "redis-stream:" + "k" * 300
        store.advance_cursor(name, 7)
        assert store.cursor(name) == 7
    finally:
        store.close()


def test_webhook_destination_names_no_secret_of_its_url() -> None:
    hook = Webhook("https://hooks.example.org/in?token=s3cr3t", SECRET)
    assert hook.name.startswith("webhook:hooks.example.org:")
    assert "s3cr3t" not in hook.name
    assert hook.name != Webhook("https://hooks.example.org/in?token=other", SECRET).name


def test_tail_counts_announcements_not_numbers(store: Store) -> None:
    """Announcement numbers have gaps (a publish rolled back burns them on PostgreSQL): the
    last N are N announcements."""
    from sqlalchemy import insert

    from worker.store.schema import outbox

    with store.engine.begin() as conn:
        for seq in (1, 2, 3, 40):
            conn.execute(
                insert(outbox).values(seq=seq, article_id=f"a{seq}", file="f", created_at=0.0)
            )
    assert store.announced_before_last(3) == 1  # read after 1: 2, 3, 40
    assert store.announced_before_last(10) == 0
    assert store.announced_before_last(0) == 40


def test_a_redelivered_batch_trimmed_from_the_stream_meanwhile_is_not_a_mismatch(
    store: Store, redis_url: str
) -> None:
    """The relay died after its XADDs, the stream was trimmed past them since: delivering the
    batch again adds nothing and raises nothing; a stream another store wrote still refuses."""
    import uuid

    import redis

    from worker.outbox import RedisStream, StreamMismatchError

    key = f"newsingest:articles:test-{uuid.uuid4().hex[:8]}"
    stream = RedisStream(redis_url, key)
    client = redis.Redis.from_url(redis_url)
    try:
        _publish(store, "a.txt", [HARBOUR, ORCHARD, LIBRARY])
        batch = store.announcements(0)
        stream.deliver(batch)
        client.xtrim(key, maxlen=1, approximate=False)  # 1-1 and 2-1 trimmed away
        stream.deliver(batch)
        assert [entry_id for entry_id, _ in client.xrange(key)] == [b"3-1"]
        client.delete(key)
        client.xadd(key, {"id": "another store's"}, id="9-1")
        with pytest.raises(StreamMismatchError):
            stream.deliver(batch)
    finally:
        client.delete(key)
        client.close()
