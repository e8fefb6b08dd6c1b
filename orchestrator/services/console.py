"""What the operator console reads: paged, indexed queries over operations, servers,
backends and reconciliation runs, and the figures of its charts: a per-minute rollup of the
operations that ended (folded by the beat) and the queues' sampled lengths.

The console's actions call the other services (operations.retry, cancel, backends.modify,
refresh, reconciliation.run, servers.act); the one use case of its own is `retry_all`, which
is a loop over `operations.retry` for a filter.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from .. import dispatch
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


def current_task_id(op: Operation) -> str | None:
    """The Celery task id of the step the operation is at (its last, finalize, once done),
    as the dispatcher derives it for the operation's attempt (dispatch.task_ids)."""
    step = "finalize" if op.step == "done" else op.step
    return dispatch.task_ids(op.id, op.generation).get(step)


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


ROLLUP = "operation_minutes"  # its RollupMark's name
OUTCOMES = ("SUCCEEDED", "FAILED")
FOLD_LAG_S = 60  # a minute is folded once it closed this long ago (an end commits after its finished_at)
REFOLD_MIN = 5  # every fold counts again the last minutes it folded: an end that committed late is caught
FOLD_MAX_H = 24  # at most this much at once (a beat that was down a day folds it in a day's steps)
CHART_HOURS = 3


def _minute_of(column, dialect: str):
    """A finish time's minute as 'YYYY-MM-DD HH:MM', in the database."""
    if dialect == "sqlite":
        return func.substr(column, 1, 16)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI")


def _parse_minute(label: str) -> dt.datetime:
    return dt.datetime.strptime(label.replace("T", " "), "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc)


def _floor(when: dt.datetime) -> dt.datetime:
    return when.replace(second=0, microsecond=0)


def _ended(session: Session, since: dt.datetime, until: dt.datetime | None, by_kind: bool) -> list[tuple]:
    """(minute, [kind,] outcome, count) of the operations that ended in [since, until), read
    through the index on finished_at: only that window's rows."""
    minute = _minute_of(Operation.finished_at, session.get_bind().dialect.name)
    columns = (minute, Operation.kind, Operation.status) if by_kind else (minute, Operation.status)
    # No condition on status in SQL: a planner would take the status index (most rows are
    # SUCCEEDED) over finished_at's. Only ended operations have a finish time anyway.
    query = select(*columns, func.count()).where(Operation.finished_at >= since).group_by(*columns)
    if until is not None:
        query = query.where(Operation.finished_at < until)
    return [(_parse_minute(row[0]), *row[1:]) for row in session.execute(query) if row[-2] in OUTCOMES]


def fold_minutes(ctx: Context, session: Session, *, now: dt.datetime | None = None) -> int:
    """Fold the minutes closed since the last fold into operation_minutes; how many minutes.

    The beat's task, every minute. Each fold counts, from the operations through the index on
    finished_at, every minute from REFOLD_MIN before the mark (the first fold: the chart's
    window) to the last minute closed FOLD_LAG_S ago, and replaces those minutes' rows (delete,
    insert) in one transaction under the mark's lock: a re-run, or two folds at once, write the
    same counts, and an end that committed a little after its finish time is counted at the
    next fold. A rollup written as operations end would put a write on every chain's last step
    and a hot row per minute; this costs one indexed read a minute, off the request paths."""
    from ..db import write_lock
    from ..models import OperationMinute, RollupMark

    now = now or utcnow()
    closed = _floor(now - dt.timedelta(seconds=FOLD_LAG_S))
    write_lock(session)
    mark = session.get(RollupMark, ROLLUP, with_for_update=True)
    since = (mark.until - dt.timedelta(minutes=REFOLD_MIN)) if mark else \
        closed - dt.timedelta(hours=CHART_HOURS)
    until = min(closed, since + dt.timedelta(hours=FOLD_MAX_H))
    if since >= until:
        session.rollback()
        return 0
    rows = _ended(session, since, until, by_kind=True)
    session.execute(delete(OperationMinute).where(OperationMinute.minute >= since, OperationMinute.minute < until))
    if rows:
        session.execute(insert(OperationMinute), [{"minute": m, "kind": k, "outcome": o, "count": c}
                                                  for m, k, o, c in rows])
    if mark is None:
        session.add(RollupMark(name=ROLLUP, until=until))
    elif until > mark.until:
        mark.until = until
    session.commit()
    return int((until - since).total_seconds() // 60)


def operations_per_minute(ctx: Context, session: Session, *, hours: float = CHART_HOURS,
                          now: dt.datetime | None = None) -> tuple[dt.datetime, list[dict[str, int]]]:
    """Operations that ended in each minute of the last `hours`, by outcome (SUCCEEDED,
    FAILED): the start of the window and one dict per minute. The folded minutes come from
    operation_minutes (a few rows a minute); the minutes since the last fold (one or two
    when the beat runs) are counted live from the operations, through the finished_at index."""
    from ..models import OperationMinute, RollupMark

    end = _floor(now or utcnow()) + dt.timedelta(minutes=1)
    minutes = int(hours * 60)
    start = end - dt.timedelta(minutes=minutes)
    mark = session.get(RollupMark, ROLLUP)
    live_from = max(start, min(mark.until, end)) if mark else start
    counted = list(session.execute(
        select(OperationMinute.minute, OperationMinute.outcome, func.sum(OperationMinute.count))
        .where(OperationMinute.minute >= start, OperationMinute.minute < live_from)
        .group_by(OperationMinute.minute, OperationMinute.outcome))) if live_from > start else []
    counted += _ended(session, live_from, None, by_kind=False)
    buckets = [{"SUCCEEDED": 0, "FAILED": 0} for _ in range(minutes)]
    for when, outcome, count in counted:
        index = int((when - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index][outcome] += int(count)
    return start, buckets


QUEUE_HISTORY_H = 24  # samples older than this are deleted as new ones are written


def record_queue_lengths(ctx: Context, session: Session, lengths: dict[str, int], *,
                         at: dt.datetime | None = None) -> None:
    """One sample of every queue's length (the beat's task measures them on the broker), and
    the history bounded to QUEUE_HISTORY_H."""
    from ..models import QueueSample

    at = at or utcnow()
    session.execute(insert(QueueSample), [{"at": at, "queue": q, "length": int(n)} for q, n in lengths.items()])
    session.execute(delete(QueueSample).where(QueueSample.at < at - dt.timedelta(hours=QUEUE_HISTORY_H)))
    session.commit()


def queue_history(ctx: Context, session: Session, *, hours: float = CHART_HOURS,
                  now: dt.datetime | None = None) -> list[tuple[dt.datetime, dict[str, int]]]:
    """The samples of the last `hours`, oldest first: (time, {queue: length})."""
    from ..models import QueueSample

    since = (now or utcnow()) - dt.timedelta(hours=hours)
    samples: dict[dt.datetime, dict[str, int]] = {}
    for at, queue, length in session.execute(select(QueueSample.at, QueueSample.queue, QueueSample.length)
                                             .where(QueueSample.at >= since).order_by(QueueSample.at)):
        samples.setdefault(at, {})[queue] = length
    return list(samples.items())


def queue_lengths(ctx: Context) -> dict[str, int] | None:
    """The broker's queue lengths now, when the broker is Redis (LLEN of each queue's list);
    None when the broker is RabbitMQ or does not answer (the sampled history has them)."""
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
