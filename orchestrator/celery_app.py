"""The Celery application shared by workers, beat, Flower and the API (to enqueue)."""
from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging as celery_setup_logging

from . import metrics  # noqa: F401  (connects the task signals)
from .logs import setup_logging

app = Celery("orchestrator", include=["orchestrator.tasks.ops", "orchestrator.tasks.events", "orchestrator.tasks.periodic"])
app.config_from_object("celeryconfig")


@celery_setup_logging.connect
def _logging(**_kwargs) -> None:
    """Use our dictConfig instead of Celery's own logging set-up."""
    setup_logging()
