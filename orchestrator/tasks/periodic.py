"""Beat-scheduled work."""
from __future__ import annotations

from sqlalchemy import select

from .. import backends
from ..celery_app import app
from ..db import session_scope
from ..models import Backend


@app.task(name="orchestrator.periodic.refresh_backend_stats")
def refresh_backend_stats() -> dict[str, bool]:
    """One bulk nodes call per backend; returns which backends answered (an operator's
    offline backends are left alone)."""
    answered: dict[str, bool] = {}
    with session_scope() as session:
        for backend in session.scalars(select(Backend).order_by(Backend.id)):
            client = backends.periodic_refresh_client(backend)
            if client is None:
                continue
            answered[backend.clustername] = backends.refresh_stats(session, backend, client)
            session.commit()
    return answered


@app.task(name="orchestrator.periodic.recover_operations")
def recover_operations() -> list[int]:
    """Re-drive in-flight operations whose chain stopped moving (e.g. a broker lost it).

    Steps are idempotent, so a chain that was merely slow is harmless to send again.
    """
    from ..operations import claim_stalled
    from ..settings import get_settings
    from .ops import enqueue

    with session_scope() as session:
        ids = claim_stalled(session, get_settings().operation_stall_s)
    for op_id in ids:
        enqueue(op_id)
    return ids


@app.task(name="orchestrator.periodic.reconcile_servers")
def reconcile_servers(fixes: list[str] | None = None, backend_id: int | None = None, staggered: bool = True) -> dict:
    """A staggered pass over every backend, each under its Redis lock; fixes as configured."""
    from .. import reconciliation
    from ..settings import get_settings

    settings = get_settings()
    options = reconciliation.Options(
        fixes=frozenset(fixes) if fixes is not None else settings.reconciliation_fixes,
        interval_min=settings.reconciliation_interval_min if staggered else None,
    )
    with session_scope() as session:
        query = select(Backend).order_by(Backend.id)
        if backend_id is not None:
            query = query.where(Backend.id == backend_id)
        run = reconciliation.reconcile(session, session.scalars(query).all(), backends.cluster_client, options,
                                       lock=reconciliation.redis_lock)
        return {"run": run.id, "servers_checked": run.servers_checked, "findings": len(run.findings)}
