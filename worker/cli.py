"""The ``newsingest`` command line."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from worker.log import configure_logging, get_logger
from worker.settings import Settings

app = typer.Typer(
    help="Turn raw news dump files into clean, de-duplicated, enriched article records.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()  # results go to stdout; logs go to stderr
log = get_logger("newsingest.cli")


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj["settings"]


MetricsPort = Annotated[
    int | None,
    typer.Option(
        min=0, max=65535, help="Serve Prometheus metrics on this port; 0: off [default: 0]."
    ),
]


def _with_metrics_port(settings: Settings, metrics_port: int | None) -> Settings:
    if metrics_port is None:
        return settings
    return settings.model_copy(update={"metrics_port": metrics_port})


@app.callback()
def _global(
    ctx: typer.Context,
    inbox: Annotated[Path | None, typer.Option(help="Folder to watch [default: ./inbox].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="processed/, failed/, store, broker [default: ./data].")
    ] = None,
    broker_url: Annotated[str | None, typer.Option(help="Celery broker URL.")] = None,
    store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    log_format: Annotated[str | None, typer.Option(help="auto, json or console.")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING...")] = None,
) -> None:
    """Settings: these flags, then NEWSINGEST_* variables, then config/newsingest.toml."""
    flags = {
        "inbox": inbox,
        "data_dir": data_dir,
        "broker_url": broker_url,
        "store_url": store_url,
        "log_format": log_format,
        "log_level": log_level,
    }
    settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = {"settings": settings}


# --- the pipeline -----------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Watcher and workers in one process tree, on the embedded defaults. Ctrl-C stops cleanly.

    SIGTERM or SIGINT, to this process or to its whole process group, stops the watcher, then
    the worker (which finishes or hands back what it holds); exit status 0."""
    settings = _with_metrics_port(_settings(ctx), metrics_port)
    if concurrency is not None:
        settings = settings.model_copy(update={"concurrency": concurrency})
    settings.ensure_dirs()
    env = {**os.environ, **settings.as_env()}
    # two endpoints, one port each: the watcher's (here) on metrics_port, the worker's on the next
    port = settings.metrics_port
    env["NEWSINGEST_METRICS_PORT"] = str(port + 1 if 0 < port < 65535 else 0)
    # From before the worker starts, a stop signal is noted, never fatal: `run` must live to stop
    # the worker, or the worker would be left running without it.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # The worker is its own process tree (Celery's prefork pool); the watcher runs here. It stays
    # in our process group, so that killing the group (a crash, `kill -9 -PGID`) takes it too;
    # a stop signal sent to the group reaches it as well, and the SIGTERM that _stop_child then
    # sends is ignored as a repeat.
    worker = subprocess.Popen([sys.executable, "-m", "worker", "worker"], env=env)
    log.info("run.started", worker_pid=worker.pid, concurrency=settings.concurrency)
    try:
        _watch(settings, stop_when=lambda: stop.is_set() or worker.poll() is not None)
    finally:
        _stop_child(worker)
    if worker.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
        log.error("run.worker_exited", returncode=worker.returncode)
        raise typer.Exit(1)
    log.info("run.stopped", worker_returncode=worker.returncode)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker: it stops within worker_soft_shutdown_timeout and its cold shutdown
    (see `worker`); SIGKILL only if it has not after 30 s."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log.error("run.worker_stop_timed_out", worker_pid=child.pid, timeout_s=30)
        child.kill()
        child.wait()


@app.command()
def watch(ctx: typer.Context, metrics_port: MetricsPort = None) -> None:
    """The watcher alone: take complete files from the inbox and queue them on the broker."""
    settings = _with_metrics_port(_settings(ctx), metrics_port)
    _refuse_placeholder_password(settings)
    _watch(settings)


def _watch(settings: Settings, stop_when: Any = None) -> None:
    from worker.queue import TASK_PROCESS_CHUNK, TASK_PROCESS_FILE, create_app, queue_depth
    from worker.store import Store
    from worker.watch import Watcher

    celery = create_app(settings)
    store = Store.from_url(settings.resolved_store_url)

    def enqueue(sha256: str) -> str:
        return celery.send_task(TASK_PROCESS_FILE, args=[sha256]).id

    def enqueue_chunk(sha256: str, number: int) -> str:
        return celery.send_task(TASK_PROCESS_CHUNK, args=[sha256, number]).id

    watcher = Watcher(
        settings, store, enqueue, enqueue_chunk, queue_depth=lambda: queue_depth(celery)
    )
    from worker import metrics
    from worker.queue.connection import queue_depth as broker_depth

    # the depth as `status` reads it, on a connection of its own: scrapes come on their own
    # threads, never on the watcher's
    metrics.serve_store(settings, store, queue_depth=lambda: broker_depth(settings))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: watcher.stop())
    if stop_when is not None:
        threading.Thread(target=_stop_on, args=(watcher, stop_when), daemon=True).start()
    relay = _relay(settings, store)
    if relay is not None:
        relaying = threading.Thread(target=relay.run, name="outbox-relay", daemon=True)
        relaying.start()
    try:
        watcher.run()
    finally:
        if relay is not None:
            relay.stop()
            relaying.join(timeout=15)
    store.close()


def _relay(settings: Settings, store: Any) -> Any:
    """The outbox relay for this configuration (worker/outbox.py), or None without any
    destination: a Redis stream when the broker is Redis, the webhook when one is set."""
    from worker.outbox import RedisStream, Relay, Webhook

    destinations: list[Any] = []
    broker = settings.resolved_broker_url
    if settings.stream_key and broker.startswith(("redis://", "rediss://", "unix://")):
        destinations.append(RedisStream(broker, settings.stream_key, settings.stream_maxlen))
    if settings.webhook_url and settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        destinations.append(Webhook(settings.webhook_url, secret))
    if not destinations:
        return None
    return Relay(store, destinations, settings.relay_interval_seconds)


def _stop_on(watcher: Any, condition: Any) -> None:
    import time

    while not condition():
        time.sleep(0.5)
    watcher.stop()


POOL_EXIT_GRACE = 3.0  # seconds: an idle pool process leaves within about 1 s of the pool's close


def _stop_pool(pool: Any) -> None:
    """Celery's pool.stop(), without waiting forever for a process of billiard's shared-queue
    pool (the one on the embedded SQLite broker) that cannot leave.

    Its idle processes take turns on one lock to read the shared task queue: one holds it while
    it waits for a message. Killed then (SIGKILL, the OOM killer; or a replacement process, which
    billiard's Supervisor thread forked, killed by Celery's parent-death SIGKILL when that thread
    ends at the pool's close), it leaves the lock taken for good: the other processes never read
    their stop sentinel, and pool.stop() joined them forever, whatever the stop signal. They get
    billiard's TERM_SIGNAL (SIGQUIT, see REMAP_SIGTERM) instead, on which they leave by
    SystemExit; what they ran is unacknowledged, so its message goes back to the queue."""
    from billiard.pool import Pool

    shared = getattr(pool, "_pool", None)
    if type(shared) is Pool:  # not Celery's AsynPool (Redis): a queue for each process
        pool.close()  # the stop sentinels go out
        deadline = time.monotonic() + POOL_EXIT_GRACE
        for process in list(shared._pool):
            process.join(max(0.0, deadline - time.monotonic()))
        for process in list(shared._pool):
            if process.is_alive():
                log.warning("worker.pool_process_stuck", pid=process.pid)
                process.terminate()
    pool.stop()
    if type(shared) is Pool:
        # Every pool process is gone, so the lock, if taken, is a dead one's: free it, or the
        # pool's finalizer, which takes it at exit, hangs there.
        shared._inqueue._rlock.acquire(False)
        shared._inqueue._rlock.release()


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """A Celery worker: parse, de-duplicate, enrich and store queued files.

    SIGTERM, SIGINT or SIGQUIT, to this process or to its whole process group, stops it with
    status 0: an idle worker at once, a running task after at most worker_soft_shutdown_timeout,
    when it is cancelled and its message goes back to the queue (acks late)."""
    # Read by billiard when Celery is first imported, so set before that: pool processes then
    # ignore SIGTERM as they ignore SIGINT, and Celery cancels a task with SIGQUIT instead. A stop
    # signal sent to every process (systemd's control-group kill, `timeout`, Ctrl-C in a terminal)
    # thus reaches only this main process, which stops the pool. A pool process killed by it
    # directly could die holding the lock of billiard's shared task queue (the pool used on the
    # embedded SQLite broker), and the main process then hung on that lock at exit.
    os.environ["REMAP_SIGTERM"] = "SIGQUIT"
    from billiard.common import REMAP_SIGTERM

    if REMAP_SIGTERM != "SIGQUIT":
        raise RuntimeError("billiard was imported before `newsingest worker` could configure it")
    from celery import __version__ as celery_version
    from celery import platforms
    from celery.apps import worker as celery_worker_program
    from celery.exceptions import WorkerTerminate
    from celery.utils.log import in_sighandler
    from celery.worker import state

    from worker import metrics
    from worker.queue import QUEUE, create_app

    settings = _with_metrics_port(_settings(ctx), metrics_port)
    _refuse_placeholder_password(settings)
    settings.ensure_dirs()
    # before create_app, which imports prometheus_client (through the tasks): see metrics.py
    metrics_dir = metrics.prepare_multiprocess(settings)
    celery = create_app(settings)

    stopping: list[str] = []

    def stop(controller: Any, signum: int) -> None:
        """Celery's cold shutdown (as on SIGQUIT), ending with status 0; a repeated signal is
        ignored: `run` forwards the stop signal that its process group may have had too."""
        if stopping:
            return
        stopping.append(signal.Signals(signum).name)
        with in_sighandler():
            log.info(
                "worker.stopping",
                signal=stopping[0],
                soft_shutdown_timeout=celery.conf.worker_soft_shutdown_timeout,
            )
            controller.wait_for_soft_shutdown()  # only while a task runs
            consumer = controller.consumer
            if consumer is not None:
                if consumer.task_consumer is not None:
                    try:
                        consumer.task_consumer.cancel()  # take no more messages
                    except Exception as exc:  # a broker gone must not stop the shutdown
                        log.warning("worker.cancel_consumer_failed", error=str(exc))
                # what still runs is cancelled; unacknowledged messages go back to the queue
                consumer.cancel_active_requests()
                if consumer.pool is not None:
                    _stop_pool(consumer.pool)  # idle pool processes exit, finished tasks are acked
        state.should_terminate = 0  # a cold shutdown, exit status 0
        # Now, not after the consumer loop's current wait for a message (on the embedded broker
        # up to 2 s, and then one more): Celery's hard shutdown raises it from its handler too.
        raise WorkerTerminate(0)

    class Worker(celery.Worker):
        def emit_banner(self) -> None:
            # Celery prints an ASCII-art banner to stdout: the same facts as one event, so that
            # every line of a JSON log is JSON.
            log.info(
                "worker.started",
                node=self.hostname,
                concurrency=self.concurrency,
                queues=sorted(self.app.amqp.queues.consume_from or [QUEUE]),
                broker=self.app.connection_for_read().as_uri(),  # the password masked
                celery_version=celery_version,
            )

        def install_platform_tweaks(self, controller: Any) -> None:
            super().install_platform_tweaks(controller)
            # SIGQUIT, Celery's own cold shutdown, too: the same stop, with exit status 0
            for name in ("SIGTERM", "SIGINT", "SIGQUIT"):
                platforms.signals[name] = lambda signum, _frame: stop(controller, signum)

    celery.Worker = Worker
    # Celery writes its shutdown notices ("worker: Warm shutdown (MainProcess)") straight to the
    # terminal with safe_say, a module function looked up at each call: as events instead.
    celery_worker_program.safe_say = lambda message, *_: log.info(
        "worker.celery_notice", message=message.strip()
    )
    if settings.preload_enrichers:
        from worker.queue.tasks import preload

        # A stop while the model loads (seconds) ends the worker at once, status 0: it holds
        # nothing yet. Celery installs its own handlers (stop, above) when it starts.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: sys.exit(0))
        preload(settings)  # before the pool forks: its children share the model
    if metrics_dir is not None:
        metrics.serve_worker(settings, metrics_dir)
    celery.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or settings.concurrency}",
            f"--loglevel={settings.log_level}",
            f"--queues={QUEUE}",
            "--pool=prefork",
            f"--hostname={_node_name(settings)}",
            "--without-mingle",
            "--without-gossip",
        ]
    )


PLACEHOLDER_PASSWORDS = frozenset({"change-me", "changeme"})


def _refuse_placeholder_password(settings: Settings) -> None:
    """Exit with status 2 when the store's or broker's URL has a placeholder password, as an
    example configuration would: a stack must not run on a password that is written down."""
    from urllib.parse import urlsplit

    for name, url in (("store_url", settings.store_url), ("broker_url", settings.broker_url)):
        if url and urlsplit(url).password in PLACEHOLDER_PASSWORDS:
            log.error(
                "config.placeholder_password",
                setting=name,
                hint="set a real password (POSTGRES_PASSWORD in .env under docker compose)",
            )
            raise typer.Exit(2)


def _node_name(settings: Settings) -> str:
    """This worker's Celery node name, unique even where workers share a host name and pids
    (containers under host networking): newsingest-<pid>-<random>@<host>. Written to
    node_name_file when set, for a health check that pings exactly this node."""
    import secrets

    from celery.utils.nodenames import host_format

    name = host_format(f"newsingest-{os.getpid()}-{secrets.token_hex(3)}@%h")
    if settings.node_name_file is not None:
        settings.node_name_file.write_text(name + "\n", encoding="utf-8")
    return name


@app.command()
def requeue(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None, typer.Argument(help="Files in failed/ to put back to work.")
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every file in failed/.")
    ] = False,
) -> None:
    """Put quarantined files back in the queue after a fix; the workers take them again."""
    from worker.pipeline import Resources, failed_files, requeue_failed
    from worker.queue import TASK_PROCESS_FILE, create_app

    settings = _settings(ctx)
    resources = Resources.build(settings)
    targets = failed_files(resources) if all_failed else list(files or [])
    if not targets:
        raise typer.BadParameter("name files in failed/, or use --all-failed")
    celery = create_app(settings)
    refused = 0
    for path in targets:
        sha256 = requeue_failed(resources, path)
        if sha256 is None:
            refused += 1
            continue
        celery.send_task(TASK_PROCESS_FILE, args=[sha256])
        out.print(f"requeued {path.name}")
    resources.store.close()
    if refused:
        raise typer.Exit(1)


@app.command()
def reenrich(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Only records made by a pipeline older than this."),
    ] = None,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed", help="Only records an enricher failed on (with enrich_errors set)."
        ),
    ] = False,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Enrich here instead of through the workers.")
    ] = False,
) -> None:
    """Run the enrichers again on stored articles, from their stored text, through the workers.

    No file is parsed again and de-duplication is not touched. A record whose failed enrichers
    all succeed this time has its enrich_errors cleared."""
    from worker.pipeline import Resources, reenrich_articles
    from worker.queue import TASK_REENRICH, create_app
    from worker.store import Store

    settings = _settings(ctx)
    store = Store.from_url(settings.resolved_store_url)
    ids = store.article_ids(older_than, failed=failed)
    store.close()
    batches = [
        ids[start : start + settings.chunk_articles]
        for start in range(0, len(ids), settings.chunk_articles)
    ]
    if in_process:
        resources = Resources.build(settings)
        done = sum(reenrich_articles(resources, batch) for batch in batches)
        resources.store.close()
        out.print(f"re-enriched {done} articles")
        return
    celery = create_app(settings)
    for batch in batches:
        celery.send_task(TASK_REENRICH, args=[batch])
    log.info(
        "reenrich.queued",
        articles=len(ids),
        batches=len(batches),
        older_than=older_than,
        failed_only=failed,
    )
    out.print(f"queued {len(ids)} articles in {len(batches)} batches for the workers")


# --- one-shot and queries ---------------------------------------------------------------------


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Dump files to process in place.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Process files in place (not moved), print a summary per file; exit 1 if any failed."""
    from worker.driver import FileDriver
    from worker.ingest_progress import IngestProgress
    from worker.log import logs_are_json
    from worker.pipeline import Resources

    settings = _settings(ctx)
    resources = Resources.build(settings)
    # a bar for a person at a terminal; never among JSON (logs or --json output)
    progress = IngestProgress(
        len(files), show=not as_json and not logs_are_json(settings.log_format)
    )
    driver = FileDriver(resources, on_stored=progress.stored)
    summaries = []
    with progress:
        for path in files:
            progress.file_started(path)
            summaries.append(driver.ingest(path))
            progress.file_done(summaries[-1])
    if as_json:
        out.print_json(data=[dataclasses.asdict(s) for s in summaries])
    else:
        table = Table("state", "found", "new", "duplicates", "failed", "note")
        table.add_column("file", overflow="fold")  # paths are long: wrap them, never cut them
        for s in summaries:
            note = (s.error or {}).get("message") or (
                f"same bytes as {s.duplicate_of_file}" if s.duplicate_of_file else ""
            )
            counts = (str(s.found), str(s.new), str(s.duplicates), str(s.failed))
            table.add_row(s.state, *counts, note, s.file)
        out.print(table)
    resources.store.close()
    if any(s.state == "failed" for s in summaries):
        raise typer.Exit(1)


# --- reading records: articles and export -----------------------------------------------------

_WHEN = (
    "an ISO 8601 date or datetime (2026-11-25, 2026-11-25T17:47; UTC unless it has an offset"
    " such as +02:00 or Z) or a time ago: 90m, 24h, 7d, 2w"
)
_FILTERS = "Filters (all given must match)"
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help=f"Ingested at or after WHEN: {_WHEN}.",
        rich_help_panel=_FILTERS,
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="WHEN",
        help="Ingested before WHEN (same forms).",
        rich_help_panel=_FILTERS,
    ),
]
Language = Annotated[
    str | None,
    typer.Option(
        "--language", metavar="CODE", help="ISO 639-1 code: en, ar, …", rich_help_panel=_FILTERS
    ),
]
Country = Annotated[
    str | None,
    typer.Option(
        "--country",
        metavar="CODE",
        help="ISO 3166-1 alpha-2 code among the record's countries (RU, sy: any case).",
        rich_help_panel=_FILTERS,
    ),
]
Person = Annotated[
    str | None,
    typer.Option(
        "--person",
        metavar="NAME",
        help='A person in the record\'s entities, the whole name, any case ("Sergei Lavrov").',
        rich_help_panel=_FILTERS,
    ),
]
Org = Annotated[
    str | None,
    typer.Option(
        "--org",
        metavar="NAME",
        help="An organisation in the entities, the whole name, any case.",
        rich_help_panel=_FILTERS,
    ),
]
Place = Annotated[
    str | None,
    typer.Option(
        "--place",
        metavar="NAME",
        help="A place in the entities (entities.location), the whole name, any case.",
        rich_help_panel=_FILTERS,
    ),
]
Credit = Annotated[
    str | None,
    typer.Option(
        "--credit",
        metavar="NAME",
        help="The image credit (AFP, AP, Reuters…), any case.",
        rich_help_panel=_FILTERS,
    ),
]
Search = Annotated[
    str | None,
    typer.Option(
        "--search",
        metavar="TEXT",
        help="TEXT in the title or body, any case.",
        rich_help_panel=_FILTERS,
    ),
]
VersionsOf = Annotated[
    str | None,
    typer.Option(
        "--versions-of",
        metavar="ID",
        help="The story of this article id: its canonical record and every version.",
        rich_help_panel=_FILTERS,
    ),
]
LegacyId = Annotated[
    str | None, typer.Option("--id", hidden=True, help="Old name of --versions-of.")
]
IncludeAll = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Include versions (near-duplicates), not only canonical records.",
        rich_help_panel=_FILTERS,
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit", min=0, metavar="N", help="At most this many records.", rich_help_panel=_FILTERS
    ),
]


def _article_filter(
    *,
    since: str | None,
    until: str | None,
    language: str | None,
    country: str | None,
    person: str | None,
    org: str | None,
    place: str | None,
    credit: str | None,
    search: str | None,
    versions_of: str | None,
    legacy_id: str | None,
    include_all: bool,
    limit: int | None,
) -> Any:
    """The ``ArticleFilter`` of the options (``worker/store/query.py``); a bad value is a usage
    error (exit 2)."""
    from worker.store.query import ArticleFilter, parse_moment

    def moment(text: str | None, option: str) -> Any:
        try:
            return None if text is None else parse_moment(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None

    if country is not None and not (len(country.strip()) == 2 and country.strip().isalpha()):
        raise typer.BadParameter(
            f"{country!r} is not an ISO 3166-1 alpha-2 code (RU, SY, US…)", param_hint="--country"
        )
    if search is not None:
        from worker.store.search import fts5_query

        try:
            fts5_query(search)  # the same words on both backends: nothing to find is an error
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--search") from None
    if legacy_id is not None and versions_of not in (None, legacy_id):
        raise typer.BadParameter("give --versions-of or --id, not both", param_hint="--id")
    return ArticleFilter(
        since=moment(since, "--since"),
        until=moment(until, "--until"),
        language=language,
        country=country,
        person=person,
        org=org,
        place=place,
        credit=credit,
        search=search,
        versions_of=versions_of if versions_of is not None else legacy_id,
        include_duplicates=include_all,
        limit=limit,
    )


def _choice(value: str, choices: tuple[str, ...], option: str = "--format") -> str:
    if value.lower() not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=option)
    return value.lower()


def _reader_gone() -> None:
    """stdout's reader stopped early (``| head``): not an error. Later writes (Python's flush
    at exit) go nowhere instead of raising again."""
    import contextlib

    # ValueError, OSError: no real file descriptor (a test's captured stdout)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


@app.command()
def articles(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", metavar="jsonl|csv|table", help="jsonl, csv or table.")
    ] = "jsonl",
    since: Since = None,
    until: Until = None,
    language: Language = None,
    country: Country = None,
    person: Person = None,
    org: Org = None,
    place: Place = None,
    credit: Credit = None,
    search: Search = None,
    versions_of: VersionsOf = None,
    legacy_id: LegacyId = None,
    include_all: IncludeAll = False,
    limit: Limit = None,
) -> None:
    """Print the stored article records, in the order they were first ingested, streamed: the
    canonical records, or those the filters keep. jsonl: one record per line; csv: a header and
    a row per record, lists and objects as JSON in their cells; table: for reading."""
    fmt = _choice(fmt, ("jsonl", "csv", "table"))
    selected = _article_filter(
        since=since, until=until, language=language, country=country, person=person, org=org,
        place=place, credit=credit, search=search, versions_of=versions_of, legacy_id=legacy_id,
        include_all=include_all, limit=limit,
    )  # fmt: skip
    from worker.export import print_table, write_csv, write_jsonl
    from worker.store import Store

    store = Store.from_url(_settings(ctx).resolved_store_url)
    records = store.iter_articles(selected)
    try:
        if fmt == "table":
            print_table(records, out)
        else:
            for _ in (write_jsonl if fmt == "jsonl" else write_csv)(records, sys.stdout):
                pass
            sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()
    finally:
        records.close()
        store.close()


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="jsonl|csv|parquet",
            help="jsonl, csv (as `articles`) or parquet (pip install 'newsingest[parquet]').",
        ),
    ] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Write to this file (as NAME.part until it is complete). Without it (or '-'),"
            " jsonl and csv go to stdout.",
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    language: Language = None,
    country: Country = None,
    person: Person = None,
    org: Org = None,
    place: Place = None,
    credit: Credit = None,
    search: Search = None,
    versions_of: VersionsOf = None,
    include_all: IncludeAll = False,
    limit: Limit = None,
) -> None:
    """Export the store's records, or those the filters keep (the same as `articles`: canonical
    records unless --all), streamed to a file or stdout; a progress bar on a terminal."""
    from worker.export import ExportProgress, ParquetUnavailable, parquet_schema
    from worker.export import export as write_export
    from worker.log import logs_are_json
    from worker.store import Store

    fmt = _choice(fmt, ("jsonl", "csv", "parquet"))
    if output is not None and str(output) == "-":
        output = None
    if output is not None and not output.parent.is_dir():
        raise typer.BadParameter(f"no folder {str(output.parent)!r}", param_hint="--output")
    if fmt == "parquet":
        if output is None:
            raise typer.BadParameter("Parquet is written to a file: give --output PATH")
        try:
            parquet_schema()
        except ParquetUnavailable as exc:
            from rich.markup import escape

            Console(stderr=True).print(
                f"[red]error[/red]: {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None
    selected = _article_filter(
        since=since, until=until, language=language, country=country, person=person, org=org,
        place=place, credit=credit, search=search, versions_of=versions_of, legacy_id=None,
        include_all=include_all, limit=limit,
    )  # fmt: skip
    settings = _settings(ctx)
    store = Store.from_url(settings.resolved_store_url)
    started = time.perf_counter()
    # a bar for a person at a terminal; never among JSON logs
    progress = ExportProgress(show=not logs_are_json(settings.log_format))
    records = store.iter_articles(selected)
    try:
        if progress.enabled:
            progress.start(store.count_articles(selected), str(output or "stdout"))
        written = write_export(records, fmt, output, sys.stdout, progress)
    except BrokenPipeError:
        _reader_gone()
    finally:
        progress.close()
        records.close()
        store.close()
    log.info(
        "export.done",
        records=written,
        format=fmt,
        output=str(output) if output is not None else "-",
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


@app.command()
def migrate(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only say whether the store needs migrating (exit 1 if so)."),
    ] = False,
) -> None:
    """Bring the store's schema up to this version (Alembic migrations, under a lock). Workers,
    the watcher and every command do the same when they open the store; run it first to see
    a long migration through, or with --check to see where a store stands."""
    from worker.store import migrate as migrations
    from worker.store.db import create_store_engine

    url = _settings(ctx).resolved_store_url
    engine = create_store_engine(url, migrate=False)
    with engine.connect() as conn:
        before = migrations.current_revision(conn)
    if check:
        engine.dispose()
        typer.echo(json.dumps({"revision": before, "head": migrations.HEAD}))
        raise typer.Exit(0 if before == migrations.HEAD else 1)
    engine.dispose()
    engine = create_store_engine(url)
    with engine.connect() as conn:
        after = migrations.current_revision(conn)
    engine.dispose()
    typer.echo(json.dumps({"from": before, "revision": after, "head": migrations.HEAD}))


@app.command()
def tail(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Go on printing new records as they arrive.")
    ] = False,
    lines: Annotated[
        int,
        typer.Option("--lines", "-n", min=0, help="Start with the last N records announced."),
    ] = 10,
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            min=0,
            metavar="SEQ",
            help="Start after this announcement number (each line's _seq), e.g. to resume.",
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    language: Language = None,
    country: Country = None,
    person: Person = None,
    org: Org = None,
    place: Place = None,
    credit: Credit = None,
    search: Search = None,
    versions_of: VersionsOf = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between looks (SQLite).")
    ] = 0.5,
) -> None:
    """Print new records as the store announces them (its outbox), in commit order, one JSON
    line each with its announcement number ``_seq``; versions included. With --follow, until
    Ctrl-C: pipe the live feed into jq or another tool."""
    selected = _article_filter(
        since=since, until=until, language=language, country=country, person=person, org=org,
        place=place, credit=credit, search=search, versions_of=versions_of, legacy_id=None,
        include_all=True, limit=None,
    )  # fmt: skip
    from worker.export import record_dict
    from worker.outbox import AnnouncementWaiter
    from worker.store import Store

    store = Store.from_url(_settings(ctx).resolved_store_url)
    position = after if after is not None else store.announced_before_last(lines)
    waiter = AnnouncementWaiter(store) if follow else None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        while True:
            newest = store.last_announced()
            while position < newest:
                window = min(newest, position + 500)
                for seq, record in store.iter_announced(position, selected, through=window):
                    line = {"_seq": seq, **record_dict(record)}
                    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                position = window
            sys.stdout.flush()
            if waiter is None:
                break
            waiter.wait(interval)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        _reader_gone()
    finally:
        if waiter is not None:
            waiter.close()
        store.close()


@app.command("rebuild-index")
def rebuild_index(ctx: typer.Context) -> None:
    """Rebuild the near-duplicate index from the stored articles, with the current near_dup_*
    settings. Needed after changing shingle words, permutations, bands or rows; publishing
    refuses until then. Links already made are kept."""
    import time

    from worker.dedupe import NearDupConfig
    from worker.store import Store, near

    settings = _settings(ctx)
    config = NearDupConfig.from_settings(settings)
    store = Store.from_url(settings.resolved_store_url, config)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        indexed = near.rebuild(conn, config)
    log.info(
        "near_dup.index_rebuilt",
        articles=indexed,
        config=config.fingerprint,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    out.print(f"indexed {indexed} articles ({config.describe()})")
    store.close()


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Show it again every --interval until Ctrl-C: a live view on a terminal, one"
            " JSON object per line with --json.",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between --watch snapshots.")
    ] = 2.0,
) -> None:
    """Files by state, articles, duplicates, queue depth, the oldest pending file's age,
    articles per minute, busy workers, recent failures."""
    from worker.snapshot import take_snapshot
    from worker.store import Store

    settings = _settings(ctx)
    store = Store.from_url(settings.resolved_store_url)
    if watch:
        import functools

        from worker.status_view import watch_status

        try:
            take = functools.partial(take_snapshot, store, settings)
            watch_status(take, out, interval=interval, as_json=as_json)
        finally:
            store.close()
        return
    report = take_snapshot(store, settings).as_dict()
    store.close()
    if as_json:
        out.print_json(data=report)
        return
    table = Table("what", "count", show_header=False)
    for state, count in report["files"].items():
        table.add_row(f"files {state}", str(count))
    table.add_row("duplicate files", str(report["duplicate_files"]))
    table.add_row("articles", str(report["articles"]))
    table.add_row("exact duplicates", str(report["exact_duplicates"]))
    table.add_row("near duplicates", str(report["near_duplicates"]))
    depth = report["queue_depth"]
    table.add_row("queue depth", "unknown" if depth is None else str(depth))
    out.print(table)
    for failure in report["recent_failures"]:
        out.print(f"[red]failed[/red] {failure['file']}: {failure['code']}: {failure['message']}")


def main() -> None:
    from worker.errors import ConfigurationError

    try:
        app()
    except ConfigurationError as exc:
        # a store this version cannot use, a setting that cannot work: a clear line, exit 2,
        # not a traceback
        log.error("command.refused", code=exc.code, error=exc.message, hint=exc.hint)
        sys.exit(2)
