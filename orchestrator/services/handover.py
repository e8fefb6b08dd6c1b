"""The one place an operation is handed to the dispatcher, after its commit."""
from __future__ import annotations

import logging

from ..models import Operation
from .context import Context

log = logging.getLogger(__name__)


def run(ctx: Context, op: Operation) -> bool:
    """Dispatch a committed operation; False when the broker did not take it.

    The operation is already durable and PENDING, so a broker outage loses nothing: the
    caller still answers with the operation, and recovery re-drives it (OPERATION_STALL_S).
    """
    if op.is_finished:
        return True
    try:
        ctx.dispatcher.run_operation(op.id, op.generation)
    except Exception as exc:  # any failure to publish: the row is committed, recovery has it
        log.warning("op=%s server=%s could not be dispatched (%s: %s); recovery will re-drive it",
                    op.id, op.server_id, type(exc).__name__, exc)
        return False
    return True
