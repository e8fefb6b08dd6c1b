"""What the operator console reads: paged, indexed queries over operations, servers,
backends and reconciliation runs, and the per-minute figures of its charts.

The console's actions call the other services (operations.retry, cancel, backends.modify,
refresh, reconciliation.run, servers.act); the one use case of its own is `retry_all`, which
is a loop over `operations.retry` for a filter.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..errors import DomainError
from ..models import IN_FLIGHT, Backend, Finding, Operation, ReconciliationRun, Server, utcnow
from . import operations as operation_services
from .context import Context

PAGE_MAX = 200


@dataclass
class Page:
    items: list[Any]
    offset: int
    limit: int
    more: bool  # one row past the page exists (no COUNT(*) over a million rows)


def _page(session: Session, query, offset: int, limit: int) -> Page:
    limit = max(1, min(int(limit), PAGE_MAX))
    offset = max(0, int(offset))
    rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
    return Page(rows[:limit], offset, limit, len(rows) > limit)


def needs_attention(ctx: Context, session: Session, *, kind: str | None = None, backend_id: int | None = None,
                    status: str | None = None, offset: int = 0, limit: int = 50) -> Page:
    """Newest first. Two branches, each on the status index (FAILED; in flight and late),
    united by id, so that neither scans the million SUCCEEDED rows."""
    now = utcnow()
    stalled_before = now - dt.timedelta(seconds=ctx.settings.operation_stall_s)
    failed = select(Operation.id).where(Operation.status == "FAILED")
    late = select(Operation.id).where(Operation.status.in_(IN_FLIGHT), or_(
        and_(Operation.deadline_at.is_not(None), Operation.deadline_at < now),
        func.coalesce(Operation.heartbeat_at, Operation.updated_at) < stalled_before))
    branches = []
    for branch, its_status in ((failed, "FAILED"), (late, None)):
        if status and (its_status or "") != status and not (its_status is None and status in IN_FLIGHT):
            continue
        if status and its_status is None:
            branch = branch.where(Operation.status == status)
        if kind:
            branch = branch.where(Operation.kind == kind)
        if backend_id:
            branch = branch.where(Operation.backend_id == backend_id)
        branches.append(branch)
    if not branches:
        return Page([], offset, limit, False)
    ids = branches[0].union_all(*branches[1:]).subquery() if len(branches) > 1 else branches[0].subquery()
    query = select(Operation).where(Operation.id.in_(select(ids.c.id))).order_by(Operation.id.desc())
    return _page(session, query, offset, limit)


def why_attention(ctx: Context, op: Operation, now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    if op.status == "FAILED":
        return "failed"
    if op.deadline_at is not None and op.deadline_at < now:
        return "past its deadline"
    return "stalled"


@dataclass
class RetryAll:
    retried: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def retry_all(ctx: Context, session: Session, who: Principal, *, kind: str | None = None,
              backend_id: int | None = None, limit: int = 100) -> RetryAll:
    """Retry every FAILED operation of a kind (and/or on a backend), at most `limit`, each
    through operations.retry (its own transaction); a refusal is reported, not raised."""
    query = select(Operation.id).where(Operation.status == "FAILED").order_by(Operation.id).limit(limit)
    if kind:
        query = query.where(Operation.kind == kind)
    if backend_id:
        query = query.where(Operation.backend_id == backend_id)
    result = RetryAll()
    for op_id in list(session.scalars(query)):
        try:
            operation_services.retry(ctx, session, who, op_id)
            result.retried.append(op_id)
        except DomainError as exc:
            session.rollback()
            result.refused[op_id] = exc.message
    return result


def search_servers(ctx: Context, session: Session, *, q: str | None = None, user_id: str | None = None,
                   backend_id: int | None = None, status: str | None = None, offset: int = 0,
                   limit: int = 50) -> Page:
    """By id (a number), name prefix, owner, backend, operstate; newest first."""
    query = select(Server).where(Server.deleted.is_(False)).order_by(Server.id.desc())
    if q:
        q = q.strip()
        if q.isdigit():
            query = query.where(or_(Server.id == int(q), Server.name == q))
        else:
            query = query.where(Server.name.like(q.replace("%", "").replace("_", r"\_") + "%", escape="\\"))
    if user_id:
        query = query.where(Server.user_id == user_id)
    if backend_id:
        query = query.where(Server.backend_id == backend_id)
    if status:
        query = query.where(Server.operstate == status)
    return _page(session, query, offset, limit)


def server_operations(ctx: Context, session: Session, server_id: int, *, offset: int = 0, limit: int = 20) -> Page:
    query = select(Operation).where(Operation.server_id == server_id).order_by(Operation.id.desc())
    return _page(session, query, offset, limit)


def backends_with_use(ctx: Context, session: Session) -> list[tuple[Backend, dict[str, int]]]:
    """Every backend and what the orchestrator has placed there (flavors of live servers are
    the 'reserved' share: a server counts as soon as it is allocated, before Ganeti reports)."""
    from ..models import Flavor

    rows = session.execute(
        select(Server.backend_id, func.count(), func.coalesce(func.sum(Flavor.ram), 0),
               func.coalesce(func.sum(Flavor.disk), 0), func.coalesce(func.sum(Flavor.cpu), 0))
        .join(Flavor, Flavor.id == Server.flavor_id)
        .where(Server.deleted.is_(False), Server.backend_id.is_not(None))
        .group_by(Server.backend_id)).all()
    use = {r[0]: {"servers": r[1], "ram": int(r[2]), "disk_gib": int(r[3]), "cpu": int(r[4])} for r in rows}
    backends = list(session.scalars(select(Backend).order_by(Backend.id)))
    return [(b, use.get(b.id, {"servers": 0, "ram": 0, "disk_gib": 0, "cpu": 0})) for b in backends]


def latest_runs(ctx: Context, session: Session, limit: int = 10) -> list[tuple[ReconciliationRun, dict[str, dict]]]:
    """The latest runs with their findings counted per kind: {kind: {"found", "fixed", "backends"}}."""
    runs = list(session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))
    counts: dict[int, dict[str, dict]] = {r.id: {} for r in runs}
    if runs:
        rows = session.execute(
            select(Finding.run_id, Finding.kind, Finding.backend_id, func.count(),
                   func.sum(case((Finding.fixed.is_(True), 1), else_=0)))
            .where(Finding.run_id.in_([r.id for r in runs]))
            .group_by(Finding.run_id, Finding.kind, Finding.backend_id)).all()
        for run_id, kind, backend_id, found, fixed in rows:
            entry = counts[run_id].setdefault(kind, {"found": 0, "fixed": 0, "backends": set()})
            entry["found"] += found
            entry["fixed"] += int(fixed or 0)
            if backend_id is not None:
                entry["backends"].add(backend_id)
    return [(r, counts[r.id]) for r in runs]


def run_findings(ctx: Context, session: Session, run_id: int, *, offset: int = 0, limit: int = 100) -> Page:
    query = select(Finding).where(Finding.run_id == run_id).order_by(Finding.id)
    return _page(session, query, offset, limit)


def _first_id_since(session: Session, since: dt.datetime) -> int:
    """The smallest operation id created at or after `since`, by bisecting the primary key
    (ids grow with time): about 20 point reads for a million rows, no index on created_at."""
    lo = session.scalar(select(func.min(Operation.id))) or 0
    hi = session.scalar(select(func.max(Operation.id))) or 0
    if not hi:
        return 0
    while lo < hi:
        mid = (lo + hi) // 2
        created = session.scalar(select(Operation.created_at).where(Operation.id >= mid)
                                 .order_by(Operation.id).limit(1))
        if created is None or created >= since:
            hi = mid
        else:
            lo = mid + 1
    return lo


_CHART_CACHE: dict[tuple, tuple[float, object]] = {}
CHART_CACHE_S = 15.0


def operations_per_minute(ctx: Context, session: Session, *, hours: float = 3,
                          now: dt.datetime | None = None) -> tuple[dt.datetime, list[dict[str, int]]]:
    """Operations that ended in each minute of the last `hours`, by outcome (SUCCEEDED,
    FAILED), from `finished_at`: the start of the window and one dict per minute. Counted in
    the database, grouped by minute, over the rows created since the window's start less the
    longest deadline only (a primary-key range); kept CHART_CACHE_S seconds in the process."""
    import time

    now = (now or utcnow()).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    minutes = int(hours * 60)
    start = now - dt.timedelta(minutes=minutes)
    key = (str(session.get_bind().url), start, minutes)
    cached = _CHART_CACHE.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    longest = max(ctx.settings.operation_deadline_s.values(), default=3600)
    first = _first_id_since(session, start - dt.timedelta(seconds=longest))
    if session.get_bind().dialect.name == "sqlite":
        minute = func.substr(Operation.finished_at, 1, 16)
    else:
        minute = func.to_char(func.timezone("UTC", Operation.finished_at), "YYYY-MM-DD HH24:MI")
    rows = session.execute(select(minute, Operation.status, func.count())
                           .where(Operation.id >= first, Operation.finished_at >= start,
                                  Operation.status.in_(("SUCCEEDED", "FAILED")))
                           .group_by(minute, Operation.status)).all()
    buckets = [{"SUCCEEDED": 0, "FAILED": 0} for _ in range(minutes)]
    for label, status, count in rows:
        when = dt.datetime.strptime(label.replace("T", " "), "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc)
        index = int((when - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index][status] += count
    result = (start, buckets)
    _CHART_CACHE.clear()
    _CHART_CACHE[key] = (time.monotonic() + CHART_CACHE_S, result)
    return result


def queue_lengths(ctx: Context) -> dict[str, int] | None:
    """The broker's queue lengths now, when the broker is Redis (LLEN of each queue's list);
    None when the broker is RabbitMQ or does not answer. Nothing records them over time."""
    import redis as redis_lib

    from ..wire import QUEUES

    url = ctx.settings.broker_url
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis_lib.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return {queue: int(client.llen(queue)) for queue in QUEUES}
    except redis_lib.RedisError:
        return None
