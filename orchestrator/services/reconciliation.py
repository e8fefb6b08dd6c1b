"""Reconciliation: a run now (an operator's or the beat's), and the runs recorded."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import reconciliation
from ..errors import NotFound
from ..models import Backend, ReconciliationRun
from .context import Context


def run(ctx: Context, session: Session, *, fixes: frozenset[str] | None = None, backend_id: int | None = None,
        staggered: bool = False, trigger: str = "cli") -> ReconciliationRun:
    """One run over every backend (or the one given), each under its Redis lock.

    `fixes` None means RECONCILIATION_FIXES; `staggered` checks only this interval's share
    of each backend's servers (the beat's runs)."""
    settings = ctx.settings
    query = select(Backend).order_by(Backend.id)
    if backend_id is not None:
        query = query.where(Backend.id == backend_id)
    selected = session.scalars(query).all()
    if backend_id is not None and not selected:
        raise NotFound(f"backend {backend_id} does not exist")
    options = reconciliation.Options.of(
        settings, fixes=settings.reconciliation_fixes if fixes is None else fixes,
        interval_min=settings.reconciliation_interval_min if staggered else None)
    return reconciliation.reconcile(session, selected, ctx.cluster, options, trigger=trigger,
                                    lock=reconciliation.redis_lock(ctx.redis))


def list_runs(ctx: Context, session: Session, limit: int = 100) -> list[ReconciliationRun]:
    """The latest runs, newest first."""
    return list(session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))


def get_run(ctx: Context, session: Session, run_id: int) -> ReconciliationRun:
    found = session.get(ReconciliationRun, run_id)
    if found is None:
        raise NotFound(f"reconciliation run {run_id} not found")
    return found
