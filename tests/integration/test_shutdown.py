"""Stopping `newsingest run` and `newsingest worker`: SIGTERM or SIGINT, sent to the main
process or to its whole process group (what systemd's control-group kill, `timeout` and Ctrl-C
in a terminal do), stops them within 10 s with exit status 0, idle or busy. A pool process may
take long to start without being killed for it, and each worker has a node name of its own.
Real processes on the embedded SQLite broker and on Redis."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.dumps import Story, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.queue import create_app
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

STOP_DEADLINE = 10.0  # seconds: the product's promise for SIGTERM and SIGINT
CONCURRENCY = 2
# billiard's report of a pool process that died of a signal instead of leaving the pool
KILLED_POOL_PROCESS = re.compile(r"Process 'ForkPoolWorker-\d+' pid:\d+ exited with 'signal")


def _count(process: NewsingestProcess, event: str) -> int:
    return sum(e.get("event") == event for e in process.events())


def _start(tmp_path: Path, command: str, env: dict[str, str] | None = None) -> NewsingestProcess:
    """`newsingest COMMAND` in tmp_path, returned once every pool process has built its
    resources (idle from then on)."""
    process = NewsingestProcess(
        [command, "--concurrency", str(CONCURRENCY)], cwd=tmp_path, env=env or {}, name=command
    )
    wait_until(
        lambda: _count(process, "worker.process_ready") >= CONCURRENCY,
        timeout=240,
        what="every pool process ready",
    )
    return process


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: NewsingestProcess, sig: signal.Signals, whole_group: bool) -> tuple[int, float]:
    """Send ``sig`` to the process or to its process group; its exit status and the seconds it
    took to exit (waited for well past the deadline, so that a failure says how long it took)."""
    pid = process.process.pid
    started = time.monotonic()
    if whole_group:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)
    try:
        code = process.process.wait(90)
    except subprocess.TimeoutExpired:
        process.kill_tree()
        pytest.fail(f"{sig.name} did not stop the process in 90 s")
    elapsed = time.monotonic() - started
    process.stop()  # already exited: closes its log
    target = "process group" if whole_group else "process"
    print(f"stop: {process.log_path.stem} {sig.name} to the {target}: {elapsed:.1f} s, {code}")
    return code, elapsed


def _assert_clean_stop(
    process: NewsingestProcess, code: int, elapsed: float, sig: signal.Signals
) -> None:
    assert code == 0, f"exit status {code} after {sig.name} ({elapsed:.1f} s)"
    assert elapsed <= STOP_DEADLINE, f"{sig.name} took {elapsed:.1f} s to stop"
    log = process.log_path.read_text(errors="replace")
    assert not KILLED_POOL_PROCESS.findall(log), "a pool process died of the signal"
    pid = process.process.pid
    wait_until(lambda: not _group_alive(pid), timeout=5, what="every process of the tree gone")


SIGNALS = [signal.SIGTERM, signal.SIGINT]
TARGETS = [pytest.param(False, id="process"), pytest.param(True, id="group")]


@pytest.mark.parametrize("whole_group", TARGETS)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("command", ["run", "worker"])
def test_idle_stop_on_the_embedded_broker(
    tmp_path: Path, command: str, sig: signal.Signals, whole_group: bool
) -> None:
    """An idle `run` or `worker` (SQLite broker: billiard's shared-queue pool) stops within 10 s
    with status 0 on SIGTERM or SIGINT to the process or to the whole process group; no pool
    process is killed by the signal (one killed while it waited for work left the pool's queue
    lock taken, and the worker hung at exit until `run` SIGKILLed it 60 s later), and no process
    of the tree is left behind."""
    process = _start(tmp_path, command)
    code, elapsed = _stop(process, sig, whole_group)
    _assert_clean_stop(process, code, elapsed, sig)
    if command == "run":
        assert _count(process, "run.worker_exited") == 0  # the worker was not SIGKILLed


def test_idle_worker_on_redis_stops_on_sigterm_to_its_group(tmp_path: Path, redis_url: str) -> None:
    """The compose worker (Redis broker: Celery's asynchronous pool), idle, stops within 10 s
    with status 0 when its whole process group gets SIGTERM; no pool process is killed by it."""
    process = _start(tmp_path, "worker", {"NEWSINGEST_BROKER_URL": redis_url})
    code, elapsed = _stop(process, signal.SIGTERM, whole_group=True)
    _assert_clean_stop(process, code, elapsed, signal.SIGTERM)


WORDS = (
    "council", "harbour", "ferry", "orchard", "apple", "valley", "bridge", "library", "river",
    "mayor", "minister", "market", "school", "hospital", "railway", "station", "village",
    "farmers", "storm", "winter", "summer", "festival", "museum", "budget", "election", "court",
    "police", "weather", "coast", "mountain", "island", "factory", "workers", "union", "teachers",
    "students", "doctors", "engineers", "tourists", "fishermen", "bakery",
)  # fmt: skip


def _long_dump(articles: int) -> bytes:
    """Distinct articles, enough for one task to enrich for many seconds."""
    rng = random.Random(articles)

    def words(count: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(count))

    stories = [
        Story(
            title=f"Report {number}: {words(6).title()}",
            paragraphs=tuple(f"{words(40).capitalize()}." for _ in range(3)),
            caption=f"Photo {number} of the {rng.choice(WORDS)}",
            credit="AP",
        )
        for number in range(articles)
    ]
    return render_dump(stories).encode()


def test_busy_run_stops_in_time_and_the_file_is_finished_after_a_restart(tmp_path: Path) -> None:
    """SIGTERM to the process group of a `run` whose worker is in the middle of a long task:
    it stops within 10 s with status 0 (the task is given worker_soft_shutdown_timeout, then
    cancelled and its message handed back); a new `run` on the same folders then finishes the
    file, with every article stored once."""
    articles = 400
    env = {
        "NEWSINGEST_SETTLE_SECONDS": "0.3",
        "NEWSINGEST_CHUNK_ARTICLES": "100000",  # one task for the whole file
        "NEWSINGEST_LEASE_SECONDS": "6",  # the lease of the cancelled task runs out soon
    }
    first = _start(tmp_path, "run", env)
    (tmp_path / "inbox" / "long.txt").write_bytes(_long_dump(articles))
    first.wait_for("file.parsed", timeout=120)  # the task now enriches for many seconds
    code, elapsed = _stop(first, signal.SIGTERM, whole_group=True)
    _assert_clean_stop(first, code, elapsed, signal.SIGTERM)

    second = NewsingestProcess(["run"], cwd=tmp_path, env=env, name="run again")
    processed = tmp_path / "data" / "processed" / "long.txt"
    wait_until(processed.exists, timeout=300, what="the file to be finished after the restart")
    assert second.stop(signal.SIGTERM) == 0
    store = Store.from_url(Settings(data_dir=tmp_path / "data").resolved_store_url)
    status = store.status()
    store.close()
    assert status["files"]["done"] == 1
    assert status["articles"] == articles


def _children(pid: int) -> list[int]:
    """Process ids of ``pid``'s children (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_slow_replacement_pool_process_is_not_killed(tmp_path: Path, redis_url: str) -> None:
    """A pool process that replaces a dead one and takes longer than Celery's default 4 s to
    start (here its store answers only after an 8 s connect timeout; in production, loading
    spaCy and the gazetteer on a busy machine) comes up: it is not killed for "Timed out
    waiting for UP message" and replaced by another that times out the same way, in a loop."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        store_url = (
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=8&sslmode=disable"
        )
        env = {"NEWSINGEST_BROKER_URL": redis_url, "NEWSINGEST_STORE_URL": store_url}
        process = NewsingestProcess(
            ["worker", "--concurrency", str(CONCURRENCY)], cwd=tmp_path, env=env, name="worker"
        )
        wait_until(
            lambda: _count(process, "worker.resources_unavailable") >= CONCURRENCY,
            timeout=120,
            what="the first pool processes up",
        )
        os.kill(_children(process.process.pid)[0], signal.SIGKILL)  # a crash: Celery replaces it

        def replaced_or_timed_out() -> bool:
            log = process.log_path.read_text(errors="replace")
            return (
                "Timed out waiting for UP message" in log
                or _count(process, "worker.resources_unavailable") > CONCURRENCY
            )

        wait_until(replaced_or_timed_out, timeout=120, what="the replacement up or timed out")
        code, elapsed = _stop(process, signal.SIGTERM, whole_group=False)
    log = process.log_path.read_text(errors="replace")
    assert "Timed out waiting for UP message" not in log
    assert _count(process, "worker.resources_unavailable") == CONCURRENCY + 1
    assert code == 0 and elapsed <= STOP_DEADLINE, (code, elapsed)


def test_workers_on_one_host_have_distinct_node_names(tmp_path: Path, redis_url: str) -> None:
    """Two workers on the same host and broker (containers with host networking) answer a ping
    under two node names, each made of the worker's process id, a random part (pids repeat
    across containers) and the host name; with one
    shared name, Celery's control commands and monitoring could not tell them apart."""
    env = {"NEWSINGEST_BROKER_URL": redis_url}
    workers = [
        NewsingestProcess(["worker", "--concurrency", "1"], cwd=tmp_path, env=env, name=name)
        for name in ("worker a", "worker b")
    ]
    control = create_app(Settings(broker_url=redis_url, data_dir=tmp_path / "data")).control

    def names() -> set[str]:
        replies = control.ping(timeout=2.0)
        return {name for reply in replies for name in reply}

    for worker in workers:
        wait_until(
            lambda w=worker: any(e.get("event", "").endswith(" ready.") for e in w.events()),
            timeout=120,
            what=f"{worker.log_path.stem} ready",
        )
    host = re.escape(socket.gethostname())
    patterns = [re.compile(rf"newsingest-{w.process.pid}-[0-9a-f]{{6}}@{host}") for w in workers]

    def each_answered(answered: set[str]) -> bool:
        return all(any(p.fullmatch(name) for name in answered) for p in patterns)

    answered: set[str] = set()
    try:
        with contextlib.suppress(AssertionError):  # timed out: the assertion below shows who did
            wait_until(
                lambda: answered.update(names()) or each_answered(answered),
                timeout=20,
                what="a pong from each worker",
            )
    finally:
        for worker in workers:
            worker.stop(signal.SIGTERM)
    assert len(answered) == 2 and each_answered(answered), answered


def _reading_the_task_queue(pid: int) -> bool:
    """Is this idle pool process the one that waits on the pool's task queue (a pipe), holding
    the queue's lock, rather than one that waits for the lock (a futex)?"""
    return "pipe" in Path(f"/proc/{pid}/wchan").read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT], ids=lambda s: s.name)
def test_stop_after_the_pool_process_holding_the_queue_lock_was_killed(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """On the embedded broker the idle pool processes take turns on the lock of billiard's shared
    task queue; the one waiting for a message holds it. SIGKILLed (the OOM killer, `kill -9`),
    it leaves the lock taken: the stop used to hang in the pool's join, then in its finalizer at
    exit, on SIGTERM and on SIGQUIT (Celery's cold shutdown) alike. Now either stops the worker
    within 10 s with status 0, the tree gone."""
    process = _start(tmp_path, "worker")
    holder = wait_until(
        lambda: next(filter(_reading_the_task_queue, _children(process.process.pid)), None),
        timeout=30,
        what="the pool process reading the task queue",
    )
    os.kill(holder, signal.SIGKILL)
    wait_until(  # billiard replaced it
        lambda: _count(process, "worker.process_ready") >= CONCURRENCY + 1,
        timeout=240,
        what="the replacement pool process ready",
    )
    code, elapsed = _stop(process, sig, whole_group=False)
    assert code == 0, f"exit status {code} after {sig.name} ({elapsed:.1f} s)"
    assert elapsed <= STOP_DEADLINE, f"{sig.name} took {elapsed:.1f} s to stop"
    wait_until(lambda: not _group_alive(process.process.pid), timeout=5, what="the tree gone")
