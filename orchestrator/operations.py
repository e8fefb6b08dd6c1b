"""Reading operations and retrying failed ones, for the API, the CLI and Flower."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict, NotFound
from .ganeti import OP_CREATE
from .models import IN_FLIGHT, Operation, OpStatus, Step, utcnow
from .servers import in_flight
from .state import JobReport, apply_job_report


def get_operation(session: Session, op_id: int, *, user_id: str, admin: bool) -> Operation:
    op = session.get(Operation, op_id)
    if op is None or not (admin or op.user_id == user_id):
        raise NotFound(f"operation {op_id} not found")
    return op


def reopen(session: Session, op: Operation) -> Operation:
    """Make a FAILED operation resume at the step that failed (flushed, not committed).

    A Ganeti job that failed created nothing, so its operation goes back to submit a
    new job; any other failure resumes at its own step.
    """
    if op.status != OpStatus.FAILED.value:
        raise Conflict(f"operation {op.id} is {op.status}; only FAILED operations can be retried")
    if op.step == Step.DONE.value:
        raise Conflict(f"operation {op.id} was superseded and cannot be retried")
    server = op.server
    if server is not None and server.deleted and op.kind != "destroy":
        raise Conflict(f"server {server.id} is deleted")
    other = in_flight(session, op.server_id) if op.server_id else None
    if other is not None:
        raise Conflict(f"operation {other.id} ({other.kind}) is in flight for this server")
    if op.job_status in ("error", "canceled") or op.step == Step.FINALIZE.value:
        op.step = Step.SUBMIT.value if op.kind != "create" or op.backend_id else Step.ALLOCATE.value
        op.job_id = None
        op.job_status = None
        op.submit_started_at = None
    op.status = OpStatus.PENDING.value
    op.attempts = 0
    op.redrives = 0
    op.finished_at = None
    if op.kind == "create" and server is not None:
        apply_job_report(server, JobReport.local(OP_CREATE, "queued"))  # an ERROR server builds again
    session.flush()
    return op


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
