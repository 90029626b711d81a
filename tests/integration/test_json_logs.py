"""In JSON mode every line a worker writes is one JSON object: from start-up (Celery's banner),
through a pool process killed under it (billiard's report), to the stop (Celery's shutdown
notices). A log pipeline (jq, Loki, Elasticsearch) can take the stream as it is."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.integration.procs import NewsingestProcess, wait_until

pytestmark = pytest.mark.integration


def _lines_that_are_not_json(log: Path) -> list[str]:
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
            continue
        if not isinstance(event, dict) or "event" not in event:
            bad.append(line)
    return bad


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_every_line_of_a_worker_is_json(tmp_path: Path) -> None:
    worker = NewsingestProcess(
        ["worker", "--concurrency", "2"],
        cwd=tmp_path,
        env={"NEWSINGEST_PRELOAD_ENRICHERS": "false"},
        name="worker",
    )
    started = worker.wait_for("worker.started", timeout=240)
    assert started["concurrency"] == 2
    assert "@" in started["node"]
    # (A pool process may report its store busy and build it at its first task instead.)
    started_up = {"worker.process_ready", "worker.resources_unavailable"}
    wait_until(
        lambda: sum(e.get("event") in started_up for e in worker.events()) >= 2,
        timeout=240,
        what="both pool processes started",
    )
    victim = _pool_children(worker.process.pid)[0]
    os.kill(victim, signal.SIGKILL)  # billiard reports it and starts a new one
    wait_until(
        lambda: any("exited with" in str(e.get("event")) for e in worker.events()),
        timeout=60,
        what="billiard's report of the killed pool process",
    )
    wait_until(  # its replacement started (a stop while it starts is another test's subject)
        lambda: sum(e.get("event") in started_up for e in worker.events()) >= 3,
        timeout=240,
        what="the replacement pool process started",
    )
    assert worker.stop(signal.SIGTERM, timeout=60) == 0
    text = worker.log_path.read_text(errors="replace")
    assert "ForkPoolWorker" in text  # billiard's report is there, as an event
    assert _lines_that_are_not_json(worker.log_path) == []
