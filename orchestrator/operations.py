"""Reading operations and retrying failed ones, for the API, the CLI and Flower."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import deadlines
from .actions import ACTIONS
from .db import write_lock
from .errors import Conflict, NotFound
from .ganeti import JOB_VANISHED, OP_CREATE
from .models import IN_FLIGHT, Operation, OpStatus, Step, utcnow
from .network import attach
from .network import operations as netops
from .quotas import commission as quota
from .servers import in_flight, lock_server
from .state import JobReport, apply_job_report

# What poll wrote of a job its cluster answered 404 for, before it recorded JOB_VANISHED.
_VANISHED_BEFORE = re.compile(r"cannot follow job \d+: GET \S+: 404 ")


def get_operation(session: Session, op_id: int, *, user_id: str, admin: bool) -> Operation:
    op = session.get(Operation, op_id)
    if op is None or not (admin or op.user_id == user_id):
        raise NotFound(f"operation {op_id} not found")
    return op


def reopen(session: Session, op: Operation, *, quota_defaults: Mapping[str, int | None] | None = None) -> Operation:
    """Make a FAILED operation resume where it can succeed (flushed, not committed).

    One request reopens it: the change from FAILED is a conditional UPDATE, so of retries
    racing on one operation exactly one wins and the others get a Conflict, on SQLite and
    PostgreSQL alike (and the server's lock, `servers.lock_server`, orders it with the other
    requests about the server). Each reopen is a new attempt: `generation` goes up by one,
    and the jobs it sends carry a reason of their own, so that no replay of it ever takes a
    job of an earlier attempt for its own.

    A Ganeti job that failed created nothing, and a job its cluster lost can no longer be
    followed: the operation goes back to submit a new job. Any other failure resumes at its
    own step. A reboot or resize shows its task (REBOOT, RESIZE) again while it runs.

    A start or resize reserves its growth again, checked against the owner's quota
    (`quota_defaults`: the deployment's limits; OverLimit refuses the retry): the failed
    attempt gave its reservation back.
    """
    server = _check_reopenable(session, op)
    _claim_reopen(session, op)
    if op.job_status in ("error", "canceled") or op.step == Step.FINALIZE.value or _job_vanished(op):
        op.step = Step.SUBMIT.value if op.kind != "create" or op.backend_id else Step.ALLOCATE.value
        op.job_id = None
        op.job_status = None
    if op.step in (Step.ALLOCATE.value, Step.SUBMIT.value):
        # A new attempt has sent nothing yet: no replay marker, no claim of an earlier one.
        op.submit_started_at = None
    op.submit_lease_until = None
    op.attempts = 0
    op.redrives = 0
    op.deadline_at = None  # a new attempt: its clock starts when its first step runs
    op.params = {k: v for k, v in op.params.items() if k not in (deadlines.CANCEL, deadlines.STOPPING)}
    op.finished_at = None
    op.heartbeat_at = utcnow()
    if op.is_network:
        netops.reopened(session, op)
    elif server is not None:
        attach.reopened(session, op)
        _show_in_flight(server, op)
        quota.reserve_on_reopen(session, op, server, defaults=quota_defaults or {})
    session.flush()
    return op


def cancel(session: Session, op: Operation, by: str) -> Operation:
    """Stop an operation in flight as at its deadline (flushed, not committed): its chain
    cancels its Ganeti job, or fails it if nothing was sent yet (orchestrator.deadlines).
    Asking again changes nothing but the record of who asked."""
    if op.server is not None:
        lock_server(session, op.server)
    else:
        write_lock(session)
    session.refresh(op)
    if op.is_finished:
        raise Conflict(f"operation {op.id} is {op.status}; only operations in flight can be canceled")
    if op.step == Step.FINALIZE.value:
        raise Conflict(f"operation {op.id}'s job has ended ({op.job_status}); it is being finalized")
    deadlines.request_cancel(op, by)
    op.heartbeat_at = utcnow()
    session.flush()
    return op


def _check_reopenable(session: Session, op: Operation):
    """Under the server's lock, re-read: the operation's server, or a Conflict saying why not."""
    server = op.server
    if server is not None:
        server = lock_server(session, server)
    else:
        write_lock(session)
    session.refresh(op)
    if op.status != OpStatus.FAILED.value:
        raise Conflict(f"operation {op.id} is {op.status}; only FAILED operations can be retried")
    if op.step == Step.DONE.value:
        raise Conflict(f"operation {op.id} was superseded and cannot be retried")
    if server is not None and server.deleted and op.kind != "destroy":
        raise Conflict(f"server {server.id} is deleted")
    other = in_flight(session, op.server_id) if op.server_id else None
    if other is not None and other.id != op.id:
        raise Conflict(f"operation {other.id} ({other.kind}) is in flight for this server")
    return server


def _show_in_flight(server, op: Operation) -> None:
    action = ACTIONS.get(op.kind)
    if action is not None and action.task:
        server.task = action.task  # as request_action set it: the API shows REBOOT or RESIZE again
    if op.kind == "create":
        apply_job_report(server, JobReport.local(OP_CREATE, "queued"))  # an ERROR server builds again


def _claim_reopen(session: Session, op: Operation) -> None:
    """FAILED → PENDING and the next generation, only if it still is FAILED; else a Conflict.

    The one-in-flight-per-server index refuses it too when another operation of the server
    got in flight meanwhile."""
    try:
        with session.begin_nested():
            result = session.execute(
                update(Operation)
                .where(Operation.id == op.id, Operation.status == OpStatus.FAILED.value,
                       Operation.step != Step.DONE.value)
                .values(status=OpStatus.PENDING.value, generation=Operation.generation + 1, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        if op.is_network:
            raise Conflict(f"another operation is in flight for network {op.network_id} on backend "
                           f"{op.backend_id}") from None
        current = in_flight(session, op.server_id) if op.server_id else None
        raise Conflict(f"operation {current.id if current else '?'} ({current.kind if current else 'unknown'}) "
                       "is in flight for this server") from None
    if result.rowcount != 1:
        session.refresh(op)
        raise Conflict(f"operation {op.id} is {op.status}; only FAILED operations can be retried")
    session.refresh(op)


def _job_vanished(op: Operation) -> bool:
    """Its cluster no longer knows the job the operation was following."""
    return op.step == Step.POLL.value and (
        op.job_status == JOB_VANISHED or bool(_VANISHED_BEFORE.match(op.error or "")))


MAX_BACKOFF_DOUBLINGS = 6


def stalled(session: Session, older_than_s: float, now: dt.datetime | None = None) -> list[Operation]:
    """In-flight operations whose chain has not touched them for `older_than_s` seconds,
    doubled for every time recovery already re-drove them (at most 64 times as long)."""
    now = now or utcnow()
    ops = session.scalars(select(Operation).where(Operation.status.in_(IN_FLIGHT)).order_by(Operation.id)).all()
    result = []
    for op in ops:
        seen = op.heartbeat_at or op.updated_at or op.created_at
        wait = older_than_s * 2 ** min(op.redrives or 0, MAX_BACKOFF_DOUBLINGS)
        if seen < now - dt.timedelta(seconds=wait):
            result.append(op)
    return result


def claim_stalled(session: Session, older_than_s: float, now: dt.datetime | None = None) -> list[int]:
    """The stalled operations, each stamped as seen now and counted (committed).

    A queued chain looks stalled as much as a lost one, so a re-drive must not feed a backlog:
    after a broker outage, or behind a long queue, each operation gets one new chain per
    period and the period doubles each time, instead of a new chain at every beat tick.
    """
    now = now or utcnow()
    ops = stalled(session, older_than_s, now)
    for op in ops:
        op.heartbeat_at = now
        op.redrives = (op.redrives or 0) + 1
    session.commit()
    return [op.id for op in ops]
