"""Named crash points for the fault-injection tests, after etcd's gofail and TiKV's fail-rs.

``point("publish.after_commit")`` does nothing unless the process was started with
``NEWSINGEST_FAULT`` naming that point; then it SIGKILLs the process right there, once: the first
process to reach the point creates ``NEWSINGEST_FAULT_DIR/<point>`` (an exclusive create), so the
replacement that Celery or the test starts afterwards runs on. Production processes never set
these variables, and nothing else in the code knows about tests.

The points, in a file's life (see the crash-point tests):
``take.mid_copy``, ``take.after_copy``, ``claim.after_commit``, ``take.after_move``,
``publish.after_commit``, ``split.after_commit``, ``chunk.after_last_flip``,
``finish.before_move``, ``finish.after_move``; and the outbox relay's ``relay.after_deliver``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

# Read once: the environment of a process does not change its faults midway.
_ARMED = frozenset(filter(None, os.environ.get("NEWSINGEST_FAULT", "").split(",")))
_ONCE_DIR = os.environ.get("NEWSINGEST_FAULT_DIR")


def point(name: str) -> None:
    """Die here with SIGKILL if a test armed this point (and it has not fired yet)."""
    if name not in _ARMED:
        return
    if _ONCE_DIR is not None:
        try:
            os.close(os.open(Path(_ONCE_DIR) / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # fired already, in this process tree or another
    os.kill(os.getpid(), signal.SIGKILL)
