"""An earlier version's code, from this repository's history, for tests that run it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def code_at(commit: str, version: str, folder: Path) -> Path:
    """``commit``'s ``worker`` package (``git archive``) unpacked in ``folder``, for
    ``PYTHONPATH``; the test skips where the history is not there (no git, a shallow clone)."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip(f"no git checkout: {version}'s code comes from the repository's history")
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
    )
    if found.returncode != 0:
        pytest.skip(f"commit {commit[:12]} ({version}) is not in this clone (a shallow one?)")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "worker"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder
