"""Every benchmark at one size, one after the other, in one table: each figure beside its baseline.

    .venv/bin/python bench/run_all.py [--size smoke|small|full] [--only NAME ...] [--json PATH]
                                      [--samples DIR] [--timeout SECONDS] [--keep-output DIR]
                                      [--dry-run]

Runs the bench scripts below, each as its own process (``sys.executable bench/NAME.py OPTIONS
--json TMPFILE``), in sequence, never two at once (they time things, and share the cores), then
prints one table of what they wrote with ``_common.write_figures``: bench, figure, value, unit,
the baseline measured in the same run and its value, their ratio (value / baseline) and the
issue's target, with the machine (CPU, cores, memory, Python) on top. ``--json PATH`` writes the
same as JSON: ``{"machine", "size", "benches": [one entry per script: status, seconds, command,
reason], "figures": [...]}``.

Sizes (the options each script gets are in ``BENCHES``):

``smoke``
    tiny inputs, the model-free enrichers (``language,credit,stats,lead``) wherever the model is
    not what is measured: the whole run in a few minutes on 2 cores. For CI: it shows that every
    script still runs and writes its figures, not how fast anything is.
``small``
    bigger inputs, all enrichers: a few tens of minutes, figures worth reading.
``full``
    the sizes of the README's Performance section (hours at 1 GB dumps and 1 M indexed articles).

A script that is absent (a checkout without it) shows as
``missing``; one that skips (no samples, no server) shows its reason; neither changes the exit
status. A script that exits non-zero (or runs over ``--timeout``) is ``crashed``: the tail of its
stderr is printed and run_all exits 1. Each script's own output is kept with ``--keep-output DIR``
(``NAME.stdout``, ``NAME.stderr``).

The scripts get the caller's environment without its ``NEWSINGEST_*`` variables (but with
``NEWSINGEST_TEST_*``, the servers to use) and with ``NEWSINGEST_CONFIG`` pointing nowhere. Those
that use Redis or PostgreSQL take a fresh database number or schema and skip that part when the
server does not answer.

Run::

    .venv/bin/python bench/run_all.py --size smoke
    .venv/bin/python bench/run_all.py --size small --only parse_throughput near_dup_scale
    .venv/bin/python bench/run_all.py --size full --json bench-full.json --keep-output bench-logs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import Figure, clean_env, machine_info

HERE = Path(__file__).resolve().parent
SIZES = ("smoke", "small", "full")
MODEL_FREE = "language,credit,stats,lead"
SEED = "000_ea8bfdc928b77613.txt"
STATUSES = ("ok", "skipped", "missing", "crashed")
DEFAULT_TIMEOUT = {"smoke": 900.0, "small": 3 * 3600.0, "full": 24 * 3600.0}
STDERR_TAIL_LINES = 30


@dataclass(frozen=True)
class Bench:
    """One script and its options at each size (``--json PATH`` is added by run_all)."""

    name: str
    sizes: dict[str, list[str]]
    samples: bool = True  # takes --samples


def _options(text: str) -> list[str]:
    return text.split()


BENCHES: tuple[Bench, ...] = (
    Bench(
        "parse_throughput",
        {
            "smoke": _options("--sizes 10"),
            "small": _options("--sizes 10,100"),
            "full": _options("--sizes 10,100,1000"),
        },
    ),
    Bench(
        "enrich_speed",
        {
            "smoke": _options("--limit 40 --repeat 1"),
            "small": _options("--limit 400 --repeat 1"),
            "full": [],  # 1,437 articles, best of 2
        },
    ),
    Bench(
        "ingest_throughput",
        {
            "smoke": _options(
                f"--files {SEED} bbc-tech.txt --enrichers {MODEL_FREE}"
                " --growth 1000 --growth-file-articles 100"
            ),
            "small": _options(
                f"--files {SEED} bbc-tech.txt reuters-1987.txt"
                f" --growth 20000 --growth-enrichers {MODEL_FREE}"
            ),
            "full": _options(f"--growth 100000 --growth-enrichers {MODEL_FREE}"),
        },
    ),
    Bench(
        "pipeline_throughput",
        {
            "smoke": _options(
                f"--files {SEED} bbc-tech.txt --enrichers {MODEL_FREE}"
                " --ingest-baseline --timeout 240"
            ),
            "small": _options(
                f"--files {SEED} bbc-tech.txt bbc-sport.txt reuters-1987.txt --ingest-baseline"
            ),
            "full": _options("--ingest-baseline"),
        },
    ),
    Bench(
        "near_dup_scale",
        {
            "smoke": _options("--sizes 1000 3000 --measured 100"),
            "small": _options("--sizes 10000 100000 --measured 500"),
            "full": [],  # 10 k, 100 k, 1 M; 1,000 timed per size
        },
        samples=False,
    ),
    Bench("cli_latency", {"smoke": ["--smoke"], "small": [], "full": []}, samples=False),
    Bench(
        "query_export",
        {
            "smoke": _options("--records 2000 --repeat 1"),
            "small": _options("--records 20000"),
            "full": [],  # 100,000 records, median of 3
        },
        samples=False,
    ),
    Bench("latency", {"smoke": ["--smoke"], "small": [], "full": []}),
    Bench("memory", {"smoke": ["--smoke"], "small": [], "full": []}),
    # our labelled set (tests/enrich/eval): the model is what is measured, at every size
    Bench(
        "enrich_eval",
        {"smoke": _options("--repeat 1"), "small": [], "full": []},
        samples=False,
    ),
)
NAMES = tuple(bench.name for bench in BENCHES)


@dataclass
class Outcome:
    """What became of one script: ``ok`` (figures), ``skipped``, ``missing`` or ``crashed``."""

    bench: str
    status: str
    command: list[str]
    seconds: float = 0.0
    reason: str | None = None
    returncode: int | None = None
    figures: list[Figure] = field(default_factory=list)
    stderr_tail: str | None = None


# --- running one script -----------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The caller's environment minus ``NEWSINGEST_*`` (but with ``NEWSINGEST_TEST_*``)."""
    keep = {k: v for k, v in os.environ.items() if k.startswith("NEWSINGEST_TEST_")}
    return clean_env(**keep)


def command_for(bench: Bench, size: str, script: Path, samples: Path | None) -> list[str]:
    command = [sys.executable, str(script), *bench.sizes[size]]
    if samples is not None and bench.samples:
        command += ["--samples", str(samples)]
    return command


def _stop(process: subprocess.Popen[bytes], grace: float = 60) -> None:
    """SIGINT to the script's process group (it stops what it started), SIGKILL after ``grace``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_figures(path: Path, bench: str) -> list[Figure]:
    """The figures a script wrote (normalised to ``Figure``; unknown keys dropped)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in fields(Figure)}
    found = []
    for raw in data.get("figures", []):
        values = {k: v for k, v in raw.items() if k in names}
        values.setdefault("bench", bench)
        values.setdefault("name", "?")
        values.setdefault("value", None)
        values.setdefault("unit", "")
        found.append(Figure(**values))
    return found


def run_bench(
    bench: Bench,
    size: str,
    bench_dir: Path,
    output: Path,
    timeout: float,
    samples: Path | None,
) -> Outcome:
    script = bench_dir / f"{bench.name}.py"
    json_path = output / f"{bench.name}.json"
    command = [*command_for(bench, size, script, samples), "--json", str(json_path)]
    if not script.is_file():
        return Outcome(bench.name, "missing", command, reason=f"no {script}")
    stdout_path, stderr_path = output / f"{bench.name}.stdout", output / f"{bench.name}.stderr"
    started = time.perf_counter()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=bench_dir.parent,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own group: stopped as a whole on timeout or Ctrl-C
        )
        try:
            code: int | None = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            code = None
        except KeyboardInterrupt:
            _stop(process)
            raise
    seconds = time.perf_counter() - started
    outcome = Outcome(bench.name, "ok", command, seconds=seconds, returncode=code)
    if code != 0:
        outcome.status = "crashed"
        outcome.reason = f"timed out after {timeout:.0f} s" if code is None else f"exit {code}"
        outcome.stderr_tail = _tail(stderr_path) or _tail(stdout_path)
        return outcome
    if not json_path.exists():
        last = _tail(stdout_path, 1)
        outcome.status = "skipped"
        outcome.reason = f"no figures written ({last})" if last else "no figures written"
        return outcome
    try:
        outcome.figures = _read_figures(json_path, bench.name)
    except (ValueError, TypeError, AttributeError) as exc:
        outcome.status = "crashed"
        outcome.reason = f"unreadable figures in {json_path.name}: {exc}"
        return outcome
    if all(f.value is None for f in outcome.figures):
        outcome.status = "skipped"
        notes = dict.fromkeys(f.note for f in outcome.figures if f.note)
        outcome.reason = "; ".join(notes) or "no figure measured"
    return outcome


# --- the report -------------------------------------------------------------------------------


def number(value: float | None) -> str:
    """A figure as printed: about three significant digits, thousands separated."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A plain text table: the columns in ``right`` right-aligned (numbers), the others left."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def ratio(figure: Figure) -> str:
    if figure.value is None or not figure.baseline_value:
        return "-"
    return f"{figure.value / figure.baseline_value:.2f}x"


def machine_header(machine: dict[str, Any], size: str) -> list[str]:
    usable = machine.get("usable_cores")
    cores = f"{machine.get('cores')} logical" + (f", {usable} usable" if usable else "")
    memory = machine.get("memory_gb")
    return [
        f"machine : {machine.get('cpu')}",
        f"cores   : {cores}",
        f"memory  : {'unknown' if memory is None else f'{memory} GB'}",
        f"python  : {machine.get('python')} on {machine.get('system')}",
        f"size    : {size}",
    ]


def report(
    outcomes: Sequence[Outcome], machine: dict[str, Any], size: str, total_seconds: float
) -> str:
    header = ["bench", "figure", "value", "unit", "baseline", "baseline value", "ratio", "target"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for outcome in outcomes:
        if outcome.status in ("missing", "crashed") or not outcome.figures:
            rows.append([outcome.bench, "-", outcome.status, "", "", "", "", ""])
            notes.append(
                f"{outcome.bench}: {outcome.status}: {' '.join(str(outcome.reason).split())}"
            )
            continue
        for figure in outcome.figures:
            value = number(figure.value) if figure.value is not None else "skipped"
            rows.append(
                [
                    outcome.bench,
                    figure.name,
                    value,
                    figure.unit,
                    figure.baseline_name or "-",
                    number(figure.baseline_value),
                    ratio(figure),
                    figure.target or "",
                ]
            )
            if figure.value is None:
                note = " ".join((figure.note or "not measured").split())  # one line each
                notes.append(f"{outcome.bench}: {figure.name}: {note}")
    lines = [*machine_header(machine, size), "", aligned(header, rows, right={2, 5, 6})]
    if notes:
        lines += ["", *notes]
    timings = ", ".join(f"{o.bench} {o.seconds:.0f} s" for o in outcomes if o.status != "missing")
    lines += [
        "",
        "ratio = value / baseline (the baseline measured in the same run)",
        f"times: {timings or 'none'}; total {total_seconds:.0f} s",
    ]
    for outcome in outcomes:
        if outcome.status == "crashed":
            lines += ["", f"--- {outcome.bench} crashed ({outcome.reason}); its stderr ends:"]
            lines.append(outcome.stderr_tail or "(nothing on stderr)")
    return "\n".join(lines)


def as_json(
    outcomes: Sequence[Outcome], machine: dict[str, Any], size: str, started: datetime
) -> dict[str, Any]:
    benches = [
        {
            "bench": o.bench,
            "status": o.status,
            "seconds": round(o.seconds, 3),
            "figures": len(o.figures),
            "reason": o.reason,
            "returncode": o.returncode,
            "command": o.command,
        }
        for o in outcomes
    ]
    return {
        "machine": machine,
        "size": size,
        "started": started.isoformat(timespec="seconds"),
        "benches": benches,
        "figures": [asdict(f) for o in outcomes for f in o.figures],
    }


# --- main -------------------------------------------------------------------------------------


def _bench_names(values: Sequence[str]) -> list[str]:
    names = [Path(v).stem if v.endswith(".py") else v for v in values]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown bench {unknown}; known: {', '.join(NAMES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="small", help="input sizes (small)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"only these: {', '.join(NAMES)}")
    parser.add_argument("--json", type=Path, help="also write the table as JSON to this file")
    parser.add_argument("--samples", type=Path, help="sample dumps folder (the scripts' default)")
    parser.add_argument(
        "--timeout", type=float, help="seconds per bench before it is stopped (smoke: 900)"
    )
    parser.add_argument("--keep-output", type=Path, help="keep each bench's stdout/stderr here")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--bench-dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        selected = _bench_names(args.only) if args.only else list(NAMES)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    benches = [b for b in BENCHES if b.name in selected]
    timeout = args.timeout or DEFAULT_TIMEOUT[args.size]
    bench_dir = args.bench_dir.resolve()
    samples = args.samples.resolve() if args.samples else None

    if args.dry_run:
        for bench in benches:
            script = bench_dir / f"{bench.name}.py"
            command = command_for(bench, args.size, script, samples)
            print(" ".join([*command, "--json", "TMPFILE"]))
        return 0

    machine = machine_info()
    started = datetime.now(UTC)
    began = time.perf_counter()
    output = Path(tempfile.mkdtemp(prefix="newsingest-run-all-"))
    outcomes: list[Outcome] = []
    try:
        for number_, bench in enumerate(benches, 1):
            print(f"[{number_}/{len(benches)}] {bench.name} ...", file=sys.stderr, flush=True)
            outcome = run_bench(bench, args.size, bench_dir, output, timeout, samples)
            outcomes.append(outcome)
            detail = f"{len(outcome.figures)} figures" if outcome.status == "ok" else outcome.reason
            print(
                f"[{number_}/{len(benches)}] {bench.name}: {outcome.status} ({detail}), "
                f"{outcome.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep_output is not None:
            args.keep_output.mkdir(parents=True, exist_ok=True)
            for path in output.iterdir():
                shutil.copy(path, args.keep_output / path.name)
        shutil.rmtree(output, ignore_errors=True)

    print(report(outcomes, machine, args.size, time.perf_counter() - began))
    if args.json is not None:
        data = as_json(outcomes, machine, args.size, started)
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 1 if any(o.status == "crashed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
