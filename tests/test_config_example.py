"""config/newsingest.example.toml documents every setting, with its default, and loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from worker.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "newsingest.example.toml"
COMMENTED_KEY = re.compile(r"^#\s*(?P<key>[a-z_]+)\s*=", re.MULTILINE)


def example_keys() -> set[str]:
    return set(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))


def test_example_keys_are_real_settings() -> None:
    """Every key set in the example is a field of worker.settings.Settings."""
    unknown = example_keys() - set(Settings.model_fields)
    assert not unknown, f"not settings: {sorted(unknown)}"


def test_example_documents_every_setting() -> None:
    """Every field of Settings appears in the example, set or (for unset defaults) commented out."""
    text = EXAMPLE.read_text(encoding="utf-8")
    documented = example_keys() | {m["key"] for m in COMMENTED_KEY.finditer(text)}
    missing = set(Settings.model_fields) - documented
    assert not missing, f"add to config/newsingest.example.toml: {sorted(missing)}"


def test_example_loads_and_states_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built from the example file validates and equals the built-in defaults."""
    defaults = Settings().model_dump()  # conftest points NEWSINGEST_CONFIG at no file
    monkeypatch.setenv("NEWSINGEST_CONFIG", str(EXAMPLE))
    assert Settings().model_dump() == defaults


def test_example_values_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A copy of the example with a value changed and the commented-out examples enabled is read:
    the file really is the one Settings loads, and its commented examples are valid."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^concurrency = \d+$", "concurrency = 7", text)
    text = COMMENTED_KEY.sub(lambda m: f"{m['key']} =", text)
    copy = tmp_path / "newsingest.toml"
    copy.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NEWSINGEST_CONFIG", str(copy))
    settings = Settings()
    assert settings.concurrency == 7
    assert settings.broker_url and settings.broker_url.startswith("redis://")
    assert settings.store_url and settings.store_url.startswith("postgresql+psycopg://")
