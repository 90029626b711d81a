"""constraints.txt, the lock, pins every dependency pyproject.toml declares, at an allowed version.

The lock is what the README's install, CI and the image install from (scripts/lock.sh refreshes
it); a dependency added to pyproject.toml without refreshing the lock would install unpinned.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def locked_versions() -> dict[str, list[tuple[Version, Requirement]]]:
    """Each pinned package's versions, with the markers (Python, platform) they apply under."""
    pins: dict[str, list[tuple[Version, Requirement]]] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # one ==pin per line
        assert specifier.operator == "==", line
        pins.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(specifier.version), requirement)
        )
    return pins


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    return [Requirement(text) for text in declared]


def test_every_declared_dependency_is_pinned_at_an_allowed_version() -> None:
    pins = locked_versions()
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: run scripts/lock.sh"
        applicable = [
            version for version, pin in pins[name] if pin.marker is None or pin.marker.evaluate()
        ]
        assert len(applicable) == 1, f"{name}: {len(applicable)} pins apply to this Python"
        assert requirement.specifier.contains(applicable[0], prereleases=True), (
            f"constraints.txt pins {name}=={applicable[0]}, outside pyproject's {requirement}: "
            "run scripts/lock.sh"
        )
