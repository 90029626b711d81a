"""Alembic migrations of the store, run by ``worker.store.migrate`` (``newsingest migrate``)."""
