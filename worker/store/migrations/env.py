"""Alembic environment: always given a connection by ``worker.store.migrate`` (which holds the
schema lock), never an alembic.ini or a URL of its own."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
