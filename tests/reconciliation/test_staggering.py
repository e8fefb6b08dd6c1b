"""Staggering at scale: 1,000 servers, a short RECONCILIATION_MIN. Every server is checked
within it, the least recently checked first, and no cluster sees more than one bulk call
per run (counted on the simulator's side)."""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import pytest
from sqlalchemy import select

from orchestrator import reconciliation
from orchestrator.models import Server
from orchestrator.services.context import Context
from orchestrator.services.reconciliation import run as reconcile_now
from tests.reconciliation.conftest import STACKS
from tests.reconciliation.helpers import (adopt_instances, api_run, backend_ids, cluster_of, forget_servers,
                                          run_task)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", STACKS, indirect=True)]

SERVERS = 1000
INTERVAL_MIN = 0.1  # with RECONCILIATION_MIN 0.5: five runs cover everything


@pytest.fixture
def thousand(stack):
    """1,000 servers in agreement with their clusters, half on each backend: rows bulk-inserted,
    instances added with the simulator's populate (no API creates, no jobs)."""
    per_backend: dict[int, list[int]] = {}
    for backend_id in backend_ids(stack):
        per_backend[backend_id] = adopt_instances(stack, backend_id, SERVERS // 2)
    try:
        yield per_backend
    finally:
        for backend_id, ids in per_backend.items():
            forget_servers(stack, backend_id, ids)


def _live_counts(stack) -> dict[int, int]:
    with stack.session() as session:
        counts: dict[int, int] = {}
        for backend_id in session.scalars(select(Server.backend_id).where(Server.deleted.is_(False),
                                                                          Server.backend_id.is_not(None))):
            counts[backend_id] = counts.get(backend_id, 0) + 1
        return counts


def test_every_server_checked_within_reconciliation_min(stack, thousand, sim_log, short_reconciliation_min):
    runs = math.ceil(short_reconciliation_min / INTERVAL_MIN)
    # The operator's "reconcile now" with this process's settings: RECONCILIATION_MIN of half a
    # minute, one run a minute's share (INTERVAL_MIN).
    ctx = Context(stack.ctx.settings.replace(reconciliation_min=short_reconciliation_min,
                                             reconciliation_interval_min=INTERVAL_MIN), stack.ctx.dispatcher)
    assert runs == 5
    mine = [sid for ids in thousand.values() for sid in ids]
    counts = _live_counts(stack)  # every live server counts, the drills' own included
    expected_batch = {b: reconciliation.batch_size(n, short_reconciliation_min, INTERVAL_MIN)
                      for b, n in counts.items()}
    started = dt.datetime.now(dt.timezone.utc)
    with stack.session() as session:
        table = Server.__table__  # never checked yet (and not "changed" either: updated_at kept)
        session.execute(table.update().values(last_reconciled_at=None, updated_at=table.c.updated_at))
        session.commit()

    # A few servers started behind the product's back: each must be found exactly once in the cycle.
    drifted = set(mine[::97])
    for backend_id, ids in thousand.items():
        state = cluster_of(stack, backend_id).cluster
        with state.lock:
            for sid in drifted & set(ids):
                inst = state.instances[f"snf-{sid}"]
                inst.admin_state = "up"
                state.set_running(inst, True)

    seen_per_run, found = [], []
    for _ in range(runs):
        sim_log.clear()
        with stack.session() as session:
            run = reconcile_now(ctx, session, fixes=frozenset(), staggered=True)
            run_id, checked = run.id, run.servers_checked
            now = run.started_at
            seen = set(session.scalars(select(Server.id).where(Server.last_reconciled_at == now)))
        # One bulk instances call per cluster per run; anything else can only be the lookup
        # of a stuck build's job (none of these 1,000), never another bulk call.
        assert sim_log.bulk_instance_calls() == {c.name: 1 for c in stack.sim.clusters}
        others = [e for e in sim_log.rapi() if not (e[1] == "GET" and e[2].rstrip("/") == "/2/instances")]
        assert all(method == "GET" and path.startswith("/2/jobs/") for _, method, path, _ in others), others
        assert checked == sum(expected_batch.values())
        body = api_run(stack, run_id)
        assert body["servers_checked"] == checked and body["backends_checked"] == backend_ids(stack)
        found += [(f["server_id"], f["kind"]) for f in body["findings"] if f["server_id"] in set(mine)]
        seen_per_run.append(seen)

    # Each drift is found every time its server is checked (detect only: it stays), and
    # nothing else is found; every drifted server is checked at least once in the cycle (the
    # last run may start over with a few: those are found a second time).
    checks = Counter(sid for seen in seen_per_run for sid in seen if sid in drifted)
    assert all(kind == "state" for _, kind in found), found
    assert Counter(sid for sid, _ in found) == checks, "each drift found whenever checked, nothing else"
    assert set(checks) == drifted
    # Least recently checked first: no server is checked again before all were checked once
    # (batches are rounded up, so the last run of the cycle may start over with a few).
    everyone = set().union(*seen_per_run)
    assert len(everyone) == sum(counts.values())
    before: set[int] = set()
    for seen in seen_per_run:
        if seen & before:
            assert before | seen == everyone
        before |= seen
    with stack.session() as session:
        stamps = dict(session.execute(select(Server.id, Server.last_reconciled_at).where(Server.id.in_(mine))).all())
    assert len(stamps) == SERVERS
    assert all(ts is not None for ts in stamps.values()), "every server checked within RECONCILIATION_MIN"
    assert all((ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)) >= started for ts in stamps.values())

    # The next run starts the cycle over with the servers checked longest ago.
    sim_log.clear()
    with stack.session() as session:
        run = reconcile_now(ctx, session, fixes=frozenset(), staggered=True)
        sixth = set(session.scalars(select(Server.id).where(Server.last_reconciled_at == run.started_at)))
    assert sixth <= seen_per_run[0] | seen_per_run[1]
    assert sim_log.bulk_instance_calls() == {c.name: 1 for c in stack.sim.clusters}


def test_beat_task_is_staggered_by_the_workers_settings(stack, thousand, sim_log):
    """The beat's task in the real worker: RECONCILIATION_MIN 30 and an interval of 1 minute
    (the defaults) check a thirtieth of each backend per run, with one bulk call each."""
    counts = _live_counts(stack)
    result = run_task(stack, fixes=None, staggered=True)
    assert result["servers_checked"] == sum(math.ceil(n / 30) for n in counts.values())
    assert sim_log.bulk_instance_calls() == {c.name: 1 for c in stack.sim.clusters}
    assert api_run(stack, result["run"])["trigger"] == "beat"
