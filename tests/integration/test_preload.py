"""The enrichers are built once, in the worker's main process, before its pool forks: every pool
process (the first ones and the ones that replace them) shares them and builds nothing itself."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.dumps import HARBOUR, LIBRARY, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until

pytestmark = pytest.mark.integration


def _count(run: NewsingestProcess, event: str) -> int:
    return sum(e.get("event") == event for e in run.events())


def test_children_share_the_preloaded_model_and_recycled_ones_start_from_it(
    tmp_path: Path,
) -> None:
    """`run` with one pool process replaced after every task: three files, three tasks, at
    least three pool processes, and the spaCy model and the gazetteer loaded once in all."""
    run = NewsingestProcess(
        ["run", "--concurrency", "1"],
        cwd=tmp_path,
        env={"NEWSINGEST_MAX_TASKS_PER_CHILD": "1", "NEWSINGEST_SETTLE_SECONDS": "0.5"},
        name="run",
    )
    try:
        ready = run.wait_for("worker.process_ready", timeout=120)
        assert ready["preloaded"] is True
        inbox = tmp_path / "inbox"
        for number, story in enumerate([HARBOUR, ORCHARD, LIBRARY]):
            (inbox / f"{number}.txt").write_text(render_dump([story]), encoding="utf-8")
        processed = tmp_path / "data" / "processed"
        wait_until(
            lambda: len(list(processed.glob("*.txt"))) == 3, timeout=180, what="3 files done"
        )
        # a replacement for the last recycled process comes up too
        wait_until(lambda: _count(run, "worker.process_ready") >= 4, what="4th pool process")
    finally:
        assert run.stop() == 0
    assert _count(run, "worker.preloaded") == 1
    assert _count(run, "enrich.model_loaded") == 1
    assert _count(run, "enrich.gazetteer_built") == 1
    ready_events = [e for e in run.events() if e.get("event") == "worker.process_ready"]
    assert all(e["preloaded"] for e in ready_events)
    assert "Timed out waiting for UP message" not in run.log_path.read_text(errors="replace")


def test_without_preload_each_child_loads_its_own(tmp_path: Path) -> None:
    """preload_enrichers false (the comparison the memory benchmark makes): each pool process
    builds its own enrichers, and says so."""
    worker = NewsingestProcess(
        ["worker", "--concurrency", "2"],
        cwd=tmp_path,
        env={"NEWSINGEST_PRELOAD_ENRICHERS": "false"},
        name="worker",
    )
    try:
        wait_until(lambda: _count(worker, "worker.process_ready") == 2, timeout=180, what="ready")
    finally:
        assert worker.stop() == 0
    assert _count(worker, "worker.preloaded") == 0
    assert _count(worker, "enrich.model_loaded") == 2
    ready_events = [e for e in worker.events() if e.get("event") == "worker.process_ready"]
    assert [e["preloaded"] for e in ready_events] == [False, False]


def test_a_stop_while_the_model_loads_ends_the_worker_with_status_0(tmp_path: Path) -> None:
    """SIGTERM during the preload (seconds, before Celery has started) stops the worker at
    once with status 0, as a stop at any later moment does: it holds nothing yet."""
    worker = NewsingestProcess(["worker", "--concurrency", "1"], cwd=tmp_path, env={}, name="w")
    worker.wait_for("enrich.model_loaded", timeout=120)  # the gazetteer is built next
    assert worker.stop(signal.SIGTERM, timeout=30) == 0
