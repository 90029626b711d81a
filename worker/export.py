"""Records out: the writers of ``newsingest articles`` and ``newsingest export``.

Each writer takes an iterator of records and writes them as they come: a store of a million
records is never held in memory (Parquet holds one row group, ``PARQUET_ROW_GROUP`` records).

- ``jsonl``: one JSON object per line, the record's fields (README "Records").
- ``csv``: a header, then one row per record, the same fields in the same order; lists and
  objects (entities, countries, keywords, quotes, sources, enrich_errors) as JSON text in their
  cell, null as an empty cell; ``\\n`` line ends.
- ``parquet`` (``pip install 'newsingest[parquet]'``): typed columns (``PARQUET_SCHEMA``):
  nested lists and structs for entities, quotes and sources, ``ingested_at`` a UTC timestamp.
- ``table``: for a person at a terminal, printed a batch of rows at a time.

Nothing here imports typer or pyarrow until asked for Parquet.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from worker.models import ArticleRecord

FIELDS = tuple(f.name for f in dataclasses.fields(ArticleRecord))
PARQUET_ROW_GROUP = 10_000  # records a Parquet row group holds (and the writer in memory)
_ARROW_BATCH = 1_000  # records turned into Arrow data at a time
PARQUET_HINT = "pip install 'newsingest[parquet]'"
TABLE_BATCH = 100  # rows per printed batch of --format table


class ParquetUnavailable(RuntimeError):
    """pyarrow is not installed."""

    def __init__(self) -> None:
        super().__init__(f"Parquet export needs pyarrow, an optional extra: {PARQUET_HINT}")


def record_dict(record: ArticleRecord) -> dict[str, Any]:
    """``dataclasses.asdict(record)``, without its deep copy of the JSON fields (read from the
    store for this record alone, they are shared with nobody): a third of the cost of a JSON
    line went there."""
    data = {name: getattr(record, name) for name in FIELDS}
    data["sources"] = [
        {"file": s.file, "sha256": s.sha256, "index": s.index, "line": s.line}
        for s in record.sources
    ]
    return data


def write_jsonl(records: Iterable[ArticleRecord], stream: IO[str]) -> Iterator[int]:
    """Write each record as a JSON line; yields after each one (for a progress bar)."""
    for record in records:
        stream.write(json.dumps(record_dict(record), ensure_ascii=False) + "\n")
        yield 1


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_csv(records: Iterable[ArticleRecord], stream: IO[str]) -> Iterator[int]:
    """The header, then one row per record; yields after each row."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(FIELDS)
    for record in records:
        data = record_dict(record)
        writer.writerow([csv_cell(data[name]) for name in FIELDS])
        yield 1


def parquet_schema() -> Any:
    """The Parquet columns, one per record field (raises ``ParquetUnavailable``)."""
    try:
        import pyarrow as pa
    except ImportError:
        raise ParquetUnavailable() from None

    entity = pa.list_(pa.struct([("text", pa.string()), ("count", pa.int32())]))
    return pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("image_caption", pa.string()),
            ("image_credit", pa.string()),
            ("lead", pa.string()),
            ("language", pa.string()),
            ("word_count", pa.int32()),
            ("reading_time_s", pa.int32()),
            ("entities", pa.struct([("person", entity), ("org", entity), ("location", entity)])),
            ("countries", pa.list_(pa.string())),
            ("keywords", pa.list_(pa.string())),
            ("quotes", pa.list_(pa.struct([("text", pa.string()), ("speaker", pa.string())]))),
            ("duplicate_of", pa.string()),
            ("similarity", pa.float64()),
            (
                "sources",
                pa.list_(
                    pa.struct(
                        [
                            ("file", pa.string()),
                            ("sha256", pa.string()),
                            ("index", pa.int64()),
                            ("line", pa.int64()),
                        ]
                    )
                ),
            ),
            ("ingested_at", pa.timestamp("us", tz="UTC")),
            ("pipeline_version", pa.string()),
            ("enrich_errors", pa.map_(pa.string(), pa.string())),
        ]
    )


def _parquet_row(record: ArticleRecord) -> dict[str, Any]:
    data = record_dict(record)
    if isinstance(data["ingested_at"], str):
        data["ingested_at"] = datetime.fromisoformat(data["ingested_at"])
    return data


def write_parquet(records: Iterable[ArticleRecord], stream: IO[bytes]) -> Iterator[int]:
    """Row groups of ``PARQUET_ROW_GROUP`` records through ``pyarrow.parquet.ParquetWriter``;
    yields after each record. A store with no record gives a file with the schema and no row.

    Records become Arrow data ``_ARROW_BATCH`` at a time, so that a row group is held once, as
    Arrow columns, not also as Python objects."""
    schema = parquet_schema()
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        batches: list[Any] = []
        rows: list[dict[str, Any]] = []
        held = 0
        for record in records:
            rows.append(_parquet_row(record))
            if len(rows) == _ARROW_BATCH or held + len(rows) == PARQUET_ROW_GROUP:
                batches.append(pa.RecordBatch.from_pylist(rows, schema=schema))
                held += len(rows)
                rows = []
            if held == PARQUET_ROW_GROUP:
                writer.write_table(pa.Table.from_batches(batches, schema=schema))
                batches, held = [], 0
            yield 1
        if rows:
            batches.append(pa.RecordBatch.from_pylist(rows, schema=schema))
        if batches:
            writer.write_table(pa.Table.from_batches(batches, schema=schema))


WRITERS: dict[str, Callable[[Iterable[ArticleRecord], Any], Iterator[int]]] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "parquet": write_parquet,
}
BINARY = frozenset({"parquet"})


def print_table(records: Iterable[ArticleRecord], console: Console) -> int:
    """A table of the records, printed ``TABLE_BATCH`` rows at a time with the same column
    widths, so that it streams like the other formats; the header once. Returns the count."""
    from rich import box
    from rich.table import Table

    def batch(header: bool) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_header=header, show_edge=False, expand=True)
        table.add_column("id", width=12, no_wrap=True)
        table.add_column("title", ratio=1, overflow="fold")
        table.add_column("language", width=8, no_wrap=True)
        table.add_column("words", width=6, justify="right", no_wrap=True)
        table.add_column("credit", width=10, no_wrap=True)
        table.add_column("sources", width=7, justify="right", no_wrap=True)
        return table

    count = 0
    table = batch(header=True)
    for record in records:
        table.add_row(
            record.id[:12],
            record.title,
            record.language or "",
            str(record.word_count if record.word_count is not None else ""),
            record.image_credit or "",
            str(len(record.sources)),
        )
        count += 1
        if count % TABLE_BATCH == 0:
            console.print(table)
            table = batch(header=False)
    if table.row_count or count == 0:
        console.print(table)
    return count


class ExportProgress:
    """``export``'s bar on stderr: records written of the total. Drawn only when ``show`` (a
    person at a terminal, logs not JSON) and stderr is a terminal; otherwise does nothing."""

    def __init__(self, *, show: bool, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = show and self.console.is_terminal
        self._progress: Any = None
        self._task: Any = None
        self._stack = ExitStack()

    def start(self, total: int | None, label: str) -> None:
        if not self.enabled:
            return
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from worker.status_view import logs_above_live

        self._progress = Progress(
            TextColumn("[bold]export[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
        )
        self._task = self._progress.add_task(escape(label), total=total)
        self._stack.enter_context(self._progress)
        self._stack.enter_context(logs_above_live())

    def advance(self, records: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=records)

    def close(self) -> None:
        self._stack.close()


def export(
    records: Iterable[ArticleRecord],
    fmt: str,
    output: Path | None,
    stdout: IO[str],
    progress: ExportProgress | None = None,
    every: int = 1000,
) -> int:
    """Write ``records`` as ``fmt`` to ``output`` (a file: written as ``NAME.part`` beside it and
    renamed when complete, so that a half-written export never has the final name) or, without
    it, to ``stdout`` (text formats only). Returns how many records were written."""
    if fmt in BINARY and output is None:
        raise ValueError(f"--format {fmt} needs --output PATH")
    if fmt == "parquet":
        parquet_schema()  # pyarrow missing: say so before reading anything
    write = WRITERS[fmt]
    written = pending = 0

    def run(stream: Any) -> None:
        nonlocal written, pending
        for step in write(records, stream):
            written += step
            pending += step
            if progress is not None and pending >= every:
                progress.advance(pending)
                pending = 0
        if progress is not None:
            progress.advance(pending)

    if output is None:
        run(stdout)
        stdout.flush()
        return written
    partial = output.with_name(output.name + ".part")
    try:
        if fmt in BINARY:
            with partial.open("wb") as stream:
                run(stream)
        else:
            with partial.open("w", encoding="utf-8", newline="") as stream:
                run(stream)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
