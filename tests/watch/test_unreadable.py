"""A file the watcher may not read is quarantined, not retried forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers_unit import sqlite_store
from worker.watch import inbox as inbox_module
from worker.watch.inbox import FileTaker


def test_unreadable_file_goes_to_failed_with_a_report(tmp_path: Path, monkeypatch) -> None:
    """PermissionError while copying into work/ (root cannot be denied, so it is simulated): the
    file moves to failed/ unchanged, with an `unreadable` report, a failed ledger row and no
    job, and nothing is left in work/."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "secret.txt"
    path.write_bytes(b"some bytes")

    def denied(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(inbox_module, "copy_into_work", denied)
    store = sqlite_store(tmp_path)
    sent: list[str] = []
    taker = FileTaker(
        store, inbox, tmp_path / "work", tmp_path / "processed", sent.append,
        failed_dir=tmp_path / "failed",
    )  # fmt: skip
    assert taker.take(path) == "failed"

    failed = tmp_path / "failed" / "secret.txt"
    assert failed.read_bytes() == b"some bytes"
    report = json.loads((tmp_path / "failed" / "secret.txt.error.json").read_text())
    assert report["code"] == "unreadable"
    assert store.status()["files"]["failed"] == 1
    assert sent == []
    assert not path.exists()
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
    store.close()


@pytest.mark.parametrize("name", ["with space.txt", "ünïcødé.txt", "new\nline.txt"])
def test_unusual_names_are_taken(tmp_path: Path, name: str) -> None:
    """Spaces, non-ASCII characters and newlines in names work end to end in the taker."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes(b"Title\n\nBody.\n")
    store = sqlite_store(tmp_path)
    taker = FileTaker(store, inbox, tmp_path / "work", tmp_path / "processed", lambda s: "t")
    assert taker.take(inbox / name) == "queued"
    rows = store.ledger.files_in_state("queued")
    assert [row["name"] for row in rows] == [name]
    store.close()
