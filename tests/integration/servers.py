"""Throwaway Redis and PostgreSQL servers that a test may crash and restart at will.

The machine's own servers (127.0.0.1:6379, 127.0.0.1:5432) are never touched: each throwaway
server has its own free port, its own folder under the system temp dir, and (PostgreSQL) its own
unix socket folder. ``stop()`` is a crash, not a shutdown: SIGKILL for Redis (which keeps nothing,
so a restart comes back empty), ``pg_ctl stop -m immediate`` for PostgreSQL (no checkpoint; the
next start replays the WAL, as after a power cut). ``start()`` comes back on the same port and,
for PostgreSQL, the same data directory.

PostgreSQL refuses to run as root, and the tests run as root in CI: ``initdb`` and ``postgres``
then run as the ``postgres`` OS user (``runuser -u postgres --``) in a folder chowned to it.

Without the binaries, :func:`require_binaries` skips the test with the reason (fails it when
``CI`` is set, like ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest


class ServerUnavailable(RuntimeError):
    """The binaries to start this server are missing, or it would not start."""


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (under CI) a test that needs a server we cannot start."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the integration tests for real)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_port_free(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)


class _Server:
    """Common shape: a folder of its own, a port, start/stop/restart, context manager."""

    name = "server"
    port: int
    folder: Path

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def restart(self, downtime: float = 0.0) -> None:
        """Crash it, stay down ``downtime`` seconds, start it again on the same port."""
        self.stop()
        if downtime > 0:
            time.sleep(downtime)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ would not run: leave no server behind
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / f"{self.name}.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ThrowawayRedis(_Server):
    """A private ``redis-server`` on 127.0.0.1:<free port>, no persistence."""

    name = "redis"

    def __init__(self, port: int | None = None, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("redis-server")
        if self.binary is None:
            raise ServerUnavailable("no redis-server binary on PATH to start a throwaway Redis")
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="newsingest-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15) -> None:
        if self.running:
            return
        _wait_port_free(self.port)
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerUnavailable(
                    f"throwaway redis-server on port {self.port} did not start:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL: a crash. Everything in it is gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def ping(self) -> bool:
        import redis

        try:
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False


def _postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb, pg_ctl and postgres."""
    candidates = []
    for folder in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(folder)
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            with contextlib.suppress(ValueError):
                candidates.append((float(path.parent.name), path))
    if candidates:
        return max(candidates)[1]
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class ThrowawayPostgres(_Server):
    """A private PostgreSQL cluster on 127.0.0.1:<free port>: trust auth, fsync off, its unix
    socket in its own folder. Run as the ``postgres`` OS user when we are root."""

    name = "postgres"

    def __init__(self, port: int | None = None) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            raise ServerUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in "
                "/usr/lib/postgresql/*/bin or on PATH"
            )
        self.bindir = bindir
        self.prefix: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                self._owner = None
            if runuser is None or self._owner is None:
                raise ServerUnavailable(
                    "running as root, and no `runuser` or no `postgres` OS user to run "
                    "PostgreSQL as (it refuses root)"
                )
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.port = port or free_port()
        # not under pytest's tmp_path: that is 0700 root, which the postgres user cannot enter
        self.folder = Path(tempfile.mkdtemp(prefix="newsingest-pg-"))
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.sockets.mkdir()
        if self._owner is not None:
            for path in (self.folder, self.sockets):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        os.chmod(self.folder, 0o700)
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )

    def _initdb(self) -> None:
        done = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            timeout=120,
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        self._initialised = True

    @property
    def running(self) -> bool:
        done = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status")
        return done.returncode == 0

    def start(self, timeout: float = 60) -> None:
        if not self._initialised:
            self._initdb()
        elif self.running:
            return
        _wait_port_free(self.port)
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.sockets}",
                # fsync off survives a crash of PostgreSQL (the OS keeps what it was given), not
                # of the machine; synchronous_commit stays on: off would lose commits on a crash
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c log_min_messages=warning",
            ]
        )
        done = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )
        if done.returncode != 0 or not self.ping():
            log = self.log_tail()
            self.stop()  # whatever half started must not outlive us
            raise ServerUnavailable(
                f"throwaway PostgreSQL on port {self.port} did not start:\n"
                f"{done.stdout}\n{done.stderr}\n{log}"
            )

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: every backend killed, no checkpoint; a crash."""
        if not self._initialised:
            return
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        # a server that pg_ctl could not stop (its pid file gone?) is killed by its pid
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        _wait_port_free(self.port)

    def ping(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                dbname="postgres",
                connect_timeout=2,
            ) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False


def start_or_skip(kind: type[_Server]) -> _Server:
    """A started server of this kind, or the test skips (fails under CI) with the reason."""
    try:
        server = kind()
    except ServerUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() skips or fails
    try:
        server.start()
    except ServerUnavailable as exc:
        server.close()
        unavailable(str(exc))
    return server
