"""Bad input through the real watcher and workers (`newsingest run`): each bad file ends in
failed/ byte for byte with a report beside it and one error event, and the rest of the inbox is
processed normally."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from tests.dumps import BRIDGE, HARBOUR, ORCHARD, render_dump
from tests.integration.procs import NewsingestProcess, wait_until
from worker.settings import Settings
from worker.store import Store

pytestmark = pytest.mark.integration

# name → (bytes, the error codes that describe it)
BAD: dict[str, tuple[bytes, set[str]]] = {
    "empty.txt": (b"", {"empty_file"}),
    "whitespace.txt": (b"  \n\n\t\r\n   \n", {"empty_file"}),
    "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(20_000), {"binary_file"}),
    "program": (b"\x7fELF\x02\x01\x01\x00" + os.urandom(20_000), {"binary_file"}),
    "noise.bin": (os.urandom(50_000), {"binary_file", "undecodable"}),
    "no articles.txt": (b"A Lonely Title\n\n\n\nAnother Lonely Title\n", {"no_articles"}),
    "one long line.txt": (b"x" * (50 << 20), {"line_too_long"}),
    "garbled.txt": (bytes(range(0x80, 0x100)) * 400, {"undecodable", "binary_file"}),
    "bomb.txt.gz": (gzip.compress(b"\n" * (60 << 20)), {"compression_bomb"}),
    "broken.txt.gz": (gzip.compress(render_dump([HARBOUR]).encode())[:-40], {"corrupt_archive"}),
}
GOOD = {
    "good.txt": render_dump([HARBOUR, ORCHARD]).encode(),
    "good too.txt.gz": gzip.compress(render_dump([BRIDGE]).encode()),
}


def test_each_bad_file_is_quarantined_with_a_report_and_the_rest_goes_on(tmp_path: Path) -> None:
    """All bad files and two good ones dropped at once: every bad one in failed/ as it arrived,
    with NAME.error.json (code, message, hint) and a file.failed event; the good ones stored."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, (data, _) in BAD.items():
        (inbox / name).write_bytes(data)
    for name, data in GOOD.items():
        (inbox / name).write_bytes(data)

    env = {"NEWSINGEST_SETTLE_SECONDS": "0.5", "NEWSINGEST_EMPTY_SETTLE_SECONDS": "1"}
    run = NewsingestProcess(["run"], cwd=tmp_path, env=env, name="run")
    settings = Settings(inbox=inbox, data_dir=tmp_path / "data")
    try:
        for name in BAD:
            wait_until(
                (settings.failed_dir / f"{name}.error.json").exists,
                timeout=120,
                what=f"{name} quarantined",
            )
        for name in GOOD:
            wait_until((settings.processed_dir / name).exists, timeout=60, what=f"{name} done")
    finally:
        run.stop()

    for name, (data, codes) in BAD.items():
        assert (settings.failed_dir / name).read_bytes() == data, f"{name} changed"
        report = json.loads((settings.failed_dir / f"{name}.error.json").read_text())
        assert report["code"] in codes, f"{name}: {report}"
        assert report["message"] and report["hint"] and report["sha256"]
    events = run.events()
    failed_events = [e for e in events if e.get("event") == "file.failed"]
    assert sorted(e["file"] for e in failed_events) == sorted(BAD)
    assert all(e["level"] == "error" for e in failed_events)

    store = Store.from_url(settings.resolved_store_url)
    status = store.status()
    assert status["files"]["failed"] == len(BAD)
    assert status["files"]["done"] == len(GOOD)
    assert {r.title for r in store.iter_articles()} == {HARBOUR.title, ORCHARD.title, BRIDGE.title}
    assert list(inbox.iterdir()) == []
    store.close()
