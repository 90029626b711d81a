"""How fast the CLI's read commands answer: ``status --json`` and ``articles --limit 10``.

    .venv/bin/python bench/cli_latency.py [--articles 200] [--runs 20] [--smoke] [--json PATH]

A fresh embedded store (temporary ``data_dir``) is filled by ``newsingest ingest`` with
``--articles`` synthetic articles (``ingest_throughput.py``'s growth text, model-free enrichers:
the store's content is not what is measured). Then each command runs ``--runs`` times as a user
runs it, the ``newsingest`` console script in a fresh process, and its wall time (start to exit)
and CPU time (user + system, from ``wait4``) are taken. Reported: the median and the worst.

Baselines, measured in the same run, the same way: ``python -c pass`` (the interpreter alone) and
the import floor, ``python -c "import typer, rich, structlog, pydantic_settings, sqlalchemy"``:
what every command must import before it can read a setting or a row. The target (under 0.4 s
wall) is printed beside the figures; no timing is asserted anywhere. The children get a clean
environment (no ``NEWSINGEST_*`` of the caller; ``NEWSINGEST_CONFIG`` points nowhere).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Figure, clean_env, machine_lines, table, write_figures
from ingest_throughput import _growth_dump

MODEL_FREE = ["language", "credit", "stats", "lead"]
TARGET_S = 0.4
FLOOR_IMPORTS = "import typer, rich, structlog, pydantic_settings, sqlalchemy"


def newsingest_command() -> list[str]:
    """The console script beside this interpreter (what a user runs), else ``-m worker.cli``."""
    script = Path(sys.executable).with_name("newsingest")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "worker.cli"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command``; fails loudly on a non-zero exit.

    CPU is the rise of RUSAGE_CHILDREN (user + system) over the run: only this child ran."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    timed(command, env)  # one warm-up: the page cache, .pyc files
    walls, cpus = zip(*(timed(command, env) for _ in range(runs)), strict=True)
    return {
        "wall_p50": statistics.median(walls),
        "wall_max": max(walls),
        "cpu_p50": statistics.median(cpus),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=200, help="articles in the store")
    parser.add_argument("--runs", type=int, help="runs of each command (20; --smoke: 3)")
    parser.add_argument("--smoke", action="store_true", help="3 runs of each")
    parser.add_argument("--samples", type=Path, help=argparse.SUPPRESS)  # not used: synthetic
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    runs = args.runs or (3 if args.smoke else 20)
    print("\n".join(machine_lines()))

    with tempfile.TemporaryDirectory(prefix="newsingest-bench-cli-") as tmp:
        folder = Path(tmp)
        env = clean_env(
            NEWSINGEST_INBOX=str(folder / "inbox"),
            NEWSINGEST_DATA_DIR=str(folder / "data"),
            NEWSINGEST_ENRICHERS=json.dumps(MODEL_FREE),
            NEWSINGEST_LOG_FORMAT="json",
        )
        # As on a user's machine, bytecode is cached (here outside the source tree), even when
        # the caller sets PYTHONDONTWRITEBYTECODE: compiling every module each run is not the CLI.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        dump = folder / "bench-store.txt"
        dump.write_bytes(_growth_dump(random.Random(20261202), args.articles))
        cli = newsingest_command()
        subprocess.run([*cli, "ingest", str(dump)], env=env, check=True, capture_output=True)
        shown = subprocess.run(
            [*cli, "status", "--json"], env=env, check=True, capture_output=True, text=True
        )
        stored = json.loads(shown.stdout)["articles"]
        print(f"store   : embedded SQLite, {stored:,} articles; {runs} runs of each")
        print()

        python = [sys.executable, "-c"]
        commands = {
            "python -c pass": [*python, "pass"],
            "import floor": [*python, FLOOR_IMPORTS],
            "status --json": [*cli, "status", "--json"],
            "articles --limit 10": [*cli, "articles", "--limit", "10"],
        }
        results = {}
        for label, command in commands.items():
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            results[label] = measure(command, env, runs)

    header = ["command", "wall p50 (s)", "wall max (s)", "CPU p50 (s)"]
    rows = [
        [label, f"{r['wall_p50']:.3f}", f"{r['wall_max']:.3f}", f"{r['cpu_p50']:.3f}"]
        for label, r in results.items()
    ]
    print(table(header, rows))
    print(f"import floor = {FLOOR_IMPORTS}; target: the read commands under {TARGET_S} s wall")
    if args.json is not None:
        floor = results["import floor"]
        found = [
            Figure(
                bench="cli_latency",
                name=f"{label} wall p50",
                value=results[label]["wall_p50"],
                unit="s",
                baseline_name="import floor (typer, rich, structlog, pydantic, SQLAlchemy)",
                baseline_value=floor["wall_p50"],
                target=f"< {TARGET_S} s",
                note=f"{stored:,} articles, {runs} runs; CPU p50 {results[label]['cpu_p50']:.3f} s",
            )
            for label in ("status --json", "articles --limit 10")
        ]
        found.append(
            Figure(
                bench="cli_latency",
                name="import floor wall p50",
                value=floor["wall_p50"],
                unit="s",
                baseline_name="python -c pass",
                baseline_value=results["python -c pass"]["wall_p50"],
            )
        )
        write_figures(args.json, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
