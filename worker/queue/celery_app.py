"""A module-level app for Celery's own tools: ``celery -A worker.queue.celery_app inspect ping``,
Flower. Settings come from the environment, as for ``newsingest worker``."""

from worker.queue.app import create_app
from worker.settings import Settings

app = create_app(Settings())
