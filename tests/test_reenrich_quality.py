"""`newsingest reenrich` brings records stored by 0.3.0 up to this version's enrichment.

0.3.0's own code (from git history, ``git archive``) ingests an article we wrote into a real
SQLite store; this version's ``reenrich --older-than`` then re-runs the enrichers on it. The
record must end up as this version enriches the same article when it ingests it afresh, and it
must differ from what 0.3.0 stored (else the test shows nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dumps import Story, render_dump
from tests.history import code_at
from worker import PIPELINE_VERSION

V030_COMMIT = "6b1c159"  # the last commit of 0.3.0
ENRICHED = ("entities", "countries", "quotes", "keywords")

CARMAKER = Story(
    title="Carmaker Signs Battery Supply Deal",
    caption="A battery plant near Erfurt.",
    credit="AP",
    paragraphs=(
        "Brenner Motoren, the German carmaker, signed a battery supply deal with Harbin Cells "
        "on Monday, weeks before the Velmont Open it sponsors.",
        "Chief executive Greta Lindqvist said the deal secured supply for a decade. “This is "
        "the largest order we have ever placed,” Lindqvist said.",
        "Analysts at Dorran Partners said the price was fair. Brenner shares rose 3%.",
    ),
)


@pytest.fixture(scope="module")
def v030_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return code_at(V030_COMMIT, "0.3.0", tmp_path_factory.mktemp("v030"))


def _env(store: Path, data: Path, code: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env.pop("PYTHONPATH", None)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    env.update(
        NEWSINGEST_CONFIG="/nonexistent/newsingest.toml",
        NEWSINGEST_STORE_URL=f"sqlite:///{store}",
        NEWSINGEST_DATA_DIR=str(data),
        NEWSINGEST_LOG_FORMAT="json",
    )
    return env


def _newsingest(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "worker", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _records(env: dict[str, str], cwd: Path) -> list[dict]:
    return [json.loads(line) for line in _newsingest(["articles", "--all"], env, cwd).splitlines()]


def test_reenrich_brings_030_records_to_this_versions_enrichment(
    v030_code: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "carmaker.txt"
    dump.write_text(render_dump([CARMAKER]), encoding="utf-8")
    old_env = _env(tmp_path / "old.sqlite", tmp_path / "old-data", v030_code)
    _newsingest(["ingest", str(dump)], old_env, v030_code)
    (stored,) = _records(old_env, v030_code)
    assert stored["pipeline_version"] == "0.3.0"

    fresh_env = _env(tmp_path / "fresh.sqlite", tmp_path / "fresh-data", None)
    _newsingest(["ingest", str(dump)], fresh_env, tmp_path)
    (fresh,) = _records(fresh_env, tmp_path)
    assert fresh["pipeline_version"] == PIPELINE_VERSION
    assert any(stored[field] != fresh[field] for field in ENRICHED)  # 0.3.0 enriched it otherwise

    new_env = {**old_env}
    new_env.pop("PYTHONPATH")
    _newsingest(["reenrich", "--older-than", PIPELINE_VERSION, "--in-process"], new_env, tmp_path)
    (after,) = _records(new_env, tmp_path)
    assert after["pipeline_version"] == PIPELINE_VERSION
    for field in ENRICHED:
        assert after[field] == fresh[field], field
    for field in ("id", "title", "body", "sources"):
        assert after[field] == stored[field], field
    orgs = {item["text"] for item in after["entities"]["org"]}
    assert {"Brenner Motoren", "Dorran Partners"} <= orgs
