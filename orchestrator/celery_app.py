"""The Celery application shared by workers, beat, Flower and the API (to enqueue)."""
from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init

from . import metrics  # noqa: F401  (connects the task signals)
from .db import forget_inherited_connections
from .logs import setup_logging

app = Celery("orchestrator", include=["orchestrator.tasks.ops", "orchestrator.tasks.events", "orchestrator.tasks.periodic"])
app.config_from_object("celeryconfig")


@celery_setup_logging.connect
def _logging(**_kwargs) -> None:
    """Use our dictConfig instead of Celery's own logging set-up."""
    setup_logging()


@worker_process_init.connect
def _child_started(**_kwargs) -> None:
    """A prefork child opens its own database connections."""
    forget_inherited_connections()
