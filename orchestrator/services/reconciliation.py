"""Reconciliation: a run now (an operator's or the beat's), and the runs recorded."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import reconciliation
from ..errors import Conflict, Invalid, NotFound
from ..models import Backend, Finding, Network, ReconciliationRun, Subnet
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


SERVER_FIXES = ("stale", "orphan", "state", "flavor", "nics", "build")  # the kinds a servers' run can fix


def fix_finding(ctx: Context, session: Session, finding_id: int, *, trigger: str = "cli") -> tuple[ReconciliationRun,
                                                                                                   Finding | None]:
    """Apply one finding's fix, and no other: a new run on the finding's backend that checks
    only the finding's server (or orphan instance) again, with only the finding's kind fixed,
    so what is fixed is what the cluster shows now, through the same checks as every run.
    The new run and its finding of that kind for that server (None: it is no longer there,
    or the backend's lock was held by another run: the run's backends_skipped says). The
    original finding is marked fixed, naming the run, when the new one was."""
    found = session.get(Finding, finding_id)
    if found is None:
        raise NotFound(f"reconciliation finding {finding_id} not found")
    if found.kind not in SERVER_FIXES:
        raise Invalid(f"no fix for a {found.kind!r} finding: one of {', '.join(SERVER_FIXES)}", field="finding_id")
    if found.fixed:
        raise Conflict(f"finding {finding_id} is already fixed ({found.fix})")
    if found.backend_id is None or found.server_id is None:
        raise Conflict(f"finding {finding_id} names no backend and server to check again")
    settings = ctx.settings
    backend = session.get(Backend, found.backend_id)
    if backend is None:
        raise NotFound(f"backend {found.backend_id} does not exist")
    options = reconciliation.Options.of(settings, fixes=frozenset({found.kind}), only=frozenset({found.server_id}))
    run = reconciliation.reconcile(session, [backend], ctx.cluster, options, trigger=trigger,
                                   lock=reconciliation.redis_lock(ctx.redis))
    again = session.scalar(select(Finding).where(Finding.run_id == run.id, Finding.kind == found.kind,
                                                 Finding.server_id == found.server_id).limit(1))
    if again is not None and again.fixed:
        original = session.get(Finding, finding_id, populate_existing=True)
        original.fixed, original.fix = True, f"in run {run.id}: {again.fix}"[:1000]
        session.commit()
    return run, again


def list_runs(ctx: Context, session: Session, limit: int = 100) -> list[ReconciliationRun]:
    """The latest runs, newest first."""
    return list(session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))


def get_run(ctx: Context, session: Session, run_id: int) -> ReconciliationRun:
    found = session.get(ReconciliationRun, run_id)
    if found is None:
        raise NotFound(f"reconciliation run {run_id} not found")
    return found


# -- networks and pools -----------------------------------------------------------------------

NETWORK_CURSOR = "reconcile:networks:cursor"  # Redis: the last network id a staggered run reached
POOL_CURSOR = "reconcile:pools:cursor"  # Redis: the last subnet id a staggered run reached
NETWORK_LOCK = "reconcile:networks:backend:{id}"
POOL_LOCK = "reconcile:pools"


def run_networks(ctx: Context, session: Session, *, fixes: frozenset[str] | None = None,
                 backend_id: int | None = None, staggered: bool = False, trigger: str = "cli") -> ReconciliationRun:
    """Every network on every online backend (or the one given), each backend under its own
    Redis lock (not the servers' run's). `fixes` None means RECONCILIATION_NETWORK_FIXES;
    `staggered` checks only this interval's window of network ids (the beat's runs), so that
    every network is checked within RECONCILIATION_MIN. The fixes' operations are handed over
    after each backend's commit."""
    from ..reconciliation.networks import NetworkOptions, reconcile_networks
    from . import handover

    settings = ctx.settings
    selected = _backends(session, backend_id)
    window, following = (_window(ctx, session, NETWORK_CURSOR, Network.id, Network.deleted.is_(False))
                         if staggered else (None, None))
    options = NetworkOptions(prefix=settings.backend_prefix_id,
                             fixes=settings.reconciliation_network_fixes if fixes is None else fixes,
                             window=window, hand_over=lambda op: handover.run(ctx, op))
    run = reconcile_networks(session, selected, ctx.cluster, options, trigger=_trigger(trigger, "networks"),
                             lock=reconciliation.redis_lock(ctx.redis, key=NETWORK_LOCK))
    if staggered:
        ctx.redis.set(NETWORK_CURSOR, following)
    return run


def run_pools(ctx: Context, session: Session, *, fixes: frozenset[str] | None = None, staggered: bool = False,
              trigger: str = "cli") -> ReconciliationRun | None:
    """The bridge and MAC-prefix pools and every IPv4 subnet's pool (`staggered`: a window of
    subnets), under one Redis lock; None when another pool run holds it. `fixes` None means
    RECONCILIATION_POOL_FIXES."""
    from ..reconciliation.pools import PoolOptions, reconcile_pools

    settings = ctx.settings
    guard = ctx.redis.lock(POOL_LOCK, timeout=900, blocking=False)
    if not guard.acquire():
        return None
    try:
        window, following = (_window(ctx, session, POOL_CURSOR, Subnet.id,
                                     Subnet.deleted.is_(False) & Subnet.pool_id.is_not(None))
                             if staggered else (None, None))
        options = PoolOptions(fixes=settings.reconciliation_pool_fixes if fixes is None else fixes, window=window,
                              prefix=settings.backend_prefix_id)
        run = reconcile_pools(session, options, trigger=_trigger(trigger, "pools"))
        if staggered:
            ctx.redis.set(POOL_CURSOR, following)
        return run
    finally:
        try:
            guard.release()
        except Exception:  # expired meanwhile: nothing to free
            pass


def _trigger(trigger: str, scope: str) -> str:
    """A run's trigger names what it checked (`cli:networks`, `beat:pools`): the runs share a table."""
    return f"{trigger}:{scope}"[:16]


def _backends(session: Session, backend_id: int | None) -> list[Backend]:
    query = select(Backend).order_by(Backend.id)
    if backend_id is not None:
        query = query.where(Backend.id == backend_id)
    selected = list(session.scalars(query))
    if backend_id is not None and not selected:
        raise NotFound(f"backend {backend_id} does not exist")
    return selected


def _window(ctx: Context, session: Session, key: str, column, live) -> tuple[tuple[int, int | None], int]:
    """The ids a staggered run checks, (lo, hi], from the cursor in Redis: the next
    batch_size(live rows) live ids, or up to the end (and the cursor back to 0), so a cycle
    is at most RECONCILIATION_MIN / interval runs. Every id, live or not (orphans are found
    by id too), falls in one window per cycle."""
    settings = ctx.settings
    try:
        lo = int(ctx.redis.get(key) or 0)
    except ValueError:
        lo = 0
    total = session.scalar(select(func.count()).select_from(column.class_).where(live)) or 0
    batch = reconciliation.batch_size(total, settings.reconciliation_min, settings.reconciliation_interval_min)
    hi = session.scalar(select(column).where(live, column > lo).order_by(column).offset(max(batch - 1, 0)).limit(1))
    if hi is None or session.scalar(select(column).where(live, column > hi).limit(1)) is None:
        return (lo, None), 0  # the last window of the cycle: up to the end, ids past the last live one too
    return (lo, hi), hi
