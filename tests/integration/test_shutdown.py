"""`newsingest worker`: a pool process may take long to start without being killed for it.
Real processes on Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.procs import NewsingestProcess, wait_until

pytestmark = pytest.mark.integration

STOP_DEADLINE = 10.0  # seconds: the product's promise for SIGTERM and SIGINT
CONCURRENCY = 2


def _count(process: NewsingestProcess, event: str) -> int:
    return sum(e.get("event") == event for e in process.events())


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
