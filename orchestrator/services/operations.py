"""Operations: reading them, retrying what failed, and re-driving what stopped moving."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from .. import operations, queries, steps
from ..auth import Principal
from ..errors import Conflict, Forbidden
from ..models import Operation
from . import handover
from .context import Context

log = logging.getLogger(__name__)


def list_operations(ctx: Context, session: Session, who: Principal, **filters) -> list[Operation]:
    """Newest first; a user only ever sees their own (queries.OPERATION_FILTERS)."""
    return queries.search_operations(session, user_id=who.user_id, admin=who.admin, **filters)


def get(ctx: Context, session: Session, who: Principal, op_id: int) -> Operation:
    return operations.get_operation(session, op_id, user_id=who.user_id, admin=who.admin)


def retry(ctx: Context, session: Session, who: Principal, op_id: int) -> Operation:
    """Resume a FAILED operation at the step that failed: reopened, committed, dispatched."""
    op = get(ctx, session, who, op_id)
    operations.reopen(session, op, quota_defaults=ctx.settings.quota_defaults)
    session.commit()
    handover.run(ctx, op)
    return op


def cancel(ctx: Context, session: Session, who: Principal, op_id: int) -> Operation:
    """An operator stops an operation in flight: committed, then its chain is driven again
    (steps are idempotent) so that the cancel takes effect now, even if its chain stopped."""
    op = get(ctx, session, who, op_id)
    if not who.admin:
        raise Forbidden("only administrators may cancel operations")
    operations.cancel(session, op, who.user_id)
    session.commit()
    handover.run(ctx, op)
    return op


def resume_rerun(ctx: Context, session: Session, op_id: int, step: str, task_id: str | None) -> bool:
    """A task re-run by an operator (Flower's apply) reopens its FAILED operation and runs
    its chain again; True when it did (the re-run itself then stops). In the step's own
    session: one checkout per step, not two (on PostgreSQL each checkout is a ping)."""
    try:
        op = steps.rerun_reopens(session, op_id, step, task_id, quota_defaults=ctx.settings.quota_defaults)
    except Conflict as exc:
        session.rollback()
        log.warning("op=%s re-run not resumed: %s", op_id, exc.message)
        return False
    if op is None:
        return False
    session.commit()
    handover.run(ctx, op)
    return True


def recover(ctx: Context) -> list[int]:
    """Re-drive in-flight operations whose chain stopped moving; steps are idempotent, so a
    chain that was merely slow is harmless to send again."""
    with ctx.session() as session:
        ids = operations.claim_stalled(session, ctx.settings.operation_stall_s)
        for op_id in ids:
            handover.run(ctx, session.get(Operation, op_id))
    return ids
