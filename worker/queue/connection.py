"""How to reach the broker, and how many messages wait there: kombu alone, no Celery app.

``newsingest status`` answers this on every poll of a monitoring script; building a Celery app
(and importing the tasks, the pipeline and the enrichers behind them) cost it over a second.
"""

from __future__ import annotations

from typing import Any

from worker.queue.names import QUEUE
from worker.settings import Settings

SQLA_PREFIX = "sqla+"  # kombu's SQLAlchemy transport: the embedded SQLite broker, or another DB
EMBEDDED_TRANSPORT = "worker.queue.broker:EmbeddedTransport"  # see broker.py


def broker_options(settings: Settings) -> dict[str, Any]:
    """Celery's broker settings (``broker_url``, and the transport and its options where they
    differ from kombu's defaults); ``kombu_connection`` takes the same."""
    broker_url = settings.resolved_broker_url
    if broker_url.startswith(f"{SQLA_PREFIX}sqlite:"):
        # the same SQLite broker, through our faster-polling subclass of kombu's transport
        # (another database behind sqla+ is kombu's own transport, as Celery documents it)
        return {
            "broker_url": broker_url.removeprefix(SQLA_PREFIX),
            "broker_transport": EMBEDDED_TRANSPORT,
        }
    options: dict[str, Any] = {"broker_url": broker_url}
    if broker_url.startswith(("redis://", "rediss://")):
        # above the longest task, so that a slow task is not redelivered while it runs
        # (celery#7009); expired unacked messages are swept back every 10 s, not every ~100 s
        options["broker_transport_options"] = {
            "visibility_timeout": settings.lease_seconds + settings.task_time_limit,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        }
    return options


def kombu_connection(settings: Settings) -> Any:
    """A kombu connection to the broker, as the workers' (not yet connected)."""
    from kombu import Connection

    options = broker_options(settings)
    return Connection(
        options["broker_url"],
        transport=options.get("broker_transport"),
        transport_options=options.get("broker_transport_options"),
        connect_timeout=2,
    )


def message_count(connection: Any) -> int | None:
    """Messages waiting on ``connection``: 0 for an empty queue, None if the broker cannot be
    asked.

    Redis deletes a list when its last message is taken, so there an empty queue does not exist
    and a passive declare answers NOT_FOUND: on Redis that is an empty queue, 0 (the answer came
    from Redis, so it was reached). The embedded SQLite broker counts its rows.
    """
    from kombu.exceptions import ChannelError

    try:
        channel = connection.default_channel
        try:
            return channel.queue_declare(QUEUE, passive=True).message_count
        except ChannelError:
            if connection.transport.driver_type == "redis":
                return 0
            raise
    except Exception:
        return None


def queue_depth(settings: Settings) -> int | None:
    """Messages waiting in the broker that ``settings`` name (see ``message_count``)."""
    broker_url = settings.resolved_broker_url
    if broker_url.startswith(SQLA_PREFIX):
        return _sql_depth(broker_url.removeprefix(SQLA_PREFIX))
    try:
        with kombu_connection(settings) as connection:
            return message_count(connection)
    except Exception:
        return None


def _sql_depth(url: str) -> int | None:
    """The depth of a broker on kombu's SQLAlchemy transport (the embedded SQLite one, or another
    database behind ``sqla+``), counted in SQL on kombu's own tables.

    What kombu's SQLAlchemy channel counts (``Channel._size``: the visible messages of the
    queue), without importing its ORM models (0.1-0.2 s of ``status``). The table names are the
    transport's defaults, which ours never changes. ``tests/test_cli.py`` compares the answer
    with kombu's own count, so a change of kombu's tables is seen there.
    """
    from sqlalchemy import create_engine, inspect, text

    # the broker is SQLite by default, but kombu's transport takes any SQLAlchemy URL
    # (sqla+postgresql://...): ask the dialect for the tables, and wait on SQLite's lock only there
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": 5} if sqlite else {"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            tables = inspect(conn)
            if not (tables.has_table("kombu_queue") and tables.has_table("kombu_message")):
                return 0  # no worker or watcher has used the broker yet: nothing waits
            return conn.execute(
                text(
                    "SELECT count(*) FROM kombu_message m JOIN kombu_queue q"
                    " ON m.queue_id = q.id WHERE q.name = :queue AND m.visible"
                ),
                {"queue": QUEUE},
            ).scalar_one()
    except Exception:
        return None
    finally:
        engine.dispose()
