"""Race-freedom of near-duplicate decisions: 4 real `newsingest worker` processes on real Redis and
PostgreSQL, 40 files holding versions of the same 8 stories in shuffled orders, 10 rounds.

Each round starts from an empty store (every table truncated while the workers are idle, which is
what a fresh schema would give them, without paying for 4 worker start-ups per round), takes the
files with the watcher's own ``FileTaker`` (hash, ledger claim, move to work/, enqueue on Redis) in
a shuffled order, and waits for every file to be done. Then every story must have exactly one
canonical record, every other version must point at it, and the groups must be the same in every
round, whichever version happened to be stored first.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.dumps import SHAPES, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from tests.stories_near import STORY_VERSIONS
from worker.dedupe import article_id
from worker.models import ParsedArticle
from worker.queue import TASK_PROCESS_FILE, create_app
from worker.settings import Settings
from worker.store import Store
from worker.watch.inbox import FileTaker

pytestmark = pytest.mark.integration

ROUNDS = 10
FILES = 40
PER_FILE = 4
WORKERS = 4
TABLES = ("files", "drops", "sources", "articles", "minhashes", "lsh_bands", "index_meta")


def _id(story) -> str:
    return article_id(ParsedArticle(title=story.title, paragraphs=story.paragraphs))


# story number of every version's id, and the expected groups (each story's 5 versions)
STORY_OF = {_id(v): n for n, group in enumerate(STORY_VERSIONS) for v in group}
EXPECTED = {frozenset(_id(v) for v in group) for group in STORY_VERSIONS}


def _dumps(rng: random.Random, round_number: int) -> dict[str, bytes]:
    """40 files of 4 articles: every version at least once, the rest drawn at random (so that
    versions, and exact copies, of one story land in files that different workers take)."""
    versions = [v for group in STORY_VERSIONS for v in group]
    picks = rng.sample(versions, len(versions))
    picks += [rng.choice(versions) for _ in range(FILES * PER_FILE - len(picks))]
    rng.shuffle(picks)
    dumps = {}
    for number in range(FILES):
        stories = picks[number * PER_FILE : (number + 1) * PER_FILE]
        # the same text twice in one file is one record: keep files to distinct versions
        stories = list({_id(s): s for s in stories}.values())
        shapes = [rng.choice(SHAPES) for _ in stories]
        dumps[f"r{round_number:02}-{number:02}.txt"] = render_dump(stories, shapes).encode()
    return dumps


def _groups(store: Store) -> tuple[set[frozenset[str]], list[str]]:
    """The stored groups (canonical record + its versions), and what is wrong with them."""
    problems = []
    members: dict[str, set[str]] = defaultdict(set)
    records = list(store.iter_articles(include_duplicates=True))
    canonical = {r.id for r in records if r.duplicate_of is None}
    for r in records:
        root = r.duplicate_of or r.id
        if root not in canonical:
            problems.append(f"{r.id[:8]} points at {root[:8]}, which is not a canonical record")
        members[root].add(r.id)
    for root, ids in members.items():
        stories = {STORY_OF[i] for i in ids}
        if len(stories) != 1:
            problems.append(f"group of {root[:8]} mixes stories {sorted(stories)}")
    per_story = defaultdict(int)
    for root in canonical:
        per_story[STORY_OF[root]] += 1
    problems += [f"story {n} has {c} canonical records" for n, c in per_story.items() if c != 1]
    return {frozenset(ids) for ids in members.values()}, problems


@pytest.fixture
def quiet_redis_url(redis_server: str):
    """A Redis database that is empty *and* has no client connected: workers leaked by another
    test session keep consuming from a database that session flushed, and would take our tasks."""
    import redis

    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{redis_server}/{db}")
        me = client.client_id()
        busy = any(int(c.get("db", -1)) == db and int(c["id"]) != me for c in client.client_list())
        if not busy and client.dbsize() == 0 and client.set("newsingest:race-test", "1", nx=True):
            break
    else:
        pytest.skip("no quiet Redis database")
    yield f"{redis_server}/{db}"
    client.flushdb()


def _wait_done(store: Store, celery, round_number: int, resent: list[str]) -> None:
    """Wait for every file to be done. A file still "queued" after 20 s lost its message (the
    broker is at-most-once on a crash, and the Redis server is shared with other test sessions):
    send it again, as the watcher's reconciler does, and count it."""
    deadline = time.monotonic() + 20
    while store.status()["files"]["done"] < FILES:
        if time.monotonic() > deadline:
            for row in store.ledger.files_in_state("queued"):
                celery.send_task(TASK_PROCESS_FILE, args=[row["sha256"]])
                resent.append(row["sha256"])
            wait_until(
                lambda: store.status()["files"]["done"] == FILES,
                timeout=60,
                what=f"round {round_number}: all files done",
            )
            return
        time.sleep(0.2)


def test_four_workers_make_one_canonical_record_per_story(
    tmp_path: Path, quiet_redis_url: str, postgres_url: str
) -> None:
    redis_url = quiet_redis_url
    env = {
        "NEWSINGEST_BROKER_URL": redis_url,
        "NEWSINGEST_STORE_URL": postgres_url,
        "NEWSINGEST_INBOX": str(tmp_path / "inbox"),
        "NEWSINGEST_DATA_DIR": str(tmp_path / "data"),
        # dedupe is under test, not enrichment: the cheap enrichers start in a second
        "NEWSINGEST_ENRICHERS": '["language", "stats"]',
    }
    settings = Settings(
        inbox=tmp_path / "inbox",
        data_dir=tmp_path / "data",
        broker_url=redis_url,
        store_url=postgres_url,
    )
    settings.ensure_dirs()
    workers = [
        NewsingestProcess(["worker", "--concurrency", "1"], tmp_path, env, f"worker{i}")
        for i in range(WORKERS)
    ]
    store = Store.from_url(postgres_url)
    celery = create_app(settings)
    taker = FileTaker(
        store,
        settings.inbox,
        settings.work_dir,
        settings.processed_dir,
        lambda sha256: celery.send_task(TASK_PROCESS_FILE, args=[sha256]).id,
    )
    outcomes = []
    resent: list[str] = []
    try:
        for worker in workers:
            worker.wait_for("worker.process_ready", timeout=120)
        for round_number in range(ROUNDS):
            with store.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
            rng = random.Random(round_number)
            dumps = _dumps(rng, round_number)
            for name, data in dumps.items():
                (settings.inbox / name).write_bytes(data)
            order = list(dumps)
            rng.shuffle(order)
            for name in order:
                assert taker.take(settings.inbox / name) == "queued"
            _wait_done(store, celery, round_number, resent)
            groups, problems = _groups(store)
            status = store.status()
            outcomes.append(groups)
            assert not problems, f"round {round_number}: {problems}"
            assert groups == EXPECTED, f"round {round_number}: groups differ from the stories"
            assert (status["articles"], status["near_duplicates"]) == (8, 32)
            assert status["files"]["failed"] == 0
        assert all(groups == outcomes[0] for groups in outcomes)
        # the workers really shared the work, and none had to retry
        done = [sum(e.get("event") == "file.done" for e in w.events()) for w in workers]
        assert sum(done) == ROUNDS * FILES and all(done), done
        retries = [e for w in workers for e in w.events() if e.get("event") == "task.retry"]
        assert not retries, retries[:3]
        print(f"messages re-sent for files left queued: {len(resent)}")
    finally:
        for worker in workers:
            worker.stop()
        store.close()
