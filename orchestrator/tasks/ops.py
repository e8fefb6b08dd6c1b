"""The operation chain: allocate_backend → submit_job → poll_job → finalize.

Every task takes the operation id only; the operation row says where it stands. Each task
loads, runs one step (orchestrator.steps) with its app's context, and lets the step commit.
"""
from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable

from celery import shared_task

from .. import steps
from ..auth import ADMIN
from ..models import Operation
from ..rapi import RapiUnavailable, budget
from ..rapi.budget import RapiThrottled
from ..services import operations, servers
from . import delays

log = logging.getLogger(__name__)


class OperationFailed(Exception):
    """A step gave up: the operation is FAILED, and the task shows as failed in Flower.

    Re-running that task with the same arguments (Flower's task apply) resumes the
    operation at its failed step; a redelivery of the original message does not.
    """


class _Rerun(Exception):
    pass


def _run_step(task, step: Callable, op_id: int, caller: str = budget.BACKGROUND):
    """Run one step, its RAPI requests drawn from their backend's budget as `caller`'s; on a
    transient RAPI error retry with backoff and jitter, up to a limit; when the budget had no
    room, retry later without counting an attempt.

    After a step that may have ended its operation (or found it ended by an event, a destroy,
    a cancel), a create's installer config is spent: every chain step passes here."""
    ctx = task.app.context
    try:
        with ctx.session() as session, budget.acting_for(caller):
            # Held while the step runs: the identity map is weak, and the step's reads refresh
            # this object, so the installer check after it asks the database nothing more.
            session.info["operation"] = session.get(Operation, op_id)
            if operations.resume_rerun(ctx, session, op_id, step.__name__, task.request.id):
                log.info("op=%s reopened by a re-run of %s; its chain runs again", op_id, task.name)
                raise _Rerun()
            result = step(session, op_id, ctx)
            if result is not steps.Poll.PENDING:
                servers.spend_installer_config(ctx, session, op_id)
            return result
    except RapiThrottled as exc:
        with ctx.session() as session:
            steps.note_throttled(session, op_id)
        # Spread out, so operations throttled together do not all come back at once.
        countdown = random.uniform(1.0, 2.0) * max(exc.retry_in, ctx.settings.poll_interval_s)
        log.info("op=%s %s waits for room in its backend's request budget, again in %.2fs: %s",
                 op_id, step.__name__, countdown, exc.message)
        raise task.retry(countdown=delays.countdown(countdown, ctx.settings), max_retries=None)
    except RapiUnavailable as exc:
        with ctx.session() as session:
            attempts = steps.note_transient_error(session, op_id, exc.message)
        settings = ctx.settings
        limit = settings.rapi_max_attempts
        if attempts >= limit:
            message = f"gave up after {attempts} attempts: {exc.message}"
            with ctx.session() as session:
                steps.give_up(session, op_id, message, task_id=task.request.id)
                servers.spend_installer_config(ctx, session, op_id)
            raise OperationFailed(f"operation {op_id}: {message}") from None
        # Exponential backoff with full jitter, so retries against a sick cluster spread out.
        countdown = random.uniform(0, min(60.0, settings.rapi_backoff_s * 2 ** attempts))
        log.info("op=%s transient error, retry %s/%s in %ss: %s", op_id, attempts, limit, countdown, exc.message)
        raise task.retry(countdown=delays.countdown(countdown, settings), max_retries=None)


@contextlib.contextmanager
def _rerun_ends_here():
    """A re-run that reopened its operation has dispatched the whole chain; it stops here."""
    try:
        yield
    except _Rerun:
        pass


# max_retries=None on the task, not only in retry(): retry(max_retries=None) means "the
# task's own limit", Celery's default of 3, so a 4th retry raised MaxRetriesExceededError
# and left the operation in flight with no chain. The steps keep their own limits
# (RAPI_MAX_ATTEMPTS for transient errors; none while a Ganeti job runs).
# The dispatcher publishes the steps with their results ignored (nobody reads them, and a
# publisher then never waits on the result backend); a step that gave up is still stored as
# FAILURE, which is what Flower's failed-task view and its re-run show.
STEP = {"bind": True, "max_retries": None, "store_errors_even_if_ignored": True}
SUBMIT_WAIT_S = 1.0  # how soon a submit that could not send yet looks again


@shared_task(name="orchestrator.ops.allocate_backend", **STEP)
def allocate_backend(self, op_id: int) -> int:
    with _rerun_ends_here():
        _run_step(self, steps.allocate, op_id, budget.USER)
    return op_id


@shared_task(name="orchestrator.ops.submit_job", **STEP)
def submit_job(self, op_id: int) -> int:
    with _rerun_ends_here():
        # Not sent yet: another chain holds the claim to a network's writes, or a server waits for
        # its network's jobs to be sent. Both take a moment, not a poll interval.
        if _run_step(self, steps.submit, op_id, budget.USER) is steps.Poll.PENDING:
            settings = self.app.context.settings
            wait = min(settings.poll_interval_s, SUBMIT_WAIT_S)
            raise self.retry(countdown=delays.countdown(wait, settings), max_retries=None)
    return op_id


@shared_task(name="orchestrator.ops.poll_job", **STEP)
def poll_job(self, op_id: int) -> int:
    with _rerun_ends_here():
        if _run_step(self, steps.poll, op_id) is steps.Poll.PENDING:
            ctx = self.app.context
            with ctx.session() as session:  # ever rarer while the job runs; rarest while its agent reports
                wait = steps.next_poll_in(session, op_id, ctx, polls=self.request.retries or 0)
            raise self.retry(countdown=delays.countdown(wait, ctx.settings), max_retries=None)
    return op_id


@shared_task(name="orchestrator.ops.finalize", **STEP)
def finalize(self, op_id: int) -> int:
    with _rerun_ends_here():
        _run_step(self, steps.finalize, op_id)
    return op_id


@shared_task(name="orchestrator.ops.retry_operation", bind=True)
def retry_operation(self, op_id: int) -> int:
    """Operators' retry from Flower (apply with the operation id): the API's and the CLI's use case."""
    ctx = self.app.context
    with ctx.session() as session:
        operations.retry(ctx, session, ADMIN, op_id)
    return op_id
