"""The embedded broker: kombu's SQLAlchemy transport on SQLite, polled 10 times a second.

kombu's virtual transports poll an empty queue once a second, which left idle workers waiting up to
a second per file. The interval cannot be set through ``broker_transport_options`` here: the
SQLAlchemy transport hands those to ``create_engine``, which rejects unknown keywords.

The worker's pool forks while its main process uses the broker: a child born while a thread of the
parent held kombu's transport lock (or SQLAlchemy's mapper-configuration lock, which kombu's lazily
built models take) inherits it locked, and hangs on its first broker write (seen in chaos runs:
a task stuck publishing its chunks until its time limit). Both locks are taken around every fork,
so a child always starts with them free.

kombu creates a queue's row under a lock that only guards threads of one process: the watcher and
a worker starting together on a fresh broker both insert it, and the loser died with
``IntegrityError`` ("Unrecoverable error" at worker start-up). Our channel takes the winner's row.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from kombu.transport import sqlalchemy
from sqlalchemy.exc import IntegrityError


class EmbeddedChannel(sqlalchemy.Channel):
    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)
        except IntegrityError:  # another process created it first: use theirs
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()


class EmbeddedTransport(sqlalchemy.Transport):
    Channel = EmbeddedChannel
    polling_interval = 0.1


# the module, not the `mapper` function that sqlalchemy.orm exports under the same name
_mapper = importlib.import_module("sqlalchemy.orm.mapper")


def _fork_locks() -> tuple[Any, ...]:
    return (sqlalchemy._MUTEX, _mapper._CONFIGURE_MUTEX)


def _before_fork() -> None:
    for lock in _fork_locks():
        lock.acquire()


def _after_fork() -> None:
    for lock in reversed(_fork_locks()):
        lock.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
