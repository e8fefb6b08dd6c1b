"""The steps of an operation's chain, as plain functions that take a session.

Each step loads its operation, returns at once when its step is already done (so a
redelivered task is harmless), does one external thing, and commits before returning.
Transient RAPI errors propagate so that the Celery task can retry with backoff.
"""
from __future__ import annotations

import datetime as dt
import logging
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from . import agents, allocator, backends, deadlines
from .actions import ACTIONS
from .crashpoints import crash_point
from .db import write_lock
from .errors import Conflict
from .ganeti import (FINAL_JOB_STATUSES, JOB_VANISHED, OP_CREATE, OP_SHUTDOWN, OP_STARTUP, carries_reason,
                     ganeti_time)
from .models import Backend, Operation, OperState, OpStatus, Step, utcnow
from .reconciliation.rules import observed_operstate
from .rapi import JobFailed, RapiClient, RapiError, RapiNotFound, RapiUnavailable, job_error
from .rapi.budget import RapiThrottled
from .state import JobReport, apply_job_report
from .network import operations as netops  # the network kinds' steps (they use this module's)
from .network import attach
from .quotas import commission as quota

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
    """A failed operation keeps the step it failed at, so a retry resumes there. Every end of
    an operation passes here: its quota reservation, if it made one, is resolved here, once."""
    op.status = status.value
    if status is OpStatus.SUCCEEDED:
        op.step = Step.DONE.value
    op.finished_at = utcnow()
    op.submit_lease_until = None
    quota.settle(object_session(op), op)
    if op.server is not None:
        op.server.task = None
        attach.settle(object_session(op), op)


def fail(session: Session, op: Operation, message: str) -> None:
    """End an operation in FAILED; a create that never reached Ganeti leaves its server in ERROR
    (a network's create, its backend's network: orchestrator.network.operations.failed)."""
    op.error = message
    _close(op, OpStatus.FAILED)
    if op.is_network:
        netops.failed(session, op, message)
        log.warning("op=%s network=%s backend=%s %s failed: %s", op.id, op.network_id, op.backend_id, op.kind,
                    message)
        return
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


def _peek(session: Session, op_id: int) -> Operation | None:
    """The operation as committed, without a lock (nothing is written from it)."""
    return session.get(Operation, op_id, populate_existing=True)


def _load_for_write(session: Session, op_id: int) -> Operation:
    """`_load`, with SQLite's database write lock first: its deferred transactions would let
    two chains read the operation and both write (PostgreSQL has the row lock)."""
    session.commit()  # nothing is pending here; the lock is taken at the start of a transaction
    write_lock(session)
    return _load(session, op_id)


def _network_kind(session: Session, op_id: int) -> bool:
    """Whether the operation is about a network (its steps: orchestrator.network.operations)."""
    op = _peek(session, op_id)
    return op is not None and op.is_network


def allocate(session: Session, op_id: int, ctx: Context) -> None:
    first = _peek(session, op_id)
    if first is None or not _at(first, Step.ALLOCATE):
        return
    if first.is_network:
        return netops.allocate(session, op_id, ctx)
    refresh_stale_backends(session, ctx)
    op = _load_for_write(session, op_id)
    if not _at(op, Step.ALLOCATE):
        return
    if _stopped_before_sending(session, op, ctx):
        session.commit()
        return
    server = op.server
    if not ACTIONS[op.kind].allocates or server.backend_id is not None:
        op.step = Step.SUBMIT.value
        session.commit()
        return
    settings = ctx.settings
    pinned = op.params.get("backend_id") or settings.backend_per_user.get(op.user_id)
    op.status = OpStatus.RUNNING.value
    nics = attach.server_ports(session, server.id)
    try:
        with session.begin_nested():  # a refusal takes back the room reserved and any network placed
            backend = allocator.allocate(session, server.flavor, pinned_backend_id=pinned,
                                         fresh=lambda b: not backends.stats_are_stale(b, settings.backend_refresh_min),
                                         filters=settings.scheduler_filters, weighers=settings.scheduler_weighers,
                                         within=attach.public_backends(session, nics))
            waits, written = attach.place_networks(session, nics, backend.id, op.user_id)
    except allocator.NoBackendAvailable as exc:
        fail(session, op, f"no backend has room for this server: {exc}")
        session.commit()
        return
    except Conflict as exc:
        fail(session, op, f"the server's networks cannot be put on its backend: {exc.message}")
        session.commit()
        return
    server.backend_id = backend.id
    op.backend_id = backend.id
    op.step = Step.SUBMIT.value
    op.attempts = 0
    if waits:
        op.params = {**op.params, attach.NETWORK_OPS: waits}
    crash_point(settings, "allocate.before_commit", op.id)
    session.commit()
    log.info("op=%s server=%s allocated backend=%s, waits for network operations %s", op.id, server.id, backend.id,
             waits)
    for network_op in written:  # committed: a broker away leaves them to recovery
        _hand_over(ctx, network_op.id, network_op.generation)


def _hand_over(ctx: Context, op_id: int, generation: int | None) -> None:
    try:
        ctx.dispatcher.run_operation(op_id, generation)
    except Exception as exc:  # the row is committed: recovery re-drives it (OPERATION_STALL_S)
        log.warning("op=%s could not be dispatched (%s); recovery will re-drive it", op_id, type(exc).__name__)


def find_own_job(client: RapiClient, op: Operation, instance: str) -> tuple[int | None, bool]:
    """After a submit that may have reached Ganeti: (its job id, whether it is known to exist).

    Looks for a job carrying the reason of the operation's current attempt (one bulk call):
    a job an earlier attempt sent (a failed one, before a retry) is never taken for its own.
    For a create whose job is gone from the queue, the instance tagged by this attempt
    proves it ran.
    """
    reason = op.reason
    mine = [int(j["id"]) for j in client.jobs() if carries_reason(j, reason)]
    if mine:
        return max(mine), True
    if op.kind == "create":
        try:
            found = client.instance(instance)
        except RapiNotFound:
            return None, False
        if reason in (found.get("tags") or []):
            return None, True
    return None, False


# How long a chain's claim to send the write holds (`submit_lease_until`), in RAPI timeouts:
# a write's whole deadline is three of them (rapi.transport.Endpoint.deadline_for), and one more
# covers committing the claim and recording the job. Recovery re-drives an operation only
# after OPERATION_STALL_S, so a chain that died holding a claim delays nobody else much.
SUBMIT_LEASE_TIMEOUTS = 4


def submit(session: Session, op_id: int, ctx: Context) -> Poll | None:
    """Send the operation's one RAPI write, once, however many chains run it.

    A replay (the marker `submit_started_at` is set: a write may have reached Ganeti) looks
    for its attempt's job first and takes it when it is there. A chain sends a write only
    under a claim taken under the operation's lock (`submit_lease_until`): while another
    chain holds one, that chain is sending its write now and records its job, and this one
    ends here. A transient failure, the operation's end or a retry gives the claim back; a
    chain that died holding it loses it when its lease runs out.
    """
    op = _peek(session, op_id)
    if op is None or not _at(op, Step.SUBMIT):
        return
    if op.is_network:
        return netops.submit(session, op_id, ctx)
    server, action = op.server, ACTIONS[op.kind]
    client = ctx.cluster(server.backend)
    name = server.instance_name(ctx.settings.backend_prefix_id)
    if op.submit_started_at is not None and _replay_found(session, op_id, client, name, action.opcode):
        return
    try:
        depends = attach.dependencies(session, op)
    except attach.Waiting:  # its network's jobs are not sent yet: come back
        return Poll.PENDING
    except attach.NetworkFailed as exc:
        op = _load_for_write(session, op_id)
        if _at(op, Step.SUBMIT):
            fail(session, op, str(exc))
        session.commit()
        return None
    lease = dt.timedelta(seconds=SUBMIT_LEASE_TIMEOUTS * ctx.settings.rapi_timeout_s)
    op = _claim_write(session, op_id, ctx, lease, lambda: _replay_found(session, op_id, client, name, action.opcode))
    if op is not None:
        _send_write(session, op, ctx, client, name, depends)


def _claim_write(session: Session, op_id: int, ctx: Context, lease: dt.timedelta,
                 replay_found) -> Operation | None:
    """The operation, claimed for this chain's write with its marker durable; None when
    another chain holds the claim, the operation moved on, or a replay found the job."""
    op = _load_for_write(session, op_id)
    if not _at(op, Step.SUBMIT):
        session.commit()
        return None
    if op.submit_lease_until is not None and op.submit_lease_until > utcnow():
        session.commit()
        log.info("op=%s another chain is sending its write: this one leaves it to that one", op.id)
        return None
    if _stopped_before_sending(session, op, ctx):
        session.commit()
        return None
    op.status = OpStatus.RUNNING.value
    op.submit_lease_until = utcnow() + lease
    replay = op.submit_started_at is not None
    session.commit()  # the claim: no other chain sends a write from now on
    if replay and replay_found():  # a write that landed meanwhile
        return None
    op = _load_for_write(session, op_id)
    if not _at(op, Step.SUBMIT):  # superseded meanwhile
        session.commit()
        return None
    op.submit_started_at = utcnow()
    op.submit_lease_until = op.submit_started_at + lease
    session.commit()  # the marker is durable before the write is sent
    return op


def _stopped_before_sending(session: Session, op: Operation, ctx: Context) -> bool:
    """Start the attempt's clock; past its deadline (or canceled), fail it: nothing of this
    attempt reached a cluster (a replay that found its job has moved on to poll)."""
    deadlines.start_clock(op, ctx.settings)
    if not deadlines.is_past(op):
        return False
    fail(session, op, f"{deadlines.why_stopped(op, ctx.settings)} before it was sent to a cluster")
    return True


def _send_write(session: Session, op: Operation, ctx: Context, client: RapiClient, name: str,
                depends: list) -> None:
    """The one RAPI write (depending on the jobs of the networks it needs), and its job
    recorded (or the refusal), giving the claim back."""
    op_id, server, action = op.id, op.server, ACTIONS[op.kind]
    secret = action.secret_osparams(op, ctx.configs, ctx.settings.public_api_url)  # Redis only, never a row
    try:
        job_id = action.submit(client, op, server, name, op.reason, secret, depends)
    except RapiThrottled:
        _unclaim(session, op_id)
        raise
    except RapiUnavailable:
        raise
    except RapiError as exc:
        op = _load_for_write(session, op_id)
        if not op.is_finished:
            fail(session, op, f"the cluster refused the {op.kind}: {exc.message}")
        op.submit_lease_until = None
        session.commit()
        return
    crash_point(ctx.settings, "submit.after_write", op_id)
    op = _load_for_write(session, op_id)  # it may have been superseded while the write was in flight
    op.submit_lease_until = None
    if op.is_finished:
        op.job_id = job_id
        session.commit()
        return
    if not _at(op, Step.SUBMIT):  # another chain's replay found this job and recorded it
        session.commit()
        return
    _record_submitted(session, op, job_id, action.opcode)
    log.info("op=%s server=%s submitted %s job=%s", op.id, server.id, op.kind, job_id)


def _unclaim(session: Session, op_id: int) -> None:
    """The write found no room in its backend's request budget, so it was never sent (each
    action's write is one request): the operation is as before its claim, no job of this attempt
    exists (none was sent before the marker; a replay found none under the claim), so the next try
    sends at once instead of first looking for a job, which would spend more of the budget."""
    op = _load_for_write(session, op_id)
    if _at(op, Step.SUBMIT):
        op.submit_started_at = None
        op.submit_lease_until = None
    session.commit()


def _replay_found(session: Session, op_id: int, client: RapiClient, name: str, opcode: str) -> bool:
    """Look (no lock held during the call) for the job of the operation's attempt; record it
    if it is there and the operation still waits for it."""
    op = _peek(session, op_id)
    job_id, exists = find_own_job(client, op, name)
    if not exists:
        return False
    op = _load_for_write(session, op_id)
    if _at(op, Step.SUBMIT):
        op.submit_lease_until = None
        op.status = OpStatus.RUNNING.value
        _record_submitted(session, op, job_id, opcode)
        log.info("op=%s server=%s found its own job=%s on replay", op.id, op.server_id, job_id)
    else:
        session.commit()
    return True


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
    if op.is_network:
        return netops.poll(session, op_id, ctx)
    job_id, backend = op.job_id, op.server.backend
    client = ctx.cluster(backend)
    try:
        job = client.job(job_id)
    except RapiUnavailable:
        raise
    except RapiNotFound as exc:
        return _job_vanished(session, op_id, job_id, client, ctx, exc)
    except RapiError as exc:
        op = _load(session, op_id)
        if _at(op, Step.POLL):
            fail(session, op, f"cannot follow job {job_id}: {exc.message}")
            session.commit()
        return Poll.DONE
    if job.get("status") not in FINAL_JOB_STATUSES and deadlines.is_past(op):
        return _stop_overdue(session, op_id, client, ctx)
    op = _load(session, op_id)
    if not _at(op, Step.POLL):
        return Poll.DONE  # an agent's event finished it meanwhile
    deadlines.start_clock(op, ctx.settings)
    server = op.server
    status = op.job_status = job.get("status")
    if status not in FINAL_JOB_STATUSES:
        server.backend_job_status = status
        # The limit counts failures in a row: a long job's scattered hiccups never add up to it.
        op.attempts = 0
        session.commit()
        return Poll.PENDING
    conclude(op, _ended(op.job_id, ACTIONS[op.kind].opcode, job))
    crash_point(ctx.settings, "poll.before_commit", op.id)
    session.commit()
    return Poll.DONE


def _stop_overdue(session: Session, op_id: int, client: RapiClient, ctx: Context) -> Poll:
    """Past its deadline with its job pending: cancel the job on its cluster.

    Ganeti cancels a queued job at once and a waiting one soon (canceling, then canceled:
    the next poll concludes it). A running job cannot be canceled: the operation fails now,
    the server shows what its cluster reports, and the job's own end, when Ganeti reports
    it, still applies by Ganeti's time (orchestrator.events)."""
    op = _peek(session, op_id)
    job_id = op.job_id
    try:
        accepted, message = client.cancel_job(job_id)
    except RapiUnavailable:
        raise
    except RapiError as exc:  # e.g. a job that ended meanwhile, or one the cluster lost
        accepted, message = False, exc.message
    try:
        job = client.job(job_id)
    except RapiNotFound as exc:
        return _job_vanished(session, op_id, job_id, client, ctx, exc)
    status = job.get("status")
    refused = status not in FINAL_JOB_STATUSES and not accepted and status != "canceling"
    inst = _instance_now(op, client, ctx) if refused else None  # read before the row lock is taken
    op = _load(session, op_id)
    if not _at(op, Step.POLL):
        return Poll.DONE
    why = deadlines.why_stopped(op, ctx.settings)
    if deadlines.STOPPING not in op.params:
        op.params = {**op.params, deadlines.STOPPING: {"why": why, "job_status": op.job_status}}
    if status in FINAL_JOB_STATUSES:
        conclude(op, _ended(job_id, ACTIONS[op.kind].opcode, job))
        session.commit()
        return Poll.DONE
    if not refused:
        op.job_status = status
        log.info("op=%s server=%s %s: canceling job=%s", op.id, op.server_id, why, job_id)
        session.commit()
        return Poll.PENDING
    fail(session, op, f"{why}: job {job_id} is {status} and Ganeti did not cancel it ({message}); "
                      "its end still applies when Ganeti reports it")
    op.job_status = status
    _settle(op.server, inst)
    session.commit()
    return Poll.DONE


def _instance_now(op: Operation, client: RapiClient, ctx: Context) -> dict | None:
    """The operation's instance as its cluster reports it, or None if it does not say."""
    try:
        return client.instance(op.server.instance_name(ctx.settings.backend_prefix_id))
    except RapiError as exc:
        log.info("op=%s server=%s: the cluster did not report the instance (%s)", op.id, op.server_id, exc.message)
        return None


def _settle(server, inst: dict | None) -> None:
    """A server whose operation failed with its job still running shows the state its
    cluster reported (a create that failed is ERROR already, see `fail`)."""
    if inst is None or server.operstate not in (OperState.STARTED.value, OperState.STOPPED.value):
        return
    actual = observed_operstate(inst)
    if actual is not None and actual != server.operstate:
        opcode = OP_STARTUP if actual == OperState.STARTED.value else OP_SHUTDOWN
        apply_job_report(server, JobReport.local(opcode, "success", log_msg=f"the instance is {inst.get('status')}"))


def _ended(job_id: int, opcode: str, job: dict) -> JobReport:
    """The report of a job that ended, from its RAPI answer."""
    status = job.get("status")
    error = None if status == "success" else job_error(job)
    return JobReport(job_id=job_id, opcode=opcode, status=status, timestamp=ganeti_time(job.get("end_ts")) or 0.0,
                     log_msg=error.message if error else None,
                     ecode=error.ecode if isinstance(error, JobFailed) else None)


def _job_vanished(session: Session, op_id: int, job_id: int, client: RapiClient, ctx: Context,
                  exc: RapiError) -> Poll:
    """The cluster no longer knows the job (archived, or its queue lost): a create whose
    instance carries this attempt's tag has run all the same; anything else is FAILED with the
    job recorded as vanished, and a retry submits a new job (operations.reopen)."""
    op = session.get(Operation, op_id, populate_existing=True)
    name = op.server.instance_name(ctx.settings.backend_prefix_id)
    found, exists = find_own_job(client, op, name)
    op = _load(session, op_id)
    if not _at(op, Step.POLL):
        return Poll.DONE
    if exists and found is not None and found != job_id:
        op.job_id = found  # the attempt's job after all, under another id: follow it
        session.commit()
        return Poll.PENDING
    if exists and found is None:
        conclude(op, JobReport(0, ACTIONS[op.kind].opcode, "success", utcnow().timestamp()))
        session.commit()
        log.info("op=%s server=%s job=%s vanished, its instance shows it ran", op.id, op.server_id, job_id)
        return Poll.DONE
    fail(session, op, f"cannot follow job {job_id}: {exc.message}")
    op.job_status = JOB_VANISHED
    session.commit()
    return Poll.DONE


def conclude(op: Operation, report: JobReport) -> None:
    """The operation's job ended: remember how, and hand over to finalize."""
    op.job_status = report.status
    op.error = None if report.status == "success" else (report.log_msg or f"job {report.status}")
    stopping = op.params.get(deadlines.STOPPING)
    if report.status == "canceled" and stopping:  # by the chain, at the deadline or an operator's word
        op.error = f"{stopping['why']}: Ganeti canceled job {report.job_id}, which was {stopping['job_status']}"
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
    if _network_kind(session, op_id):
        return netops.finalize(session, op_id, ctx)
    op = _load_for_write(session, op_id)  # SQLite's write lock first: a port's addresses may go back to a pool
    if not _at(op, Step.FINALIZE):
        session.commit()
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
    op = _load_for_write(session, op_id)
    op.attempts += 1
    op.error = message
    op.submit_lease_until = None  # a write that failed is over: the next try may send one
    session.commit()
    return op.attempts


def note_throttled(session: Session, op_id: int) -> None:
    """The step found no room in its backend's request budget: nothing was sent, so the claim
    to write is given back (the next try may send), and no attempt is counted: waiting for a
    budget is no failure of the cluster."""
    op = _load_for_write(session, op_id)
    op.submit_lease_until = None
    session.commit()


def poll_wait(settings, polls: int, agent_live: bool) -> float:
    """How long a job still running waits for its next poll: POLL_INTERVAL_S, doubled with each
    poll of it up to POLL_MAX_INTERVAL_S; the longest at once while its cluster's agent reports
    (its events end the operation, the polls only back them up)."""
    longest = settings.poll_longest_s
    if agent_live:
        return longest
    return min(settings.poll_interval_s * 2 ** min(polls, 32), longest)


def next_poll_in(session: Session, op_id: int, ctx: Context, polls: int) -> float:
    """`poll_wait` for this operation after `polls` polls of its job, never past its deadline
    (a job to cancel then is polled on time)."""
    op = _peek(session, op_id)
    settings = ctx.settings
    if op is None:
        return settings.poll_interval_s
    backend_id = op.backend_id if op.backend_id is not None else (op.server.backend_id if op.server else None)
    backend = session.get(Backend, backend_id) if backend_id is not None else None
    wait = poll_wait(settings, polls, agents.live(ctx.redis, backend.clustername if backend else None))
    if op.deadline_at is not None:
        until = (op.deadline_at - utcnow()).total_seconds()
        wait = min(wait, until + 0.01 if until > 0 else settings.poll_interval_s)
    return max(wait, 0.01)


def give_up(session: Session, op_id: int, message: str, task_id: str | None = None) -> None:
    op = _load(session, op_id)
    if not op.is_finished:
        fail(session, op, message)
        if task_id:  # so that a re-run of this task (not a redelivery of it) can resume it
            op.params = {**op.params, "failed_task": {"id": task_id, "step": op.step}}
        session.commit()


def rerun_reopens(session: Session, op_id: int, step: str, task_id: str | None, *,
                  quota_defaults=None) -> Operation | None:
    """The operation, reopened (flushed), when this task is an operator's re-run of the task
    that failed it: same step, another task id; otherwise None. Conflict when it cannot be."""
    from .operations import reopen

    op = session.get(Operation, op_id)
    failed = (op.params or {}).get("failed_task") if op is not None else None
    if not failed or op.status != OpStatus.FAILED.value or failed.get("step") != step or failed.get("id") == task_id:
        return None
    op = reopen(session, _load(session, op_id), quota_defaults=quota_defaults)
    op.params = {k: v for k, v in op.params.items() if k != "failed_task"}
    session.flush()
    return op
