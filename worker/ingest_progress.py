"""``newsingest ingest``'s progress bar: files done of the total, articles stored, on stderr.

Drawn only where a person looks at it: stderr a terminal and the logs not JSON (``--log-format
json`` on a terminal still means a machine reads them), and not for ``--json``. Elsewhere every
method does nothing, so the command's loop is the same either way.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from worker.models import FileSummary


class IngestProgress:
    """A context manager around the files' loop; the driver reports into ``stored``."""

    def __init__(self, files: int, *, show: bool, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = show and self.console.is_terminal
        self.articles = 0  # sightings stored so far, updated per commit (a chunk, or a file)
        self.new = 0  # of them, new records: known when a file is done
        self._files = files
        self._progress: Any = None
        self._task: Any = None
        self._stack = ExitStack()

    def __enter__(self) -> IngestProgress:
        if not self.enabled:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from worker.status_view import logs_above_live

        self._progress = Progress(
            TextColumn("[bold]ingest[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[articles]} articles ({task.fields[new]} new)"),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
        )
        self._task = self._progress.add_task("", total=self._files, articles=0, new=0)
        self._stack.enter_context(self._progress)
        self._stack.enter_context(logs_above_live())
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def file_started(self, path: Path) -> None:
        self._update(description=path.name)

    def stored(self, articles: int) -> None:
        """The driver committed ``articles`` more (``FileDriver(on_stored=...)``)."""
        self.articles += articles
        self._update(articles=self.articles)

    def file_done(self, summary: FileSummary) -> None:
        self.new += summary.new
        self._update(advance=1, new=self.new, description="")

    def _update(self, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **fields)
