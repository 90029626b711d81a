"""The events newsingest logs, read from its source: every structlog call whose event is a dotted
name (``log.info("file.done", ...)``), with its level and the fields passed at the call.

The README's event catalogue is checked against this (tests/test_event_catalogue.py). To see the
rows for a new event: ``python -m tests.event_catalogue``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "worker"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
EVENT_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)+")


@dataclass
class Event:
    name: str
    levels: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)


def _literal_strings(annotation: ast.expr | None) -> list[str]:
    """The strings of a ``Literal["a", "b"]`` annotation (a parameter that names an event)."""
    if not isinstance(annotation, ast.Subscript) or ast.unparse(annotation.value) != "Literal":
        return []
    items = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
    return [item.value for item in items if isinstance(item, ast.Constant)]


def _event_names(arg: ast.expr, function: ast.FunctionDef | None) -> list[str] | None:
    """The event names a log call's first argument can be; None when it cannot be read."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.IfExp):
        body, orelse = _event_names(arg.body, function), _event_names(arg.orelse, function)
        return None if body is None or orelse is None else body + orelse
    if isinstance(arg, ast.Name) and function is not None:
        for parameter in function.args.args + function.args.kwonlyargs:
            if parameter.arg == arg.id:
                return _literal_strings(parameter.annotation) or None
    return None


def _walk(node: ast.AST, function: ast.FunctionDef | None, found: list) -> None:
    for child in ast.iter_child_nodes(node):
        inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr in LEVELS
            and child.args
        ):
            found.append((child, function))
        _walk(child, inner, found)


def scan(source: Path = SOURCE) -> tuple[dict[str, Event], list[str]]:
    """(events by name, log calls whose event could not be read, as "path:line")."""
    events: dict[str, Event] = {}
    unreadable: list[str] = []
    for path in sorted(source.rglob("*.py")):
        calls: list = []
        _walk(ast.parse(path.read_text(encoding="utf-8")), None, calls)
        for call, function in calls:
            names = _event_names(call.args[0], function)
            where = f"{path.relative_to(source.parent)}:{call.lineno}"
            if names is None:
                unreadable.append(where)
                continue
            for name in names:
                if not EVENT_NAME.fullmatch(name):
                    unreadable.append(f"{where} ({name!r} is not a dotted event name)")
                    continue
                event = events.setdefault(name, Event(name))
                event.levels.add("error" if call.func.attr == "exception" else call.func.attr)
                event.fields.update(kw.arg for kw in call.keywords if kw.arg is not None)
                event.modules.add(str(path.relative_to(source.parent)))
    return events, unreadable


if __name__ == "__main__":
    events, unreadable = scan()
    for event in sorted(events.values(), key=lambda e: e.name):
        fields = ", ".join(f"`{name}`" for name in sorted(event.fields))
        print(f"| `{event.name}` | {'/'.join(sorted(event.levels))} | {fields} | |")
    for where in unreadable:
        print("unreadable:", where)
