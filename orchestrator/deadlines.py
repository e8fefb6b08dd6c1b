"""Operation deadlines: no attempt waits on Ganeti forever.

Each attempt of an operation has a deadline (OPERATION_DEADLINE_S, by kind), counted from
the first step that runs it; a retry is a new attempt with a new deadline. Past it, the
chain stops waiting: an operation not sent yet fails, and a job still pending is canceled
on its cluster (orchestrator.steps). An operator's cancel is the same path with the
deadline brought to now, so there is one way an operation stops early.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import IN_FLIGHT, Operation, utcnow
from .settings import Settings

CANCEL = "cancel"  # params: who canceled it, and when
STOPPING = "stopping"  # params: why its job was canceled, and the job's status then


def start_clock(op: Operation, settings: Settings, now: dt.datetime | None = None) -> None:
    """The attempt's deadline, from the first step that runs it."""
    if op.deadline_at is None:
        op.deadline_at = (now or utcnow()) + dt.timedelta(seconds=settings.deadline_s(op.kind))


def is_past(op: Operation, now: dt.datetime | None = None) -> bool:
    return op.deadline_at is not None and op.deadline_at <= (now or utcnow())


def why_stopped(op: Operation, settings: Settings) -> str:
    """The start of the error an operation stopped early fails with."""
    canceled = (op.params or {}).get(CANCEL)
    if canceled:
        return f"canceled by {canceled.get('by') or 'an operator'}"
    return f"past its deadline ({settings.deadline_s(op.kind):g} s for a {op.kind}, OPERATION_DEADLINE_S)"


def request_cancel(op: Operation, by: str, now: dt.datetime | None = None) -> None:
    """Stop the operation as if its deadline were now; its chain (re-driven) does the rest."""
    now = now or utcnow()
    op.params = {**(op.params or {}), CANCEL: {"by": by, "at": now.isoformat()}}
    op.deadline_at = min(op.deadline_at, now) if op.deadline_at is not None else now


def overdue(session: Session, now: dt.datetime | None = None) -> list[Operation]:
    """Operations in flight past their deadline, oldest deadline first."""
    return list(session.scalars(
        select(Operation).where(Operation.status.in_(IN_FLIGHT), Operation.deadline_at <= (now or utcnow()))
        .order_by(Operation.deadline_at)))
