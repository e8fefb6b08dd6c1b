"""Bare tasks for baselines: the same broker and worker, none of the product's work.

A shared task, so it registers on whichever Celery app loads this module (the bench's
worker runs `celery -A orchestrator.worker worker -I bench.noop_tasks`); the benches send it
by name on the app of their own (`app.signature(NOOP)`, or the node agent's Emitter).
"""
from celery import shared_task

NOOP = "bench.noop"


@shared_task(name=NOOP)
def noop(*_args, **_kwargs) -> None:
    return None
