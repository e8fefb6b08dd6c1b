"""The steps of an operation's chain, as plain functions that take a session.

Each step loads its operation, returns at once when its step is already done (so a
redelivered task is harmless), does one external thing, and commits before returning.
Transient RAPI errors propagate so that the Celery task can retry with backoff.
"""
from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import allocator, backends
from .actions import ACTIONS
from .crashpoints import crash_point
from .ganeti import FINAL_JOB_STATUSES, OP_CREATE, carries_reason, ganeti_time, op_tag
from .models import Backend, Operation, OperState, OpStatus, Step, utcnow
from .rapi import JobFailed, RapiClient, RapiError, RapiNotFound, RapiUnavailable, job_error
from .state import JobReport, apply_job_report

if TYPE_CHECKING:  # the process's context: settings and RAPI clients (orchestrator.services)
    from .services.context import Context

log = logging.getLogger(__name__)


class Poll(Enum):
    PENDING = "pending"
    DONE = "done"


def _load(session: Session, op_id: int) -> Operation:
    op = session.get(Operation, op_id, with_for_update={"of": Operation}, populate_existing=True)
    if op is None:
        raise LookupError(f"operation {op_id} does not exist")
    op.heartbeat_at = utcnow()
    return op


def _at(op: Operation, step: Step) -> bool:
    return not op.is_finished and op.step == step.value


def _close(op: Operation, status: OpStatus) -> None:
    """A failed operation keeps the step it failed at, so a retry resumes there."""
    op.status = status.value
    if status is OpStatus.SUCCEEDED:
        op.step = Step.DONE.value
    op.finished_at = utcnow()
    if op.server is not None:
        op.server.task = None


def fail(session: Session, op: Operation, message: str) -> None:
    """End an operation in FAILED; a create that never reached Ganeti leaves its server in ERROR."""
    op.error = message
    _close(op, OpStatus.FAILED)
    server = op.server
    if server is not None and op.kind == "create" and server.operstate == OperState.BUILD.value:
        apply_job_report(server, JobReport.local(OP_CREATE, "error", log_msg=message))
    log.warning("op=%s server=%s %s failed: %s", op.id, op.server_id, op.kind, message)


def refresh_stale_backends(session: Session, ctx: Context) -> None:
    """Synnefo refreshes stats older than BACKEND_REFRESH_MIN before allocating."""
    refresh_min = ctx.settings.backend_refresh_min
    for backend in [b for b in session.scalars(select(Backend)) if backends.stats_are_stale(b, refresh_min)]:
        backends.refresh_stats(session, backend, ctx.cluster(backend))
    session.commit()


def allocate(session: Session, op_id: int, ctx: Context) -> None:
    if not _at(_load(session, op_id), Step.ALLOCATE):
        return
    refresh_stale_backends(session, ctx)
    op = _load(session, op_id)
    if not _at(op, Step.ALLOCATE):
        return
    server = op.server
    if not ACTIONS[op.kind].allocates or server.backend_id is not None:
        op.step = Step.SUBMIT.value
        session.commit()
        return
    settings = ctx.settings
    pinned = op.params.get("backend_id") or settings.backend_per_user.get(op.user_id)
    op.status = OpStatus.RUNNING.value
    try:
        backend = allocator.allocate(session, server.flavor, pinned_backend_id=pinned,
                                     fresh=lambda b: not backends.stats_are_stale(b, settings.backend_refresh_min),
                                     filters=settings.scheduler_filters, weighers=settings.scheduler_weighers)
    except allocator.NoBackendAvailable as exc:
        fail(session, op, f"no backend has room for this server: {exc}")
        session.commit()
        return
    server.backend_id = backend.id
    op.backend_id = backend.id
    op.step = Step.SUBMIT.value
    op.attempts = 0
    crash_point(settings, "allocate.before_commit", op.id)
    session.commit()
    log.info("op=%s server=%s allocated backend=%s", op.id, server.id, backend.id)


def find_own_job(client: RapiClient, op: Operation, instance: str) -> tuple[int | None, bool]:
    """After a submit that may have reached Ganeti: (its job id, whether it is known to exist).

    Looks for a job carrying the operation's reason (one bulk call); for a create whose
    job is gone from the queue, the instance tagged with the operation id proves it ran.
    """
    mine = [int(j["id"]) for j in client.jobs() if carries_reason(j, op_tag(op.id))]
    if mine:
        return max(mine), True
    if op.kind == "create":
        try:
            found = client.instance(instance)
        except RapiNotFound:
            return None, False
        if op_tag(op.id) in (found.get("tags") or []):
            return None, True
    return None, False


def submit(session: Session, op_id: int, ctx: Context) -> None:
    op = _load(session, op_id)
    if not _at(op, Step.SUBMIT):
        return
    server, action = op.server, ACTIONS[op.kind]
    client = ctx.cluster(server.backend)
    name = server.instance_name(ctx.settings.backend_prefix_id)
    op.status = OpStatus.RUNNING.value
    if op.submit_started_at is not None:
        job_id, exists = find_own_job(client, op, name)
        if exists:
            _record_submitted(session, op, job_id, action.opcode)
            log.info("op=%s server=%s found its own job=%s on replay", op.id, server.id, job_id)
            return
    op.submit_started_at = utcnow()
    session.commit()  # the marker is durable before the write is sent
    try:
        job_id = action.submit(client, op, server, name, op_tag(op.id))
    except RapiUnavailable:
        raise
    except RapiError as exc:
        fail(session, op, f"the cluster refused the {op.kind}: {exc.message}")
        session.commit()
        return
    crash_point(ctx.settings, "submit.after_write", op_id)
    op = _load(session, op_id)  # it may have been superseded while the write was in flight
    if op.is_finished:
        op.job_id = job_id
        session.commit()
        return
    _record_submitted(session, op, job_id, action.opcode)
    log.info("op=%s server=%s submitted %s job=%s", op.id, server.id, op.kind, job_id)


def _record_submitted(session: Session, op: Operation, job_id: int | None, opcode: str) -> None:
    server = op.server
    op.error = None
    op.attempts = 0
    if job_id is None:  # the instance exists but its job was archived: it succeeded
        conclude(op, JobReport(0, opcode, "success", utcnow().timestamp()))
    else:
        op.job_id = job_id
        op.job_status = "queued"
        op.step = Step.POLL.value
        apply_job_report(server, JobReport(job_id, opcode, "queued", server.backend_time or 0.0))
    session.commit()


def poll(session: Session, op_id: int, ctx: Context) -> Poll:
    """Read the job once; apply a final result to the server and hand over to finalize."""
    op = session.get(Operation, op_id, populate_existing=True)  # no row lock during the HTTP call
    if op is None or not _at(op, Step.POLL):
        return Poll.DONE
    job_id, backend = op.job_id, op.server.backend
    try:
        job = ctx.cluster(backend).job(job_id)
    except RapiUnavailable:
        raise
    except RapiError as exc:
        op = _load(session, op_id)
        if _at(op, Step.POLL):
            fail(session, op, f"cannot follow job {job_id}: {exc.message}")
            session.commit()
        return Poll.DONE
    op = _load(session, op_id)
    if not _at(op, Step.POLL):
        return Poll.DONE  # an agent's event finished it meanwhile
    server, action = op.server, ACTIONS[op.kind]
    status = job.get("status")
    op.job_status = status
    if status not in FINAL_JOB_STATUSES:
        server.backend_job_status = status
        # The limit counts failures in a row: a long job's scattered hiccups never add up to it.
        op.attempts = 0
        session.commit()
        return Poll.PENDING
    error = None if status == "success" else job_error(job)
    conclude(op, JobReport(
        job_id=op.job_id,
        opcode=action.opcode,
        status=status,
        timestamp=ganeti_time(job.get("end_ts")) or 0.0,
        log_msg=error.message if error else None,
        ecode=error.ecode if isinstance(error, JobFailed) else None,
    ))
    crash_point(ctx.settings, "poll.before_commit", op.id)
    session.commit()
    return Poll.DONE


def conclude(op: Operation, report: JobReport) -> None:
    """The operation's job ended: remember how, and hand over to finalize."""
    op.job_status = report.status
    op.error = None if report.status == "success" else (report.log_msg or f"job {report.status}")
    op.params = {**op.params, "job_result": {"job_id": report.job_id, "opcode": report.opcode,
                                             "status": report.status, "timestamp": report.timestamp,
                                             "log_msg": report.log_msg, "ecode": report.ecode}}
    op.step = Step.FINALIZE.value


def final_report(op: Operation) -> JobReport:
    result = {k: v for k, v in op.params["job_result"].items()}
    params = {k: v for k, v in op.params.items() if k != "job_result"}
    return JobReport(extra=params, **result)


def close_finalized(op: Operation) -> None:
    # Removing what the cluster no longer has still leaves the server destroyed.
    gone = op.kind == "destroy" and op.server.operstate == OperState.DESTROYED.value
    _close(op, OpStatus.SUCCEEDED if op.job_status == "success" or gone else OpStatus.FAILED)


def finalize(session: Session, op_id: int, ctx: Context) -> None:
    op = _load(session, op_id)
    if not _at(op, Step.FINALIZE):
        return
    # The server's new state and the operation's end are committed together, so nobody
    # sees an ACTIVE server whose create is still in flight.
    apply_job_report(op.server, final_report(op))
    close_finalized(op)
    crash_point(ctx.settings, "finalize.before_commit", op.id)
    session.commit()
    log.info("op=%s server=%s %s finished %s", op.id, op.server_id, op.kind, op.status)


def note_transient_error(session: Session, op_id: int, message: str) -> int:
    """Record a transient failure of the current step; returns the step's attempts so far."""
    op = _load(session, op_id)
    op.attempts += 1
    op.error = message
    session.commit()
    return op.attempts


def give_up(session: Session, op_id: int, message: str, task_id: str | None = None) -> None:
    op = _load(session, op_id)
    if not op.is_finished:
        fail(session, op, message)
        if task_id:  # so that a re-run of this task (not a redelivery of it) can resume it
            op.params = {**op.params, "failed_task": {"id": task_id, "step": op.step}}
        session.commit()


def rerun_reopens(session: Session, op_id: int, step: str, task_id: str | None) -> Operation | None:
    """The operation, reopened (flushed), when this task is an operator's re-run of the task
    that failed it: same step, another task id; otherwise None. Conflict when it cannot be."""
    from .operations import reopen

    op = session.get(Operation, op_id)
    failed = (op.params or {}).get("failed_task") if op is not None else None
    if not failed or op.status != OpStatus.FAILED.value or failed.get("step") != step or failed.get("id") == task_id:
        return None
    op = reopen(session, _load(session, op_id))
    op.params = {k: v for k, v in op.params.items() if k != "failed_task"}
    session.flush()
    return op
