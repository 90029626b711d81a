"""``newsingest status --watch``: a status snapshot (``snapshot.py``) drawn again every interval.

On a terminal, a rich Live view redrawn in place; with ``--json``, one JSON object per line per
interval (a feed for scripts, on a terminal or not); otherwise the table printed again each
interval, since a Live view written to a file or a pipe is only cursor codes. Ctrl-C or SIGTERM
ends it with status 0.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from worker.log import get_logger
from worker.snapshot import StatusSnapshot

log = get_logger("newsingest.status")


def watch_status(
    take: Callable[[], StatusSnapshot],
    console: Console,
    *,
    interval: float = 2.0,
    as_json: bool = False,
) -> None:
    """Show a fresh snapshot every ``interval`` seconds until Ctrl-C or SIGTERM."""
    # SIGTERM (a supervisor, `timeout`) ends the view as Ctrl-C does, through the same path
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if as_json:
            _loop(take, interval, lambda snap: _write_json_line(console, snap))
        elif console.is_terminal:
            _live(take, console, interval)
        else:
            _loop(take, interval, lambda snap: console.print(render(snap)))
    except KeyboardInterrupt:
        pass  # the way to stop a watch: not an error
    finally:
        signal.signal(signal.SIGTERM, previous)


def _loop(
    take: Callable[[], StatusSnapshot], interval: float, show: Callable[[StatusSnapshot], None]
) -> None:
    show(take())
    while True:
        time.sleep(interval)
        snapshot = _retake(take)
        if snapshot is not None:
            show(snapshot)


def _live(take: Callable[[], StatusSnapshot], console: Console, interval: float) -> None:
    from rich.live import Live

    snapshot = take()
    # redrawn by us once per interval: rich's own refresh thread would only redraw the same data
    with Live(render(snapshot), console=console, auto_refresh=False) as live, logs_above_live():
        while True:
            time.sleep(interval)
            snapshot = _retake(take) or snapshot
            live.update(render(snapshot), refresh=True)


def _retake(take: Callable[[], StatusSnapshot]) -> StatusSnapshot | None:
    """A snapshot, or None when the store or broker failed to answer this once: a watch is for
    watching a system in trouble too, so it keeps going (the first snapshot's failure is not
    caught: then the settings are wrong)."""
    try:
        return take()
    except Exception as exc:
        log.warning("status.snapshot_failed", error=str(exc), error_type=type(exc).__name__)
        return None


def _write_json_line(console: Console, snapshot: StatusSnapshot) -> None:
    # the console's file, not console.print: one compact line, no highlighting nor wrapping
    console.file.write(json.dumps(snapshot.as_dict(), ensure_ascii=False) + "\n")
    console.file.flush()


def render(snapshot: StatusSnapshot) -> RenderableType:
    """The watch view: files and articles, the flow of the last minutes, failures."""
    at = datetime.fromtimestamp(snapshot.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    table = Table("what", "value", show_header=False, title=f"newsingest status, {at}")
    for state, count in snapshot.files.items():
        style = "red" if state == "failed" and count else None
        table.add_row(f"files {state}", Text(str(count), style=style or ""))
    table.add_row("oldest pending", format_age(snapshot.oldest_pending_age_s))
    depth = snapshot.queue_depth
    table.add_row("queue depth", "unknown" if depth is None else str(depth))
    table.add_row("workers busy", str(snapshot.workers_busy))
    table.add_row("duplicate files", str(snapshot.duplicate_files))
    table.add_row("articles", str(snapshot.articles))
    table.add_row("exact duplicates", str(snapshot.exact_duplicates))
    table.add_row("near duplicates", str(snapshot.near_duplicates))
    per_minute = "  ".join(
        f"{m.minute[11:]} {m.articles}" for m in snapshot.articles_per_minute
    )  # "HH:MM n", UTC, the current (running) minute last
    table.add_row("articles / minute", per_minute)
    parts: list[RenderableType] = [table]
    if snapshot.recent_failures:
        failures = Table("failed file", "code", "message", title="recent failures")
        for failure in snapshot.recent_failures:
            failures.add_row(
                failure["file"], Text(str(failure["code"]), style="red"), failure["message"] or ""
            )
        parts.append(failures)
    return Group(*parts)


def format_age(seconds: float | None) -> str:
    """``None`` → "none"; else the age in its largest sensible units: "42s", "3m 05s", "2h 10m"."""
    if seconds is None:
        return "none"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


@contextmanager
def logs_above_live() -> Iterator[None]:
    """While a rich Live display (or Progress) runs, route the log handler's lines through the
    proxy rich installs as ``sys.stderr``, so that they print above the display.

    ``configure_logging`` gave its handler the real stderr, which Live's redirection does not
    reach: a log line would be written through the middle of the display."""
    from rich.file_proxy import FileProxy

    proxy = sys.stderr
    if not isinstance(proxy, FileProxy):
        yield
        return
    handlers = {
        handler
        for logger in (logging.getLogger(), logging.getLogger("multiprocessing"))
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is proxy.rich_proxied_file
    }
    for handler in handlers:
        handler.setStream(proxy)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(proxy.rich_proxied_file)
