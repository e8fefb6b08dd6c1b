"""The operation chain: allocate_backend → submit_job → poll_job → finalize.

Every task takes the operation id only; the operation row says where it stands.
"""
from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable

from celery import chain

from .. import steps
from ..celery_app import app
from ..db import session_scope
from ..rapi import RapiUnavailable
from ..settings import get_settings
from . import delays

log = logging.getLogger(__name__)


class OperationFailed(Exception):
    """A step gave up: the operation is FAILED, and the task shows as failed in Flower.

    Re-running that task with the same arguments (Flower's task apply) resumes the
    operation at its failed step; a redelivery of the original message does not.
    """


class _Rerun(Exception):
    pass


def _run_step(task, step: Callable, op_id: int):
    """Run one step; on a transient RAPI error retry with backoff and jitter, up to a limit."""
    with session_scope() as session:
        if steps.reopen_if_rerun(session, op_id, step.__name__, task.request.id):
            log.info("op=%s reopened by a re-run of %s; resuming its chain", op_id, task.name)
            enqueue(op_id)
            raise _Rerun()
    try:
        with session_scope() as session:
            return step(session, op_id)
    except RapiUnavailable as exc:
        with session_scope() as session:
            attempts = steps.note_transient_error(session, op_id, exc.message)
        settings = get_settings()
        limit = settings.rapi_max_attempts
        if attempts >= limit:
            message = f"gave up after {attempts} attempts: {exc.message}"
            with session_scope() as session:
                steps.give_up(session, op_id, message, task_id=task.request.id)
            raise OperationFailed(f"operation {op_id}: {message}") from None
        # Exponential backoff with full jitter, so retries against a sick cluster spread out.
        countdown = random.uniform(0, min(60.0, settings.rapi_backoff_s * 2 ** attempts))
        log.info("op=%s transient error, retry %s/%s in %ss: %s", op_id, attempts, limit, countdown, exc.message)
        raise task.retry(countdown=delays.countdown(countdown), max_retries=None)


@contextlib.contextmanager
def _rerun_ends_here():
    """A re-run that reopened its operation has enqueued the whole chain; it stops here."""
    try:
        yield
    except _Rerun:
        pass


# max_retries=None on the task, not only in retry(): retry(max_retries=None) means "the
# task's own limit", Celery's default of 3, so a 4th retry raised MaxRetriesExceededError
# and left the operation in flight with no chain. The steps keep their own limits
# (RAPI_MAX_ATTEMPTS for transient errors; none while a Ganeti job runs).
@app.task(name="orchestrator.ops.allocate_backend", bind=True, max_retries=None)
def allocate_backend(self, op_id: int) -> int:
    with _rerun_ends_here():
        _run_step(self, steps.allocate, op_id)
    return op_id


@app.task(name="orchestrator.ops.submit_job", bind=True, max_retries=None)
def submit_job(self, op_id: int) -> int:
    with _rerun_ends_here():
        _run_step(self, steps.submit, op_id)
    return op_id


@app.task(name="orchestrator.ops.poll_job", bind=True, max_retries=None)
def poll_job(self, op_id: int) -> int:
    with _rerun_ends_here():
        if _run_step(self, steps.poll, op_id) is steps.Poll.PENDING:
            raise self.retry(countdown=delays.countdown(get_settings().poll_interval_s), max_retries=None)
    return op_id


@app.task(name="orchestrator.ops.finalize", bind=True, max_retries=None)
def finalize(self, op_id: int) -> int:
    with _rerun_ends_here():
        _run_step(self, steps.finalize, op_id)
    return op_id


def operation_chain(op_id: int):
    """The whole chain; steps already done return at once, so it resumes anywhere."""
    return chain(
        allocate_backend.si(op_id),
        submit_job.si(op_id),
        poll_job.si(op_id),
        finalize.si(op_id),
    )


def enqueue(op_id: int) -> None:
    operation_chain(op_id).apply_async()


@app.task(name="orchestrator.ops.retry_operation")
def retry_operation(op_id: int) -> int:
    """Reopen a FAILED operation at its failed step and run its chain again.

    Operators run it from the API, the CLI, or Flower (apply with the operation id).
    """
    from ..operations import reopen
    from ..models import Operation

    with session_scope() as session:
        reopen(session, session.get(Operation, op_id))
        session.commit()
    enqueue(op_id)
    return op_id
