"""The embedded broker's locks are free in a forked child, whatever the parent's threads held."""

from __future__ import annotations

import importlib
import os
import threading
import time

import pytest
from kombu.transport import sqlalchemy as kombu_sqlalchemy

import worker.queue.broker  # noqa: F401  (registers the fork hooks)

LOCKS = {
    "kombu transport": lambda: kombu_sqlalchemy._MUTEX,
    "sqlalchemy mapper configuration": lambda: (
        importlib.import_module("sqlalchemy.orm.mapper")._CONFIGURE_MUTEX
    ),
}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_a_child_forked_while_a_thread_holds_the_lock_finds_it_free(name: str) -> None:
    """A pool child forked while the parent's consumer thread held the lock would otherwise
    hang on its first broker write."""
    lock = LOCKS[name]()
    held = threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            time.sleep(0.2)  # the fork below waits for this (without the hook it would not)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 if it can take the lock
        os._exit(0 if lock.acquire(timeout=2) else 1)
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
