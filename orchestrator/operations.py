"""Reading operations and retrying failed ones, for the API, the CLI and Flower."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict, NotFound
from .models import IN_FLIGHT, Operation, OperState, OpStatus, Step, utcnow
from .servers import in_flight


def get_operation(session: Session, op_id: int, *, user_id: str, admin: bool) -> Operation:
    op = session.get(Operation, op_id)
    if op is None or not (admin or op.user_id == user_id):
        raise NotFound(f"operation {op_id} not found")
    return op


def list_operations(
    session: Session, *, user_id: str, admin: bool, status: str | None = None, kind: str | None = None,
    server_id: int | None = None, limit: int = 100,
) -> list[Operation]:
    query = select(Operation).order_by(Operation.id.desc()).limit(limit)
    if not admin:
        query = query.where(Operation.user_id == user_id)
    if status:
        query = query.where(Operation.status == status)
    if kind:
        query = query.where(Operation.kind == kind)
    if server_id is not None:
        query = query.where(Operation.server_id == server_id)
    return list(session.scalars(query))


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
    op.finished_at = None
    if op.kind == "create" and server is not None and server.operstate == OperState.ERROR.value:
        server.operstate = OperState.BUILD.value
    session.flush()
    return op


def stalled(session: Session, older_than_s: float, now: dt.datetime | None = None) -> list[Operation]:
    """In-flight operations whose chain has not touched them for `older_than_s` seconds."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=older_than_s)
    ops = session.scalars(select(Operation).where(Operation.status.in_(IN_FLIGHT))).all()
    result = []
    for op in ops:
        seen = op.heartbeat_at or op.updated_at or op.created_at
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=dt.timezone.utc)
        if seen < cutoff:
            result.append(op)
    return result
