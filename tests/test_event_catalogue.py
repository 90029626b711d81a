"""The README's event catalogue lists every event the code logs, at its level, with its fields."""

from __future__ import annotations

import re
from pathlib import Path

from tests.event_catalogue import SOURCE, scan

README = SOURCE.parent / "README.md"
ROW = re.compile(r"^\| `(?P<event>[a-z_.]+)` \| (?P<levels>[a-z/]+) \|(?P<fields>[^|]*)\|")


def _catalogue(readme: Path = README) -> dict[str, tuple[set[str], set[str]]]:
    """event -> (levels, fields), from the table after the README's event-catalogue marker."""
    text = readme.read_text(encoding="utf-8").split("<!-- event-catalogue -->", 1)[1]
    rows = {}
    for line in text.strip().splitlines()[2:]:  # after the header and its rule
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"not a catalogue row: {line}"
        fields = set(re.findall(r"`([a-z_0-9]+)`", match["fields"]))
        rows[match["event"]] = (set(match["levels"].split("/")), fields)
    return rows


def test_the_scan_reads_every_log_call() -> None:
    events, unreadable = scan()
    assert unreadable == [], "log calls whose event name cannot be read from the source"
    assert {"file.done", "file.queued", "file.requeued", "chunk.stored"} <= events.keys()
    assert events["file.take_failed"].levels == {"error"}  # log.exception is an error


def test_every_event_is_in_the_readme_with_its_level_and_fields() -> None:
    events, _ = scan()
    catalogue = _catalogue()
    assert sorted(events.keys() - catalogue.keys()) == [], "events missing from the README"
    assert sorted(catalogue.keys() - events.keys()) == [], "README events the code never logs"
    for name, event in events.items():
        levels, fields = catalogue[name]
        assert levels == event.levels, (name, levels, event.levels)
        assert event.fields <= fields, (name, sorted(event.fields - fields))


def test_a_new_event_is_caught(tmp_path: Path) -> None:
    source = tmp_path / "worker"
    source.mkdir()
    (source / "mod.py").write_text(
        "def f(log, event: \"Literal['x.b']\"):\n"
        '    log.info("x.a", count=1)\n'
        '    log.warning("x.c" if log else "x.d")\n'
        "    log.error(event)\n",
        encoding="utf-8",
    )
    events, unreadable = scan(source)
    assert sorted(events) == ["x.a", "x.c", "x.d"]
    assert unreadable == ["worker/mod.py:4"]  # a string annotation is not a Literal[...] node
    assert events["x.a"].fields == {"count"}
