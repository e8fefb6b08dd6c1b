"""Quota drill: 200 creates at once by one user whose quota allows 50 servers
(cyclades.vm=50), each request a thread with its own session calling the create use case,
as API and CLI requests would, on the real stack (its worker builds those accepted).

What is asserted: exactly 50 are accepted and the others refused with the quota error
(OverLimit naming cyclades.vm, its limit and the usage); the user has exactly 50 servers and
the recorded usage is exactly what the rows hold, right after the rush and once every create
has ended; nothing of a refused request is left (no server, no operation). On PostgreSQL
(the user's holding rows locked FOR UPDATE), and on SQLite (its write lock) with fewer.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import pytest
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import sessionmaker

from orchestrator import db
from orchestrator.auth import Principal
from orchestrator.errors import OverLimit
from orchestrator.models import Operation, Server
from orchestrator.quotas import recount
from orchestrator.services import servers as svc
from tests.conftest import record_drill, wait_for
from tests.drills.scale import scaled

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# kind: (creates, the user's cyclades.vm limit, threads at once)
SHAPES = {"postgresql": (scaled(200, 200), 50, 100), "sqlite": (scaled(100, 60), 15, 16)}
_runs = count()


def _engine(stack, threads: int):
    if stack.kind == "sqlite":
        engine = create_engine(stack.db_url, connect_args={"timeout": 60, "check_same_thread": False},
                               pool_size=threads, max_overflow=0, pool_timeout=120)
        event.listen(engine, "connect", db._sqlite_pragmas)
        return engine
    return create_engine(stack.db_url, pool_size=threads, max_overflow=0, pool_timeout=120)


@pytest.mark.parametrize("stack", ["postgresql", "sqlite"], indirect=True)
def test_creates_over_quota_are_refused_exactly(stack):
    creates, limit, threads = SHAPES[stack.kind]
    user = Principal(f"quota-drill-{stack.kind}-{next(_runs)}", False)
    response = stack.client.patch(f"/api/v1/quotas/{user.user_id}", json={"cyclades.vm": limit},
                                  headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    engine = _engine(stack, threads)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    go = threading.Event()

    def create(i: int):
        go.wait(timeout=60)
        with sessions() as session:
            try:
                created = svc.create(stack.ctx, session, user, name=f"qd-{i}", flavor_id=1, image_id=1)
                return "accepted", (created.server.id, created.operation.id)
            except OverLimit as exc:
                return "refused", (exc.details["resource"], exc.details["limit"], exc.details["usage"],
                                   exc.details["requested"])

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(create, i) for i in range(creates)]
            started = time.monotonic()
            go.set()
            results = [f.result() for f in futures]  # any other exception fails the drill here
        elapsed = time.monotonic() - started
    finally:
        engine.dispose()

    outcome = Counter(what for what, _ in results)
    accepted = [value for what, value in results if what == "accepted"]
    refusals = Counter(value for what, value in results if what == "refused")

    def held() -> tuple[int, int, dict, list]:
        with stack.session() as session:
            servers = session.scalar(select(func.count(Server.id)).where(Server.user_id == user.user_id))
            ops = session.scalar(select(func.count(Operation.id)).where(Operation.user_id == user.user_id))
            shown = stack.client.get("/api/v1/quotas", query_string={"user_id": user.user_id},
                                     headers=stack.admin_headers).json["quotas"]
            return servers, ops, shown, recount.differences(session, [user.user_id])

    servers, ops, shown, differences = held()
    lost = abs(servers - len(accepted)) + abs(ops - len(accepted)) + len(differences)
    duplicated = max(0, shown["cyclades.vm"]["usage"] - limit) + max(0, len(accepted) - limit)

    op_ids = [op_id for _server, op_id in accepted]

    def all_ended():
        with stack.session() as session:
            return session.scalar(select(func.count(Operation.id)).where(
                Operation.id.in_(op_ids), Operation.status.in_(("SUCCEEDED", "FAILED")))) == len(op_ids)

    wait_for(all_ended, 240, interval=0.5, what="the accepted creates to end")
    _servers, _ops, after, differences_after = held()
    with stack.session() as session:
        statuses = Counter(session.scalars(select(Operation.status).where(Operation.id.in_(op_ids))))
    record_drill(f"{creates} creates at once by one user, cyclades.vm={limit}, {threads} threads, {stack.kind}",
                 creates, outcome["accepted"] + sum(refusals.values()), lost, duplicated, elapsed,
                 extra=f"accepted {outcome['accepted']}, refused {outcome['refused']} (overLimit cyclades.vm); "
                       f"usage {shown['cyclades.vm']['usage']}/{limit} after the rush, "
                       f"{after['cyclades.vm']['usage']} and cpu {after['cyclades.cpu']['usage']} once built "
                       f"({dict(statuses)}); recount differences {len(differences) + len(differences_after)}")

    assert outcome == Counter({"accepted": limit, "refused": creates - limit}), outcome
    # Every refusal names the resource, its limit and the usage it met: the quota was full.
    assert refusals == Counter({("cyclades.vm", limit, limit, 1): creates - limit}), refusals
    assert (servers, ops) == (limit, limit)
    assert shown["cyclades.vm"] == {"limit": limit, "usage": limit, "pending": 0, "default": False, "over": False}
    assert (shown["cyclades.total_cpu"]["usage"], shown["cyclades.disk"]["usage"]) == (limit, 10 * limit)
    assert differences == [] and differences_after == []
    assert statuses == Counter({"SUCCEEDED": limit}), statuses
    assert (after["cyclades.vm"]["usage"], after["cyclades.cpu"]["usage"]) == (limit, limit)
