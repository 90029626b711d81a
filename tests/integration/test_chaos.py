"""Chaos: the real topologies under random crashes end with the same store as a calm run.

- ``test_throwaway_servers_survive_restarts``: the crashable Redis and PostgreSQL the chaos run
  uses (tests/integration/servers.py) start, answer, crash, come back on the same port.
- ``test_compare_*``: the comparison catches planted bugs (a record gone, a source twice, groups
  merged, a file left behind...), on hand-made records, without any process.
- ``test_harness_catches_planted_bugs``: a calm embedded run whose store and folders are then
  damaged on purpose (an article row deleted, a processed file copied, a stray file left in the
  inbox): the report must say lost, doubled and stuck, and show the ledger and the log tails.
- ``test_chaos_short[topology]``: CI's form: 40 files, about 30 s of faults, seed
  ``NEWSINGEST_TEST_CHAOS_SEED`` (default 1).
- ``test_chaos_long[topology-seed]``: only when ``NEWSINGEST_TEST_CHAOS_SEEDS`` is set (``1-10``
  or ``1,2,5``); ``NEWSINGEST_TEST_CHAOS_FILES`` files (200), ``NEWSINGEST_TEST_CHAOS_DURATION``
  seconds of faults (60).

Every chaos test prints its report (run pytest with ``-s`` to see it when it passes). Timings are
printed, never asserted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration import chaos
from tests.integration.servers import (
    ServerUnavailable,
    ThrowawayPostgres,
    ThrowawayRedis,
    start_or_skip,
    unavailable,
)

SHORT_FILES = 40
SHORT_DURATION = 30.0


def _run(topology: str, seed: int, files: int, duration: float, tmp_path: Path) -> None:
    try:
        report = chaos.run(
            seed,
            files=files,
            duration=duration,
            topology=topology,  # type: ignore[arg-type]
            workdir=tmp_path / "chaos",
            echo=print,
        )
    except ServerUnavailable as exc:
        unavailable(str(exc))
        return
    print(report.render())
    if not report.ok:
        pytest.fail(report.render(), pytrace=False)


# --- the throwaway servers ------------------------------------------------------------------------


@pytest.mark.integration
def test_throwaway_servers_survive_restarts() -> None:
    import redis
    import sqlalchemy

    with start_or_skip(ThrowawayRedis) as server:
        assert server.port != 6379
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        server.restart()
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.get("k") is None  # a crash of a Redis that keeps nothing
        client.close()

    with start_or_skip(ThrowawayPostgres) as server:
        assert server.port != 5432
        engine = sqlalchemy.create_engine(server.url, pool_pre_ping=True)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE t (x int)"))
            conn.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
        server.restart(downtime=0.2)  # pg_ctl stop -m immediate: no checkpoint
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT x FROM t")).scalar_one() == 1
        engine.dispose()
        folder = server.folder
    assert not folder.exists()


# --- the comparison, on hand-made records ---------------------------------------------------------


def _record(text: str, sources: list[tuple[str, str, int]], duplicate_of: str | None = None):
    record: dict[str, Any] = {f: None for f in chaos.CONTENT_FIELDS}
    record.update(
        id=hashlib.sha256(text.encode()).hexdigest(),
        title=text,
        body=text,
        duplicate_of=duplicate_of,
        sources=[
            {
                "file": name,
                "sha256": hashlib.sha256(data.encode()).hexdigest(),
                "index": i,
                "line": 1,
            }
            for name, data, i in sources
        ],
    )
    return record


def _scene(tmp_path: Path):
    """Three inputs (one a copy of another), a reference, and folders as a good run leaves them."""
    inputs = [
        chaos.InputFile("a.txt", b"A", "write", 0),
        chaos.InputFile("b.txt", b"B", "write", 0),
        chaos.InputFile("a-copy.txt", b"A", "rename", 0),
    ]
    one = _record("one", [("a.txt", "A", 0), ("b.txt", "B", 1)])
    two = _record("two", [("a.txt", "A", 1)])
    version = _record("two, edited", [("b.txt", "B", 0)], duplicate_of=two["id"])
    reference = [one, two, version]
    data_dir = tmp_path / "data"
    for folder in ("processed", "failed", "work"):
        (data_dir / folder).mkdir(parents=True)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for item in inputs:
        (data_dir / "processed" / item.name).write_bytes(item.data)
    status = {
        "files": {"queued": 0, "processing": 0, "done": 2, "failed": 0},
        "duplicate_files": 1,
        "articles": 2,
        "near_duplicates": 1,
        "exact_duplicates": 1,
    }
    ledger = [
        {"sha256": inputs[0].sha256, "name": "a-copy.txt", "state": "done"},
        {"sha256": inputs[1].sha256, "name": "b.txt", "state": "done"},
    ]
    kwargs = {
        "inbox": inbox,
        "data_dir": data_dir,
        "status": status,
        "cli_status": {"files": dict(status["files"])},
        "ledger": ledger,
    }
    return inputs, reference, kwargs


def _copy(records):
    return [{**r, "sources": [dict(s) for s in r["sources"]]} for r in records]


def test_compare_accepts_a_good_run(tmp_path: Path) -> None:
    inputs, reference, kwargs = _scene(tmp_path)
    got = _copy(reference)
    # the other version stored first is canonical: the same group, so no mismatch
    got[1]["duplicate_of"], got[2]["duplicate_of"] = got[2]["id"], None
    # the copy's name in a source instead of the original's: the same bytes, so no mismatch
    got[0]["sources"][0]["file"] = "a-copy.txt"
    assert chaos.compare(reference, got, inputs, **kwargs) == chaos.Mismatches()


def test_compare_catches_a_lost_record_and_source(tmp_path: Path) -> None:
    inputs, reference, kwargs = _scene(tmp_path)
    got = _copy(reference)[:2]
    got[0]["sources"].pop()
    found = chaos.compare(reference, got, inputs, **kwargs)
    assert any(reference[2]["id"][:12] in item for item in found.lost), found
    assert any("source" in item and "#1" in item for item in found.lost), found
    assert any("reference group" in item for item in found.wrong), found


def test_compare_catches_doubles(tmp_path: Path) -> None:
    inputs, reference, kwargs = _scene(tmp_path)
    got = _copy(reference)
    got[0]["sources"].append(dict(got[0]["sources"][0]))
    got.append(_copy(reference)[1])
    shutil.copy(
        kwargs["data_dir"] / "processed" / "b.txt",
        kwargs["data_dir"] / "processed" / f"b.{inputs[1].sha256[:12]}.txt",
    )
    found = chaos.compare(reference, got, inputs, **kwargs)
    assert any("stored 2 times" in item for item in found.doubled), found
    assert any("listed 2 times" in item for item in found.doubled), found
    assert any("b.txt is there 2 times" in item for item in found.doubled), found


def test_compare_catches_merged_groups_and_wrong_content(tmp_path: Path) -> None:
    inputs, reference, kwargs = _scene(tmp_path)
    got = _copy(reference)
    got[1]["duplicate_of"] = got[0]["id"]  # two different stories merged
    got[0]["language"] = "xx"
    got[0]["sources"][1]["file"] = "never-dropped.txt"
    found = chaos.compare(reference, got, inputs, **kwargs)
    assert any("is not a group in the reference" in item for item in found.wrong), found
    assert any("language differ" in item for item in found.wrong), found
    assert any("never dropped" in item for item in found.wrong), found


def test_compare_catches_stuck_files_and_ledger_rows(tmp_path: Path) -> None:
    inputs, reference, kwargs = _scene(tmp_path)
    (kwargs["inbox"] / "late.txt").write_bytes(b"x")
    (kwargs["data_dir"] / "work" / inputs[1].sha256).write_bytes(b"B")
    (kwargs["data_dir"] / "processed" / "b.txt").unlink()
    (kwargs["data_dir"] / "failed" / "a.txt.error.json").write_text("{}")
    kwargs["status"]["files"].update(processing=1, done=1)
    kwargs["ledger"][1]["state"] = "processing"
    found = chaos.compare(reference, _copy(reference), inputs, **kwargs)
    assert "inbox/late.txt" in found.stuck, found
    assert f"work/{inputs[1].sha256}" in found.stuck, found
    assert "ledger: 1 files processing" in found.stuck, found
    assert any("b.txt is in neither" in item for item in found.lost), found
    assert any("`status --json` files" in item for item in found.wrong), found
    assert "failed/a.txt.error.json (valid input)" in found.wrong, found


# --- the whole harness, with bugs planted in a real run -------------------------------------------


@pytest.mark.integration
def test_harness_catches_planted_bugs(tmp_path: Path) -> None:
    """A calm embedded run, then damage: the report must not say ok, and must say what and where."""
    deleted: list[str] = []

    def plant_stray_file(inbox: Path) -> None:
        (inbox / "never-finished.txt.part").write_bytes(b"half a dump")

    def damage(topology: Any) -> None:
        import sqlalchemy

        engine = sqlalchemy.create_engine(topology.store_url)
        with engine.begin() as conn:
            victim = conn.execute(
                sqlalchemy.text(
                    "SELECT id FROM articles WHERE duplicate_of IS NULL AND id NOT IN "
                    "(SELECT duplicate_of FROM articles WHERE duplicate_of IS NOT NULL) "
                    "ORDER BY id LIMIT 1"
                )
            ).scalar_one()
            conn.execute(
                sqlalchemy.text("DELETE FROM sources WHERE article_id = :i"), {"i": victim}
            )
            conn.execute(sqlalchemy.text("DELETE FROM articles WHERE id = :i"), {"i": victim})
        engine.dispose()
        deleted.append(victim)
        processed = topology.data_dir / "processed"
        first = sorted(processed.iterdir())[0]
        shutil.copy(first, processed / f"{first.stem}.0123456789ab{first.suffix}")

    report = chaos.run(
        7,
        files=10,
        duration=4,
        topology="embedded",
        workdir=tmp_path / "chaos",
        faults=False,
        settle_timeout=8,
        linger=0,
        after_drops=plant_stray_file,
        before_compare=damage,
        echo=print,
    )
    print(report.render())
    assert not report.ok
    assert report.timed_out
    assert any(deleted[0][:12] in item for item in report.lost), report.render()
    assert any("is there 2 times" in item for item in report.doubled), report.render()
    assert "inbox/never-finished.txt.part" in report.stuck, report.render()
    # what a reader needs to see why: the ledger and each process's last lines
    assert "ledger:" in report.diagnostics
    assert "--- run-1.log" in report.diagnostics
    assert "thread stacks when the wait timed out" in report.diagnostics


# --- the chaos runs -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize("topology", chaos.TOPOLOGIES)
def test_chaos_short(topology: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("NEWSINGEST_TEST_CHAOS_SEED", "1"))
    _run(topology, seed, SHORT_FILES, SHORT_DURATION, tmp_path)


_SEEDS = chaos.parse_seeds(os.environ.get("NEWSINGEST_TEST_CHAOS_SEEDS", ""))


@pytest.mark.integration
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not _SEEDS, reason="set NEWSINGEST_TEST_CHAOS_SEEDS (e.g. 1-10) to run")
@pytest.mark.parametrize("seed", _SEEDS or [0])
@pytest.mark.parametrize("topology", chaos.TOPOLOGIES)
def test_chaos_long(topology: str, seed: int, tmp_path: Path) -> None:
    files = int(os.environ.get("NEWSINGEST_TEST_CHAOS_FILES", "200"))
    duration = float(os.environ.get("NEWSINGEST_TEST_CHAOS_DURATION", "60"))
    _run(topology, seed, files, duration, tmp_path)
