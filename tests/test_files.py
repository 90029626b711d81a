"""Tests for worker/files.py: safe names, clash-free destinations and moves, error reports."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.helpers_unit import sha
from worker.errors import FileChangedError, NotRegularFileError
from worker.files import (
    copy_into_work,
    destination,
    file_identity,
    move,
    safe_name,
    sha256_file,
    sweep_partials,
    unlink_if_same,
    write_error_report,
)

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

        def racing_link(src, dst, **kwargs):
            Path(dst).write_bytes(b"theirs")  # the other process wins the race, for real
            real_link(src, dst, **kwargs)  # the real call: raises FileExistsError

        monkeypatch.setattr(os, "link", racing_link)
        with contextlib.suppress(FileExistsError):
            move(source, target)
        assert target.read_bytes() == b"theirs"

    def test_across_file_systems_copies_then_renames(self, tmp_path: Path, monkeypatch):
        """Without hard links (another volume), the bytes arrive whole and no partial is left."""
        import errno

        def no_cross_device_link(src, dst, **kwargs):
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
            os, "link", lambda s, d, **k: (_ for _ in ()).throw(OSError(errno.EXDEV, "x"))
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


@pytest.fixture
def read_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every descriptor ``copy_into_work`` reads from: proves that a refused path was not read."""
    calls: list[int] = []
    real_readv = os.readv

    def spying_readv(fd, buffers):
        calls.append(fd)
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", spying_readv)
    return calls


class TestCopyIntoWork:
    def test_copies_and_hashes(self, tmp_path: Path):
        """The bytes land in ``work/<sha256>``, hashed right, with no temporary left; the source
        stays; the stat is that of the file read."""
        data = os.urandom(3 * (1 << 20) + 17)  # several read blocks and a tail
        source = tmp_path / "inbox" / "a.txt"
        source.parent.mkdir()
        source.write_bytes(data)
        work = tmp_path / "work"
        taken = copy_into_work(source, work)
        sha256, size, st = taken
        assert sha256 == sha(data) == taken.sha256
        assert size == len(data)
        assert (work / sha256).read_bytes() == data
        assert [p.name for p in work.iterdir()] == [sha256]
        assert source.read_bytes() == data
        assert (st.st_ino, st.st_size, st.st_mtime_ns) == (
            source.stat().st_ino,
            len(data),
            source.stat().st_mtime_ns,
        )

    def test_empty_file(self, tmp_path: Path):
        """An empty file is a regular file too: copied (the parser refuses it later)."""
        (tmp_path / "e").write_bytes(b"")
        taken = copy_into_work(tmp_path / "e", tmp_path / "work")
        assert (taken.sha256, taken.size) == (sha(b""), 0)

    def test_same_bytes_twice_make_one_work_file(self, tmp_path: Path):
        """A second drop of the same bytes finds ``work/<sha256>`` there: one file, no temporary."""
        work = tmp_path / "work"
        for name in ("a.txt", "b.txt"):
            (tmp_path / name).write_bytes(b"same bytes")
            assert copy_into_work(tmp_path / name, work).sha256 == sha(b"same bytes")
        assert [p.name for p in work.iterdir()] == [sha(b"same bytes")]

    def test_symlink_swapped_in_is_refused_and_not_read(self, tmp_path: Path, read_calls):
        """A file replaced by a symlink (to a file outside the inbox) after it was noticed: refused
        with ``not_a_regular_file``, not a byte read, nothing in work/."""
        outside = tmp_path / "secret"
        outside.write_bytes(b"password=hunter2")
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        noticed = inbox / "a.txt"
        noticed.write_bytes(b"a dump")
        swap = inbox / ".swap"
        swap.symlink_to(outside)
        os.replace(swap, noticed)  # the swap, atomic, as an attacker would do it
        work = tmp_path / "work"
        with pytest.raises(NotRegularFileError) as caught:
            copy_into_work(noticed, work)
        assert caught.value.code == "not_a_regular_file"
        assert "symbolic link" in caught.value.message
        assert read_calls == []
        assert not work.exists() or list(work.iterdir()) == []

    def test_symlink_to_proc_environ_is_refused(self, tmp_path: Path, read_calls):
        """The link that would leak the store password (``/proc/self/environ``) is never read."""
        link = tmp_path / "dump.txt"
        link.symlink_to("/proc/self/environ")
        with pytest.raises(NotRegularFileError):
            copy_into_work(link, tmp_path / "work")
        assert read_calls == []
        assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []

    @pytest.mark.timeout(10)
    def test_fifo_is_refused_without_hanging(self, tmp_path: Path, read_calls):
        """A FIFO with no writer would block a plain open() forever: refused at once instead."""
        fifo = tmp_path / "dump.txt"
        os.mkfifo(fifo)
        with pytest.raises(NotRegularFileError) as caught:
            copy_into_work(fifo, tmp_path / "work")
        assert "FIFO" in caught.value.message
        assert read_calls == []

    def test_directory_is_refused(self, tmp_path: Path, read_calls):
        (tmp_path / "dump.txt").mkdir()
        with pytest.raises(NotRegularFileError) as caught:
            copy_into_work(tmp_path / "dump.txt", tmp_path / "work")
        assert "folder" in caught.value.message
        assert read_calls == []

    def test_socket_is_refused(self, tmp_path: Path):
        path = tmp_path / "s"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            with pytest.raises(NotRegularFileError):
                copy_into_work(path, tmp_path / "work")

    def test_gone_is_file_not_found(self, tmp_path: Path):
        """A path that vanished stays an ``OSError`` (the watcher's ``file.vanished``)."""
        with pytest.raises(FileNotFoundError):
            copy_into_work(tmp_path / "nothing", tmp_path / "work")

    def test_sub_folder_swapped_for_a_symlink_is_refused(self, tmp_path: Path, read_calls):
        """With the inbox given, a folder on the way replaced by a link to elsewhere is refused."""
        inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
        (inbox / "sub").mkdir(parents=True)
        (inbox / "sub" / "a.txt").write_bytes(b"a dump")
        elsewhere.mkdir()
        (elsewhere / "a.txt").write_bytes(b"not for you")
        (inbox / "sub" / "a.txt").unlink()
        (inbox / "sub").rmdir()
        (inbox / "sub").symlink_to(elsewhere)
        with pytest.raises(NotRegularFileError):
            copy_into_work(inbox / "sub" / "a.txt", tmp_path / "work", inbox=inbox)
        assert read_calls == []

    def test_sub_folder_file_with_inbox(self, tmp_path: Path):
        inbox = tmp_path / "inbox"
        (inbox / "a" / "b").mkdir(parents=True)
        (inbox / "a" / "b" / "c.txt").write_bytes(b"deep")
        taken = copy_into_work(inbox / "a" / "b" / "c.txt", tmp_path / "work", inbox=inbox)
        assert taken.sha256 == sha(b"deep")

    def test_path_outside_the_inbox_is_refused(self, tmp_path: Path):
        (tmp_path / "x").write_bytes(b"x")
        with pytest.raises(NotRegularFileError):
            copy_into_work(tmp_path / "x", tmp_path / "work", inbox=tmp_path / "inbox")

    def test_file_growing_while_read_is_refused(self, tmp_path: Path, monkeypatch):
        """A file still being written (it grows during the copy) is not taken half-way."""
        source = tmp_path / "a.txt"
        source.write_bytes(b"x" * 100)
        real_readv = os.readv

        def writer_appends(fd, buffers):
            if source.stat().st_size == 100:  # the writer adds a last line, once
                with source.open("ab") as handle:
                    handle.write(b"more")
            return real_readv(fd, buffers)

        monkeypatch.setattr(os, "readv", writer_appends)
        with pytest.raises(FileChangedError):
            copy_into_work(source, tmp_path / "work")
        assert list((tmp_path / "work").iterdir()) == []

    def test_failed_copy_leaves_nothing(self, tmp_path: Path, monkeypatch):
        """Disk full mid-copy: the error surfaces, no temporary and no work file stay behind."""
        source = tmp_path / "a.txt"
        source.write_bytes(b"y" * 100)

        def disk_full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space"):
            copy_into_work(source, tmp_path / "work")
        assert list((tmp_path / "work").iterdir()) == []


class TestFileIdentity:
    def test_format_and_change(self, tmp_path: Path):
        """``dev:ino:size:mtime_ns``; new bytes in the same inode give a new identity."""
        path = tmp_path / "a"
        path.write_bytes(b"one")
        first = path.stat()
        assert file_identity(first) == (
            f"{first.st_dev}:{first.st_ino}:{first.st_size}:{first.st_mtime_ns}"
        )
        path.write_bytes(b"three")
        assert file_identity(path.stat()) != file_identity(first)

    def test_unlink_if_same(self, tmp_path: Path):
        """The inbox entry goes only if it is still the file that was taken."""
        path = tmp_path / "a.txt"
        path.write_bytes(b"taken")
        taken = copy_into_work(path, tmp_path / "work")
        path.unlink()
        path.write_bytes(b"a new drop under the same name")
        assert not unlink_if_same(path, taken.stat)
        assert path.exists()
        assert unlink_if_same(path, path.stat())
        assert not path.exists()
        assert not unlink_if_same(path, taken.stat)  # gone: nothing to do


class TestSweepPartials:
    def test_removes_old_leftovers_only(self, tmp_path: Path):
        """``.taking-*`` and ``.*.partial`` unmodified for the minimum age go; young ones (a copy
        still running elsewhere), ordinary and other hidden files stay."""
        old = time.time() - 3600
        names = {
            ".taking-0123": True,
            ".a.txt.abcd.partial": True,
            ".a.txt.error.json.ef01.partial": True,
            "a.txt": False,
            ".hidden": False,
            "x.partial": False,  # not hidden: not ours
            "taking-1": False,
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x")
            os.utime(tmp_path / name, (old, old))
        (tmp_path / ".taking-young").write_bytes(b"x")
        removed = sweep_partials(tmp_path, min_age_seconds=600)
        assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {n for n, gone in names.items() if not gone} | {".taking-young"}

    def test_zero_age_and_missing_folder(self, tmp_path: Path):
        (tmp_path / ".taking-1").write_bytes(b"x")
        assert [p.name for p in sweep_partials(tmp_path, min_age_seconds=0)] == [".taking-1"]
        assert sweep_partials(tmp_path / "none") == []

    def test_crash_mid_copy_leaves_only_what_sweep_removes(self, tmp_path: Path, monkeypatch):
        """A copy killed half-way (here: an exception the cleanup cannot run after) leaves only
        a hidden ``.taking-*``, never ``work/<sha256>``; the sweep removes it."""
        import worker.files as files

        source = tmp_path / "a.txt"
        source.write_bytes(b"z" * 100)
        monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # no cleanup

        def killed(fd, partial):
            partial.write_bytes(b"z" * 10)
            raise KeyboardInterrupt

        monkeypatch.setattr(files, "_copy_hashing", killed)
        with pytest.raises(KeyboardInterrupt):
            copy_into_work(source, tmp_path / "work")
        monkeypatch.undo()
        left = [p.name for p in (tmp_path / "work").iterdir()]
        assert len(left) == 1 and left[0].startswith(".taking-")
        assert len(sweep_partials(tmp_path / "work", min_age_seconds=0)) == 1
        assert list((tmp_path / "work").iterdir()) == []


class TestMoveRetried:
    def test_identical_target_is_a_no_op_success(self, tmp_path: Path):
        """A move retried after a crash that had copied the bytes already: the source goes, the
        target stays as it is, no error."""
        source, target = tmp_path / "a.txt", tmp_path / "out" / "a.txt"
        target.parent.mkdir()
        source.write_bytes(b"the same bytes")
        target.write_bytes(b"the same bytes")
        inode = target.stat().st_ino
        move(source, target)
        assert not source.exists()
        assert target.read_bytes() == b"the same bytes"
        assert target.stat().st_ino == inode

    def test_crash_between_link_and_unlink(self, tmp_path: Path):
        """Source and target the same inode (linked, not yet unlinked): the retry finishes."""
        source, target = tmp_path / "a.txt", tmp_path / "b.txt"
        source.write_bytes(b"linked")
        os.link(source, target)
        move(source, target)
        assert not source.exists()
        assert target.read_bytes() == b"linked"

    def test_same_size_other_bytes_still_raises(self, tmp_path: Path):
        source, target = tmp_path / "a.txt", tmp_path / "b.txt"
        source.write_bytes(b"aaaa")
        target.write_bytes(b"bbbb")
        with pytest.raises(FileExistsError):
            move(source, target)
        assert source.read_bytes() == b"aaaa"
        assert target.read_bytes() == b"bbbb"

    def test_source_gone_and_target_with_the_hash(self, tmp_path: Path):
        """The crash came after the unlink: with the hash known, the retry is a success."""
        target = tmp_path / "b.txt"
        target.write_bytes(b"moved")
        move(tmp_path / "a.txt", target, sha256=sha(b"moved"))
        assert target.read_bytes() == b"moved"
        with pytest.raises(FileNotFoundError):
            move(tmp_path / "a.txt", target)  # without the hash, nothing proves it was ours
        with pytest.raises(FileNotFoundError):
            move(tmp_path / "a.txt", target, sha256=sha(b"other"))  # not ours
        assert target.read_bytes() == b"moved"

    def test_identical_target_across_file_systems(self, tmp_path: Path, monkeypatch):
        """The copy path too: a target holding the same bytes makes the retry a success."""

        def no_cross_device_link(src, dst, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        source, target = tmp_path / "a.txt", tmp_path / "out" / "a.txt"
        target.parent.mkdir()
        source.write_bytes(b"x" * 1000)
        target.write_bytes(b"x" * 1000)
        monkeypatch.setattr(os, "link", no_cross_device_link)
        move(source, target)
        assert not source.exists()
        assert [p.name for p in target.parent.iterdir()] == ["a.txt"]

    def test_symlink_source_is_never_copied_through(self, tmp_path: Path, monkeypatch):
        """Across file systems a symlink source is refused, not read through."""

        def no_cross_device_link(src, dst, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        secret = tmp_path / "secret"
        secret.write_bytes(b"password")
        source = tmp_path / "a.txt"
        source.symlink_to(secret)
        target = tmp_path / "out" / "a.txt"
        monkeypatch.setattr(os, "link", no_cross_device_link)
        with pytest.raises(NotRegularFileError):
            move(source, target)
        assert list(target.parent.iterdir()) == []
        assert source.is_symlink()

    def test_symlink_source_moves_as_a_link(self, tmp_path: Path):
        """On one file system a symlink is moved as the link itself, its target untouched."""
        secret = tmp_path / "secret"
        secret.write_bytes(b"password")
        source = tmp_path / "a.txt"
        source.symlink_to(secret)
        target = tmp_path / "out" / "a.txt"
        move(source, target)
        assert target.is_symlink()
        assert not source.is_symlink() and not source.exists()
