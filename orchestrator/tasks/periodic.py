"""Beat-scheduled work."""
from __future__ import annotations

from sqlalchemy import select

from .. import backends
from ..celery_app import app
from ..db import session_scope
from ..models import Backend


@app.task(name="orchestrator.periodic.refresh_backend_stats")
def refresh_backend_stats() -> dict[str, bool]:
    """One bulk nodes call per backend; returns which backends answered."""
    answered: dict[str, bool] = {}
    with session_scope() as session:
        for backend in session.scalars(select(Backend).order_by(Backend.id)):
            answered[backend.clustername] = backends.refresh_stats(
                session, backend, backends.cluster_client(backend)
            )
            session.commit()
    return answered


@app.task(name="orchestrator.periodic.recover_operations")
def recover_operations() -> list[int]:
    """Re-drive in-flight operations whose chain stopped moving (e.g. a broker lost it).

    Steps are idempotent, so a chain that was merely slow is harmless to send again.
    """
    from ..operations import stalled
    from ..settings import get_settings
    from .ops import enqueue

    with session_scope() as session:
        ids = [op.id for op in stalled(session, get_settings().operation_stall_s)]
    for op_id in ids:
        enqueue(op_id)
    return ids
