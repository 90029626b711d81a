"""Parse throughput and memory on big dumps: streaming parse beside plain reading of the same bytes.

    .venv/bin/python bench/parse_throughput.py [--sizes 10,100,1000] [--samples ../shared/samples]
                                               [--keep] [--folder DIR] [--json PATH]

For each size (in MB, 1 MB = 10^6 bytes) a dump is built in a temporary folder by concatenating
the sample dumps (``*.txt``, sorted by name, separated by three blank lines) over and over, cut at
the last article separator before the size. The same file is then measured four ways, each in a
fresh Python process so that its peak RSS (VmHWM, the process's own high-water mark) belongs to
that measurement alone:

- ``read 1MB blocks``: ``open(..., "rb").read(1 << 20)`` until EOF, the floor of any reader;
- ``raw lines``: ``worker.parse.reader.iter_raw_lines``, the byte-level line splitter;
- ``decoded lines``: ``LineReader.lines``, i.e. raw lines decoded and cleaned (``clean_text``);
- ``parse (stream)``: ``prepare_dump`` then ``iter_part`` over every part, counting articles and
  unplaced lines without holding them: what a worker does with a dump.

The times cover the work only (not the interpreter start or the imports); the parse is single
threaded, so its MB/s is per core. ``rss start`` is the process's resident size before the work
(interpreter and imports), ``peak rss`` its high-water mark at the end. The dump is read once
before the measurements so that every one of them reads from the page cache. The big files are
deleted at the end unless ``--keep`` is given. Skips with a message when the samples are absent.

``--json PATH`` also writes the figures for ``bench/run_all.py``: the streaming parse MB/s of each
dump beside the raw line reading MB/s of the same dump, and the parse's peak RSS on the biggest
dump beside that of reading it in 1 MB blocks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import (
    DEFAULT_SAMPLES,
    MB,
    Figure,
    machine_lines,
    peak_rss_mb,
    sample_files,
    table,
    write_figures,
)

SEPARATOR = b"\n" * 4  # the end of the last line, then three blank lines
TARGET_MB_S = 30.0
BLOCK = 1 << 20
MEASUREMENTS: dict[str, str] = {
    "read": "read 1MB blocks",
    "raw": "raw lines",
    "decoded": "decoded lines",
    "parse": "parse (stream)",
}


# --- building the dumps ---------------------------------------------------------------------------


def build_dump(samples: list[Path], target: Path, size: int) -> tuple[int, int]:
    """Write a dump of about ``size`` bytes to ``target``: the samples, again and again.

    Returns the bytes written and the number of whole passes over the samples. The dump ends at an
    article boundary (the last separator that fits) so that no article is cut.
    """
    contents = [path.read_bytes().rstrip(b"\r\n") for path in samples]
    written = 0
    passes = 0
    with target.open("wb") as out:
        while written < size:
            for content in contents:
                piece = (SEPARATOR if written else b"") + content
                if written + len(piece) + 1 > size:
                    room = size - written - 1
                    cut = piece.rfind(SEPARATOR, 0, room + 1) if room > 0 else -1
                    if cut > 0:
                        out.write(piece[:cut])
                        written += cut
                    out.write(b"\n")
                    return written + 1, passes
                out.write(piece)
                written += len(piece)
            passes += 1
        out.write(b"\n")
    return written + 1, passes


# --- one measurement, in its own process ----------------------------------------------------------


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _read_blocks(path: Path) -> dict[str, int]:
    total = 0
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            total += len(block)
    return {"bytes": total}


def _raw_lines(path: Path) -> dict[str, int]:
    from worker.parse.reader import iter_raw_lines

    lines = 0
    with path.open("rb") as handle:
        for _ in iter_raw_lines(handle):
            lines += 1
    return {"lines": lines}


def _decoded_lines(path: Path) -> dict[str, int]:
    from worker.parse import prepare_dump, remove_scratch
    from worker.parse.reader import LineReader

    lines = chars = 0
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as folder:
        scratch = Path(folder) / "scratch"
        try:
            for part in prepare_dump(path, scratch):
                for _, line in LineReader(part).lines():
                    lines += 1
                    chars += len(line)
        finally:
            remove_scratch(scratch)
    return {"lines": lines, "chars": chars}


def _parse(path: Path) -> dict[str, int]:
    from worker.models import ParsedArticle
    from worker.parse import iter_part, prepare_dump, remove_scratch

    articles = unplaced = 0
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as folder:
        scratch = Path(folder) / "scratch"
        try:
            for part in prepare_dump(path, scratch):
                for _, item in iter_part(part):
                    if isinstance(item, ParsedArticle):
                        articles += 1
                    else:
                        unplaced += 1
        finally:
            remove_scratch(scratch)
    return {"articles": articles, "unplaced": unplaced}


_WORK: dict[str, Callable[[Path], dict[str, int]]] = {
    "read": _read_blocks,
    "raw": _raw_lines,
    "decoded": _decoded_lines,
    "parse": _parse,
}


def measure_here(kind: str, path: Path) -> dict[str, float]:
    """Run one measurement in this process; print nothing, return the figures."""
    if kind != "read":  # import outside the timed work, as a worker would have done already
        import worker.models
        import worker.parse  # noqa: F401

    rss_start = _current_rss_mb()
    started = time.perf_counter()
    counts = _WORK[kind](path)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "rss_start_mb": rss_start,
        "peak_rss_mb": peak_rss_mb(),
        **counts,
    }


def measure(kind: str, path: Path) -> dict[str, float]:
    """Run one measurement in a fresh Python process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement {kind!r} failed:\n{done.stderr.strip()}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the report -------------------------------------------------------------------------------


def _mb_s(result: dict[str, float] | None) -> float | None:
    return None if result is None else result["bytes"] / MB / result["seconds"]


def figures(measured: list[tuple[str, dict[str, dict[str, float]]]]) -> list[Figure]:
    """The figures for run_all: per dump, parse MB/s beside raw lines MB/s; on the biggest dump,
    the parse's peak RSS beside that of plain block reading."""
    found: list[Figure] = []
    for label, results in measured:
        if "parse" not in results:
            continue
        found.append(
            Figure(
                bench="parse_throughput",
                name=f"streaming parse, {label} dump",
                value=_mb_s(results["parse"]),
                unit="MB/s",
                baseline_name="raw lines" if "raw" in results else None,
                baseline_value=_mb_s(results.get("raw")),
                target=f">= {TARGET_MB_S:.0f} MB/s per core",
            )
        )
    if measured and "parse" in measured[-1][1]:
        label, results = measured[-1]
        found.append(
            Figure(
                bench="parse_throughput",
                name=f"parse peak RSS, {label} dump",
                value=results["parse"]["peak_rss_mb"],
                unit="MB",
                baseline_name="read 1MB blocks peak RSS",
                baseline_value=results["read"]["peak_rss_mb"],
                target="well under 300 MB at 1 GB",
            )
        )
    return found


def _skipped(path: Path | None, reason: str) -> None:
    if path is not None:
        figure = Figure("parse_throughput", "streaming parse", None, "MB/s")
        figure.note = f"skipped: {reason}"
        write_figures(path, [figure])


def _row(size_label: str, kind: str, result: dict[str, float], read_s: float) -> list[str]:
    seconds = result["seconds"]
    mb_s = result["bytes"] / MB / seconds
    articles = result.get("articles")
    lines = result.get("lines")
    return [
        size_label,
        MEASUREMENTS[kind],
        f"{seconds:.2f}",
        f"{mb_s:,.1f}",
        f"{articles / seconds:,.0f}" if articles is not None else "",
        f"{int(articles):,}" if articles is not None else "",
        f"{lines / seconds / 1e6:.2f}" if lines is not None else "",
        f"{seconds / read_s:.1f}x" if kind != "read" else "1.0x",
        f"{result['rss_start_mb']:.0f}",
        f"{result['peak_rss_mb']:.0f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="dump sizes in MB, comma-separated")
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--folder", type=Path, default=None, help="where to build the dumps")
    parser.add_argument("--keep", action="store_true", help="keep the dumps (their folder shown)")
    parser.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help=f"measurements to run, comma-separated, of {','.join(MEASUREMENTS)}",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, path = args.child
        print(json.dumps(measure_here(kind, Path(path))))
        return 0

    samples = sample_files(args.samples)
    if not samples:
        print(f"SKIP: no sample dumps (*.txt) in {args.samples}")
        _skipped(args.json, f"no sample dumps (*.txt) in {args.samples}")
        return 0
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    kinds = [kind for kind in args.only.split(",") if kind in MEASUREMENTS]
    if "read" not in kinds:
        kinds.insert(0, "read")  # the reference of the "x read" column

    for line in machine_lines():
        print(line)
    sample_mb = sum(p.stat().st_size for p in samples) / MB
    print(f"samples : {len(samples)} files, {sample_mb:.1f} MB, from {args.samples}")
    print(f"target  : parse >= {TARGET_MB_S:.0f} MB/s per core, peak RSS well under 300 MB at 1 GB")
    print()

    if args.folder is not None:
        args.folder.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="parse-throughput-", dir=args.folder))
    free = shutil.disk_usage(folder).free
    needed = (sum(sizes) if args.keep else max(sizes)) * MB  # each dump goes after its runs
    if needed * 1.1 > free:
        print(f"SKIP: {needed / MB:.0f} MB needed in {folder}, {free / MB:.0f} MB free")
        _skipped(args.json, f"{needed / MB:.0f} MB needed in {folder}, {free / MB:.0f} MB free")
        shutil.rmtree(folder, ignore_errors=True)
        return 0

    header = [
        "dump",
        "measurement",
        "seconds",
        "MB/s",
        "articles/s",
        "articles",
        "Mlines/s",
        "x read",
        "rss start MB",
        "peak rss MB",
    ]
    rows: list[list[str]] = []
    parse_rates: list[tuple[str, float, float]] = []
    measured: list[tuple[str, dict[str, dict[str, float]]]] = []
    try:
        for size_mb in sizes:
            path = folder / f"dump-{size_mb}MB.txt"
            written, passes = build_dump(samples, path, size_mb * MB)
            label = f"{written / MB:,.0f} MB"
            print(f"built {path.name}: {written:,} bytes, {passes} whole passes over the samples")
            _read_blocks(path)  # into the page cache
            results = {kind: measure(kind, path) for kind in kinds}
            measured.append((label, results))
            read_s = results["read"]["seconds"]
            for kind in kinds:
                rows.append(_row(label, kind, results[kind], read_s))
            if "parse" in results:
                parse = results["parse"]
                rate = parse["bytes"] / MB / parse["seconds"]
                parse_rates.append((label, rate, parse["peak_rss_mb"]))
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(table(header, rows))
    print()
    for label, rate, rss in parse_rates:
        verdict = "meets" if rate >= TARGET_MB_S else "BELOW"
        print(
            f"parse {label}: {rate:.1f} MB/s per core ({verdict} the {TARGET_MB_S:.0f} MB/s "
            f"target), peak RSS {rss:.0f} MB"
        )
    if args.keep:
        print(f"dumps kept in {folder}")
    if args.json is not None:
        write_figures(args.json, figures(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
