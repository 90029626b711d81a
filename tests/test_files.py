"""Tests for worker/files.py: safe names, clash-free destinations and moves, error reports."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from tests.helpers_unit import sha
from worker.files import destination, move, safe_name, sha256_file, write_error_report

SHA = sha("some bytes")


class TestSafeName:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("a.txt", "a.txt"),
            ("../x", "x"),
            ("../../etc/passwd", "passwd"),
            ("a/b", "b"),
            ("a\\b.txt", "b.txt"),
            ("/abs/path.txt", "path.txt"),
            ("..", "unnamed"),
            (".", "unnamed"),
            ("", "unnamed"),
            ("dir/..", "unnamed"),
        ],
    )
    def test_never_a_path(self, name: str, expected: str):
        """Only the last part of a name is kept, and never ``.``, ``..`` or an empty name."""
        assert safe_name(name) == expected

    @pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "..\\..\\x", "a/../../b"])
    def test_stays_in_folder(self, tmp_path: Path, name: str):
        """Joined to a folder, a safe name always lands directly inside that folder."""
        target = (tmp_path / safe_name(name)).resolve()
        assert target.parent == tmp_path.resolve()


class TestDestination:
    def test_free_name_is_kept(self, tmp_path: Path):
        """With no clash the file keeps its own name."""
        assert destination(tmp_path, "a.txt", SHA) == tmp_path / "a.txt"

    def test_clash_adds_hash(self, tmp_path: Path):
        """On a clash the start of the hash goes before the suffix; the old file is untouched."""
        (tmp_path / "a.txt").write_text("old")
        target = destination(tmp_path, "a.txt", SHA)
        assert target == tmp_path / f"a.{SHA[:12]}.txt"
        assert not target.exists()
        assert (tmp_path / "a.txt").read_text() == "old"

    def test_clash_without_suffix(self, tmp_path: Path):
        """A name with no suffix (or a dot file) gets the hash appended."""
        (tmp_path / "dump").write_text("old")
        assert destination(tmp_path, "dump", SHA) == tmp_path / f"dump.{SHA[:12]}"

    def test_clash_with_a_dangling_symlink(self, tmp_path: Path):
        """A dangling symlink of the same name is a clash too."""
        (tmp_path / "a.txt").symlink_to(tmp_path / "nowhere")
        assert destination(tmp_path, "a.txt", SHA) == tmp_path / f"a.{SHA[:12]}.txt"

    def test_unsafe_name_stays_in_folder(self, tmp_path: Path):
        """``../x`` goes to ``folder/x``, never above the folder."""
        assert destination(tmp_path / "processed", "../x", SHA) == tmp_path / "processed" / "x"

    def test_deterministic(self, tmp_path: Path):
        """The same clash gives the same place each time (a retried move picks it again)."""
        (tmp_path / "a.txt").write_text("old")
        assert destination(tmp_path, "a.txt", SHA) == destination(tmp_path, "a.txt", SHA)


class TestMove:
    def test_moves_and_creates_folder(self, tmp_path: Path):
        """The bytes arrive in a new folder and leave the source."""
        source = tmp_path / "src.txt"
        source.write_bytes(b"payload")
        target = tmp_path / "processed" / "deep" / "src.txt"
        move(source, target)
        assert target.read_bytes() == b"payload"
        assert not source.exists()

    def test_never_overwrites(self, tmp_path: Path):
        """Moving onto an existing file raises and leaves both files as they were."""
        source, target = tmp_path / "new.txt", tmp_path / "old.txt"
        source.write_bytes(b"new")
        target.write_bytes(b"old")
        with pytest.raises(FileExistsError):
            move(source, target)
        assert target.read_bytes() == b"old"
        assert source.read_bytes() == b"new"

    def test_never_overwrites_a_target_that_appears_during_the_move(self, tmp_path, monkeypatch):
        """A target written by another process between the check and the link is not replaced."""
        source, target = tmp_path / "new.txt", tmp_path / "out" / "x.txt"
        source.write_bytes(b"new")
        real_link = os.link

        def racing_link(src, dst):
            Path(dst).write_bytes(b"theirs")  # the other process wins the race, for real
            real_link(src, dst)  # the real call: raises FileExistsError

        monkeypatch.setattr(os, "link", racing_link)
        with contextlib.suppress(FileExistsError):
            move(source, target)
        assert target.read_bytes() == b"theirs"

    def test_across_file_systems_copies_then_renames(self, tmp_path: Path, monkeypatch):
        """Without hard links (another volume), the bytes arrive whole and no partial is left."""
        import errno

        def no_cross_device_link(src, dst):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", no_cross_device_link)
        source = tmp_path / "inbox" / "a.txt"
        source.parent.mkdir()
        source.write_bytes(b"x" * 3_000_000)
        target = tmp_path / "work" / "abc"
        move(source, target)
        assert target.read_bytes() == b"x" * 3_000_000
        assert not source.exists()
        assert [p.name for p in target.parent.iterdir()] == ["abc"]

    def test_across_file_systems_a_failed_copy_leaves_source_and_no_target(
        self, tmp_path: Path, monkeypatch
    ):
        """A copy that breaks half-way leaves the source in place and nothing at the target."""
        import errno
        import shutil

        monkeypatch.setattr(
            os, "link", lambda s, d: (_ for _ in ()).throw(OSError(errno.EXDEV, "x"))
        )

        def broken_copy(reader, writer, length=0):
            writer.write(reader.read(10))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(shutil, "copyfileobj", broken_copy)
        source = tmp_path / "a.txt"
        source.write_bytes(b"y" * 100)
        target = tmp_path / "work" / "abc"
        with pytest.raises(OSError):
            move(source, target)
        assert source.read_bytes() == b"y" * 100
        assert list(target.parent.iterdir()) == []


class TestErrorReport:
    def test_written_beside_failed_file(self, tmp_path: Path):
        """``NAME.error.json`` is written next to the failed file, as UTF-8 JSON, no temp left."""
        failed = tmp_path / "failed" / "dump.txt"
        failed.parent.mkdir()
        failed.write_bytes(b"x")
        report = {"code": "no_articles", "message": "nothing \u2019here\u2019", "hint": "check"}
        path = write_error_report(failed, report)
        assert path == tmp_path / "failed" / "dump.txt.error.json"
        assert json.loads(path.read_text(encoding="utf-8")) == report
        assert "\u2019" in path.read_text(encoding="utf-8")
        assert sorted(p.name for p in failed.parent.iterdir()) == [
            "dump.txt",
            "dump.txt.error.json",
        ]

    def test_rewrites_an_older_report(self, tmp_path: Path):
        """A second report for the same file replaces the first."""
        failed = tmp_path / "dump.txt"
        write_error_report(failed, {"code": "a"})
        path = write_error_report(failed, {"code": "b"})
        assert json.loads(path.read_text())["code"] == "b"


class TestSha256File:
    def test_matches_hashlib(self, tmp_path: Path):
        """The file hash is the sha256 of its bytes."""
        path = tmp_path / "f"
        path.write_bytes(b"some bytes")
        assert sha256_file(path) == SHA
