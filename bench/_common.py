"""Small helpers shared by the bench scripts: machine description, clean environments, throwaway
Redis databases and PostgreSQL schemas, tables.

Copied in spirit from tests/conftest.py and tests/integration/procs.py on purpose: the benchmarks
must not depend on test code.
"""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLES = REPO.parent / "shared" / "samples"
DEFAULT_REDIS_URL = os.environ.get("NEWSINGEST_TEST_REDIS_URL", "redis://127.0.0.1:6379")
DEFAULT_POSTGRES_URL = os.environ.get(
    "NEWSINGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MB = 1_000_000


# --- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_lines() -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f", {usable} usable" if usable is not None else "")
    return [
        f"machine : {cpu_model()}",
        f"cores   : {cores}",
        f"python  : {platform.python_implementation()} {platform.python_version()}"
        f" on {platform.system()} {platform.release()}",
    ]


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM: of this address space only, not inherited)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- inputs and environments --------------------------------------------------------------------


def code_at(commit: str, folder: Path, *paths: str) -> Path:
    """``commit``'s ``paths`` (default ``worker``) from this repository's history (``git
    archive``), unpacked in ``folder``: an earlier version to run beside this one."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, *(paths or ("worker",))],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def sample_files(folder: Path) -> list[Path]:
    """The dump files of the samples folder (``*.txt``), sorted by name; [] if there are none."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.txt") if p.is_file())


def clean_env(**newsingest: str) -> dict[str, str]:
    """The caller's environment without any ``NEWSINGEST_*`` variable, plus exactly these ones.

    ``NEWSINGEST_CONFIG`` points nowhere so that no ``config/newsingest.toml`` is read either.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSINGEST_")}
    env["NEWSINGEST_CONFIG"] = "/nonexistent/newsingest.toml"
    env.update(newsingest)
    return env


# --- servers ----------------------------------------------------------------------------------


def postgres_unreachable(url: str) -> str | None:
    """None if PostgreSQL answers at ``url``, else the reason it does not."""
    try:
        import sqlalchemy
    except ImportError as exc:  # pragma: no cover - sqlalchemy is a dependency
        return str(exc)
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL at {url}: {getattr(exc, 'orig', exc)}"
    return None


@contextmanager
def postgres_schema(server_url: str, prefix: str = "newsingest_bench") -> Iterator[str]:
    """A store URL on a fresh schema of its own, dropped (with everything in it) afterwards."""
    import sqlalchemy

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def redis_unreachable(url: str) -> str | None:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - redis is a dependency
        return str(exc)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return f"no Redis at {url}: {exc}"
    return None


@contextmanager
def redis_database(server_url: str, marker: str = "newsingest:bench-session") -> Iterator[str]:
    """A Redis database number no one else is using (claimed atomically), flushed afterwards."""
    import redis

    server_url = server_url.rstrip("/")
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{server_url}/{db}")
        if client.dbsize() == 0 and client.set(marker, "1", nx=True):
            break
    else:
        raise RuntimeError("every Redis database 1-15 is in use")
    try:
        yield f"{server_url}/{db}"
    finally:
        client.flushdb()


# --- output -----------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


# --- figures for bench/run_all.py ------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure and, where there is one, the baseline measured in the same run.

    Every bench script that ``run_all.py`` runs writes its figures with ``write_figures`` when
    given ``--json PATH``; ``run_all.py`` prints them in one table, each beside its baseline.
    """

    bench: str  # the script's name without .py: "latency", "memory", ...
    name: str  # what was measured: "rename → file.done p50 (embedded)"
    value: float | None  # None: not measured (skipped), with the reason in ``note``
    unit: str  # "ms", "s", "MB", "articles/s", ...
    baseline_name: str | None = None  # what it is compared with, measured in the same run
    baseline_value: float | None = None
    target: str | None = None  # the target, as text ("< 300 ms"), for the reader
    note: str | None = None


def write_figures(path: Path, figures: Sequence[Figure]) -> None:
    """Write ``figures`` (and the machine they came from) as JSON to ``path``."""
    import json

    data = {"machine": machine_info(), "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def machine_info() -> dict[str, object]:
    """The machine, as data: CPU, cores, memory, Python."""
    memory_kb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": None if memory_kb is None else round(memory_kb / 1024 / 1024, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
    }


def pss_mb(pids: Sequence[int]) -> float:
    """Proportional set size of these processes together, in MB (``/proc/PID/smaps_rollup``):
    a page shared by N processes counts 1/N in each, so the sum is what they cost together."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:  # gone meanwhile
            continue
    return total_kb / 1024


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree
