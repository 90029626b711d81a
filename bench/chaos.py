"""Chaos runs from the command line: one line per seed and topology.

A thin wrapper around the harness in ``tests/integration/chaos.py`` (unlike the other benches,
which stay independent of the tests, this one *is* the test's harness, run for longer): for each
seed, drop ``--files`` dump files into a running topology while crashing its processes and
servers for ``--duration`` seconds, wait until all is done, and compare with a calm one-shot run.

Each line: seed, topology, faults injected (by kind), records compared (got/expected), lost,
doubled, stuck and wrong counts, seconds from the last fault until everything was done. A failing
seed's full report (what differs, the ledger rows not done, the tail of each process log) follows
its line, and its work folder is kept. Exit status 1 if any seed failed.

Run::

    .venv/bin/python bench/chaos.py --seeds 1-10 --files 200
    .venv/bin/python bench/chaos.py --seeds 3 --topology embedded --duration 30 --verbose

``redis-postgres`` starts its own throwaway ``redis-server`` and PostgreSQL cluster (binaries in
/usr/lib/postgresql/*/bin) on free ports; the machine's own servers are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration import chaos  # noqa: E402
from tests.integration.procs import kill_leftovers  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1", help="e.g. 1-10, or 1,2,5 (default 1)")
    parser.add_argument("--files", type=int, default=200, help="dump files per run (200)")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of drops and faults (60)"
    )
    parser.add_argument(
        "--topology",
        choices=[*chaos.TOPOLOGIES, "all"],
        default="all",
        help="redis-postgres, embedded, or all (default)",
    )
    parser.add_argument("--calm", action="store_true", help="no faults: check the harness")
    parser.add_argument("--keep", action="store_true", help="keep every run's work folder")
    parser.add_argument("--verbose", action="store_true", help="progress lines and full reports")
    args = parser.parse_args(argv)

    # the children must see our settings only, not the caller's NEWSINGEST_* variables
    for key in list(os.environ):
        if key.startswith("NEWSINGEST_") and not key.startswith("NEWSINGEST_TEST_"):
            del os.environ[key]
    topologies = chaos.TOPOLOGIES if args.topology == "all" else (args.topology,)
    failed = 0
    started = time.monotonic()
    print(
        f"chaos: seeds {args.seeds}, {args.files} files, {args.duration:.0f}s of faults, "
        f"topologies {', '.join(topologies)}",
        flush=True,
    )
    for seed in chaos.parse_seeds(args.seeds):
        for topology in topologies:
            try:
                report = chaos.run(
                    seed,
                    files=args.files,
                    duration=args.duration,
                    topology=topology,
                    faults=not args.calm,
                    keep=args.keep,
                    echo=(lambda line: print(f"  {line}", flush=True)) if args.verbose else None,
                )
            except chaos.ServerUnavailable as exc:
                print(f"seed {seed:>3} {topology:<14} skipped: {exc}", flush=True)
                continue
            except chaos.HarnessError as exc:
                failed += 1
                print(f"seed {seed:>3} {topology:<14} HARNESS ERROR: {exc}", flush=True)
                continue
            finally:
                kill_leftovers()
            print(f"{report.line()} ({report.seconds_total:.0f}s)", flush=True)
            if not report.ok:
                failed += 1
            if not report.ok or args.verbose:
                # the report without its first line, which is the line above
                details = report.render(limit=50 if args.verbose else 10).splitlines()[1:]
                print("\n".join(details), flush=True)
    print(f"{failed} failed, {time.monotonic() - started:.0f}s in all", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
