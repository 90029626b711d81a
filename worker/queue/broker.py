"""The embedded broker: kombu's SQLAlchemy transport on SQLite, polled 10 times a second.

kombu's virtual transports poll an empty queue once a second, which left idle workers waiting up to
a second per file. The interval cannot be set through ``broker_transport_options`` here: the
SQLAlchemy transport hands those to ``create_engine``, which rejects unknown keywords.
"""

from __future__ import annotations

from kombu.transport import sqlalchemy

EMBEDDED_TRANSPORT = "worker.queue.broker:EmbeddedTransport"
EMBEDDED_PREFIX = "sqla+"


class EmbeddedTransport(sqlalchemy.Transport):
    polling_interval = 0.1
