"""Worker-side task figures: counts and durations by task and outcome, kept in Redis so
the API's /metrics can serve them for every worker process at once
(orchestrator.services.metrics reads them)."""
from __future__ import annotations

import logging
import time

from celery.signals import task_postrun, task_prerun

log = logging.getLogger(__name__)

COUNTS = "metrics:tasks:count"
SECONDS = "metrics:tasks:seconds"
_started: dict[str, float] = {}


@task_prerun.connect
def _prerun(task_id=None, **_kwargs) -> None:
    _started[task_id] = time.monotonic()


@task_postrun.connect
def _postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
    began = _started.pop(task_id, None)
    if began is None or task is None:
        return
    try:
        field = f"{task.name}|{state or 'UNKNOWN'}"
        pipe = task.app.context.redis.pipeline(transaction=False)
        pipe.hincrby(COUNTS, field, 1)
        pipe.hincrbyfloat(SECONDS, field, time.monotonic() - began)
        pipe.execute()
    except Exception:  # metrics must never fail a task
        log.debug("could not record task metrics", exc_info=True)
