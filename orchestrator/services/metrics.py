"""The figures /metrics serves: what the database holds and what the workers counted."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Backend, Operation, Server
from ..state import API_STATUS
from ..taskstats import COUNTS, SECONDS
from .context import Context


@dataclass(frozen=True)
class Figures:
    operations: list[tuple[str, str, int]]  # kind, status, count
    servers: dict[str, int]  # API status -> count
    backends: list[Backend]


def database_figures(ctx: Context, session: Session) -> Figures:
    ops = [tuple(row) for row in session.execute(
        select(Operation.kind, Operation.status, func.count()).group_by(Operation.kind, Operation.status))]
    servers: dict[str, int] = {}
    for operstate, count in session.execute(select(Server.operstate, func.count()).group_by(Server.operstate)):
        status = API_STATUS.get(operstate, "ERROR")
        servers[status] = servers.get(status, 0) + count
    return Figures(ops, servers, list(session.scalars(select(Backend).order_by(Backend.id))))


def task_figures(ctx: Context) -> list[tuple[str, str, int, float]]:
    """(task, outcome, count, total seconds) for every task the workers ran, from Redis."""
    counts, seconds = ctx.redis.hgetall(COUNTS), ctx.redis.hgetall(SECONDS)
    rows = []
    for key, count in counts.items():
        name, _, state = key.decode().partition("|")
        rows.append((name, state, int(count), float(seconds.get(key, 0))))
    return rows
