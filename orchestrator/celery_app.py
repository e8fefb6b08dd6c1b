"""The Celery application, built from a deployment's Settings by `create_celery`.

Workers, beat and Flower load it through orchestrator.worker; the API and the CLI build
their own (to publish only) through orchestrator.services.context.build_context. Nothing
here reads the environment.
"""
from __future__ import annotations

from celery import Celery, current_app
from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init

from . import scheduler, taskstats  # noqa: F401  (taskstats connects the task signals)
from .broker import celery_settings
from .db import forget_inherited_connections
from .logs import setup_logging
from .settings import Settings

TASK_MODULES = ["orchestrator.tasks.ops", "orchestrator.tasks.events", "orchestrator.tasks.periodic"]


def create_celery(settings: Settings, *, set_as_current: bool = True) -> Celery:
    """A Celery app for `settings`, carrying the services' context (`app.context`) its tasks use."""
    from .dispatch import CeleryDispatcher
    from .services.context import Context

    scheduler.check(settings.scheduler_filters, settings.scheduler_weighers)
    app = Celery("orchestrator", include=TASK_MODULES, set_as_current=set_as_current)
    app.config_from_object("celeryconfig")
    app.conf.update(celery_settings(settings))
    app.backend_cls = settings.result_backend  # over CELERY_RESULT_BACKEND, which Celery would prefer
    app.context = Context(settings, CeleryDispatcher(app))
    return app


@celery_setup_logging.connect
def _logging(**_kwargs) -> None:
    """Use our dictConfig instead of Celery's own logging set-up."""
    settings = current_app.context.settings
    setup_logging(settings.log_level, settings.log_levels)


@worker_process_init.connect
def _child_started(**_kwargs) -> None:
    """A prefork child opens its own database connections."""
    forget_inherited_connections()
