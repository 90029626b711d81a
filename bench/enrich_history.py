"""What each change bought: the enrichment quality of several commits, on the labelled sets.

    .venv/bin/python bench/enrich_history.py LABEL=COMMIT [LABEL=COMMIT ...]
                                             [--sets eval eval_holdout eval_final]

For each commit, its ``worker`` package (``git archive``) is put first on ``PYTHONPATH`` and this
checkout's ``bench/enrich_eval.py`` runs over each labelled set in ``tests/enrich/`` (the sets and
the scoring are today's, the enrichers the commit's), one subprocess per commit and set, in this
run, on this machine. Printed: one table per set, a row per commit, with person/org/location F1,
countries precision and recall, quote precision and speaker accuracy. The raw spaCy baseline is
``enrich_eval.py``'s own (printed by it; here the first row is usually the code before the work).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, code_at, machine_lines

COLUMNS = (
    ("person F1", "person"),
    ("org F1", "org"),
    ("location F1", "location"),
    ("countries precision", "countries P"),
    ("countries recall", "countries R"),
    ("quotes precision", "quotes P"),
    ("speaker accuracy", "speakers"),
)


def figures(code: Path, eval_dir: Path) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "enrich_eval.py"),
                "--repeat",
                "1",
                "--eval-dir",
                str(eval_dir),
                "--json",
                out.name,
            ],
            env={**os.environ, "PYTHONPATH": str(code)},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"enrich_eval failed with {code}:\n{done.stderr[-3000:]}")
        found = json.loads(Path(out.name).read_text())
    return {f["name"]: f["value"] for f in found["figures"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="+", help="LABEL=COMMIT, oldest first")
    parser.add_argument("--sets", nargs="+", default=["eval", "eval_holdout", "eval_final"])
    args = parser.parse_args()
    labelled = [tuple(item.split("=", 1)) for item in args.commits]
    sets = [REPO / "tests" / "enrich" / name for name in args.sets]
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, commit in labelled:
            code = Path(folder) / label
            code.mkdir()
            code_at(commit, code)
            for eval_dir in sets:
                results[label, eval_dir.name] = figures(code, eval_dir)
    print("\n".join(machine_lines()))
    width = max(len(label) for label, _ in labelled) + 2
    for eval_dir in sets:
        print(f"\n{eval_dir.name}")
        print(f"{'':<{width}}" + "".join(f"{short:>13}" for _, short in COLUMNS))
        for label, _commit in labelled:
            row = results[label, eval_dir.name]
            print(f"{label:<{width}}" + "".join(f"{row[name]:>13.3f}" for name, _ in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
