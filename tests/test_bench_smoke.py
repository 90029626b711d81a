"""Smoke test of the benchmarks: ``bench/run_all.py --size smoke`` runs every bench script on tiny
inputs and writes its table as JSON. It checks that the scripts still run and write well-formed
figures, never how fast anything is: no timing is asserted.

With ``../shared/samples`` every bench must run and measure something. Without them the scripts
that need the samples skip (with the reason in their
figures' notes) and the others run model-free on synthetic data (near-duplicate index, ingest
growth); without Redis or PostgreSQL the set-ups that need them skip. So this passes on CI with or
without either. About 3 minutes with the samples and both servers, on 2 cores.

    .venv/bin/pytest -m smoke
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_ALL = REPO / "bench" / "run_all.py"
SAMPLES = REPO.parent / "shared" / "samples"  # the scripts' default
STATUSES = {"ok", "skipped", "missing", "crashed"}
FIGURE_KEYS = {
    "bench",
    "name",
    "value",
    "unit",
    "baseline_name",
    "baseline_value",
    "target",
    "note",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_figure(figure: dict[str, Any]) -> None:
    assert set(figure) >= FIGURE_KEYS, figure
    assert isinstance(figure["name"], str) and figure["name"], figure
    assert isinstance(figure["unit"], str), figure
    if figure["value"] is None:
        assert isinstance(figure["note"], str) and figure["note"], f"None without a note: {figure}"
    else:
        assert _is_number(figure["value"]), figure
    assert figure["baseline_value"] is None or _is_number(figure["baseline_value"]), figure


@pytest.mark.smoke
@pytest.mark.integration
@pytest.mark.timeout(960)
def test_run_all_smoke(tmp_path: Path) -> None:
    """Every bench that ran wrote at least one figure; each figure a number or None with a note."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(RUN_ALL), "--size", "smoke", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"run_all exited {done.returncode}:\n{done.stdout[-4000:]}"
    assert "bench" in done.stdout and "baseline" in done.stdout  # the table was printed

    data = json.loads(out.read_text(encoding="utf-8"))
    machine = data["machine"]
    assert machine["cpu"] and isinstance(machine["cores"], int) and machine["cores"] >= 1
    assert machine["memory_gb"] is None or machine["memory_gb"] > 0
    assert data["size"] == "smoke"

    benches = data["benches"]
    assert benches, "no bench was run"
    for bench in benches:
        assert bench["status"] in STATUSES, bench
        assert bench["status"] != "crashed", bench
        mine = [f for f in data["figures"] if f["bench"] == bench["bench"]]
        if bench["status"] == "ok":
            assert mine, f"{bench['bench']} ran but wrote no figure"
        if SAMPLES.is_dir():
            # with the samples every bench has its input (and the embedded set-ups need no
            # server): each must run and measure something, or a quiet skip would pass here
            assert bench["status"] == "ok", bench
            assert any(f["value"] is not None for f in mine), mine
        if bench["status"] in ("skipped", "missing"):
            assert bench["reason"], bench
    for figure in data["figures"]:
        _check_figure(figure)
    # without samples, some benches still measure something, model-free
    assert any(f["value"] is not None for f in data["figures"]), data["figures"]


FAKE_OK = """
import json, sys
from pathlib import Path
path = Path(sys.argv[sys.argv.index("--json") + 1])
figure = dict(bench="parse_throughput", name="speed", value=2.0, unit="MB/s",
              baseline_name="floor", baseline_value=4.0, target=">= 1 MB/s", note=None)
path.write_text(json.dumps({"machine": {}, "figures": [figure]}))
"""
FAKE_SKIPPED = """
import json, sys
from pathlib import Path
path = Path(sys.argv[sys.argv.index("--json") + 1])
figure = dict(bench="near_dup_scale", name="ms", value=None, unit="ms", note="skipped: no server")
path.write_text(json.dumps({"machine": {}, "figures": [figure]}))
"""
FAKE_CRASH = """
import sys
print("a traceback, say", file=sys.stderr)
sys.exit(3)
"""
FAKE_SILENT = """
print("SKIP: nothing to do")
"""


@pytest.mark.smoke
def test_run_all_sorts_outcomes(tmp_path: Path) -> None:
    """run_all itself, on stand-in scripts: a figure and its ratio, a skip, a crash (exit 1, its
    stderr printed), a script that writes nothing, and the scripts that are not there."""
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    scripts = {
        "parse_throughput": FAKE_OK,
        "near_dup_scale": FAKE_SKIPPED,
        "enrich_speed": FAKE_CRASH,
        "ingest_throughput": FAKE_SILENT,
    }
    for name, text in scripts.items():
        (bench_dir / f"{name}.py").write_text(textwrap.dedent(text))
    out = tmp_path / "figures.json"
    command = [sys.executable, str(RUN_ALL), "--size", "smoke", "--bench-dir", str(bench_dir)]
    done = subprocess.run(
        [*command, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a traceback, say" in done.stdout
    assert "0.50x" in done.stdout  # 2.0 beside 4.0
    data = json.loads(out.read_text(encoding="utf-8"))
    status = {b["bench"]: b["status"] for b in data["benches"]}
    assert status == {
        "parse_throughput": "ok",
        "enrich_speed": "crashed",
        "ingest_throughput": "skipped",
        "pipeline_throughput": "missing",
        "near_dup_scale": "skipped",
        "cli_latency": "missing",
        "query_export": "missing",
        "latency": "missing",
        "memory": "missing",
        "enrich_eval": "missing",
    }
    reasons = {b["bench"]: b["reason"] for b in data["benches"]}
    assert "SKIP: nothing to do" in reasons["ingest_throughput"]
    assert reasons["near_dup_scale"] == "skipped: no server"
    for figure in data["figures"]:
        _check_figure(figure)
