"""The per-cluster RAPI request budget (orchestrator.rapi.budget) against a real redis-server:
the rate held across processes, leases of killed callers expiring, polls yielding to users,
and a client's requests metered on the simulated cluster's side."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest
import redis

from orchestrator.rapi import Endpoint, RapiClient
from orchestrator.rapi.budget import BACKGROUND, USER, Budget, Limits, RapiThrottled, acting_for, limits_for
from orchestrator.settings import Settings
from tests.conftest import ROOT, wait_for

# A caller in a process of its own: draws from backend 7's budget for `seconds`, printing the
# Unix time of each admission, one per line.
CALLER = """
import json, sys, time
import redis
from orchestrator.rapi.budget import Budget, Limits, acting_for
url, rate, conc, caller, seconds, lease, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \\
    float(sys.argv[5]), float(sys.argv[6]), sys.argv[7] == "hold"
budget = Budget(redis.Redis.from_url(url), 7, Limits(rate, conc, 0.2, 30.0, 30.0))
end = time.time() + seconds
with acting_for(caller):
    while time.time() < end:
        token = budget.acquire(lease)
        print(json.dumps(time.time()), flush=True)
        if hold:  # keep the slot until killed
            time.sleep(3600)
        budget.release(token)
"""


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url(3))
    client.flushdb()
    yield client
    client.flushdb()


def callers(redis_server, count: int, rate: int, conc: int, caller: str, seconds: float, lease: float = 5.0,
            hold: bool = False):
    return [subprocess.Popen([sys.executable, "-c", CALLER, redis_server.url(3), str(rate), str(conc), caller,
                              str(seconds), str(lease), "hold" if hold else "release"], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
            for _ in range(count)]


def most_in_any_second(times: list[float]) -> int:
    """The most admissions within any one-second span."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_rate_is_held_across_processes(redis_server, redis_client):
    procs = callers(redis_server, 4, rate=15, conc=0, caller=USER, seconds=3.0)
    times = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        times += [json.loads(line) for line in out.split()]
    # Four processes asking as fast as they can together got at most the budget in any second,
    # and every second of the run got some.
    assert most_in_any_second(times) <= 15
    assert len({int(t - min(times)) for t in times}) >= 3
    assert len(times) >= 15


def test_a_killed_callers_slot_is_freed_when_its_lease_ends(redis_server, redis_client):
    budget = Budget(redis_client, 7, Limits(0, 2, 0.0, 0.0, 0.0))
    held = callers(redis_server, 2, rate=0, conc=2, caller=USER, seconds=30.0, lease=2.0, hold=True)
    try:
        for proc in held:
            assert proc.stdout.readline()  # each holds one of the two slots
        with acting_for(USER), pytest.raises(RapiThrottled) as throttled:
            budget.acquire(2.0)  # none left, and no wait allowed
        assert throttled.value.retry_in > 0
    finally:
        for proc in held:
            proc.send_signal(signal.SIGKILL)  # killed mid-call: no release
            proc.wait()
    # Their leases run out by themselves: a slot is free again, and taken.
    token = wait_for(lambda: _try_acquire(budget), timeout=20, interval=0.5, what="a slot freed by lease expiry")
    budget.release(token)


def _try_acquire(budget: Budget):
    try:
        with acting_for(USER):
            return budget.acquire(5.0)
    except RapiThrottled:
        return None


def test_background_calls_yield_the_users_share(redis_client):
    budget = Budget(redis_client, 8, Limits(10, 0, 0.5, 0.0, 0.0))
    admitted = {USER: 0, BACKGROUND: 0}

    def take(caller: str) -> None:
        with acting_for(caller):
            while True:
                try:
                    budget.acquire(1.0)
                except RapiThrottled:
                    return
                admitted[caller] += 1

    take(BACKGROUND)  # polls take what they may...
    take(USER)  # ...and user actions still find the half kept for them
    assert admitted == {BACKGROUND: 5, USER: 5}


def test_concurrency_is_shared_the_same_way(redis_client):
    budget = Budget(redis_client, 9, Limits(0, 4, 0.25, 0.0, 0.0))
    with acting_for(BACKGROUND):
        tokens = [budget.acquire(30.0) for _ in range(3)]
        with pytest.raises(RapiThrottled):
            budget.acquire(30.0)
    with acting_for(USER):
        tokens.append(budget.acquire(30.0))
        with pytest.raises(RapiThrottled):
            budget.acquire(30.0)
    budget.release(tokens.pop())
    with acting_for(USER):
        tokens.append(budget.acquire(30.0))  # a released slot is free at once


def test_limits_come_from_the_backend_or_the_deployment():
    settings = Settings.from_env({"RAPI_RATE_PER_S": "30", "RAPI_CONCURRENCY": "6", "RAPI_USER_RESERVE": "0.5"})

    class Row:
        rate_per_s, concurrency = None, 0

    limits = limits_for(Row(), settings)
    assert (limits.rate_per_s, limits.concurrency, limits.unlimited) == (30, 0, False)
    assert limits.for_caller(USER)[:2] == (30, 0)
    assert limits.for_caller(BACKGROUND)[:2] == (15, 0)
    assert Limits(1, 1, 0.9).for_caller(BACKGROUND)[:2] == (1, 1)  # polls always move
    with pytest.raises(ValueError, match="RAPI_RATE_PER_S"):
        Settings.from_env({"RAPI_RATE_PER_S": "-1"})
    with pytest.raises(ValueError, match="RAPI_USER_RESERVE"):
        Settings.from_env({"RAPI_USER_RESERVE": "1.5"})


def test_a_clients_requests_keep_to_the_budget_on_the_clusters_side(redis_client):
    from ganeti_sim import SimFleet

    with SimFleet(clusters=1, job_duration=0.0) as fleet:
        cluster = fleet[0]
        client = RapiClient(Endpoint(cluster.url, "rapi", "rapi-secret", False, 5.0),
                            budget=Budget(redis_client, 10, Limits(8, 3, 0.0, 30.0, 30.0)))
        try:
            threads = [threading.Thread(target=lambda: [client.info() for _ in range(6)]) for _ in range(5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            client.close()
        meter = cluster.meter.as_dict()
    assert meter["total"] == 30
    assert meter["max_per_second"] <= 8
    assert meter["max_in_flight"] <= 3


def test_polls_come_rarer_and_rarest_while_the_agent_reports(db_url, redis_server, redis_client):
    import datetime as dt

    from orchestrator import agents, demo, steps
    from orchestrator.db import get_sessionmaker
    from orchestrator.models import Backend, Operation, Server, utcnow
    from tests.conftest import context_for

    ctx = context_for(db_url, redis_url=redis_server.url(3), poll_interval_s=0.5, poll_max_interval_s=8.0)
    assert [steps.poll_wait(ctx.settings, n, agent_live=False) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert steps.poll_wait(ctx.settings, 0, agent_live=True) == 8.0
    with get_sessionmaker(db_url)() as session:
        demo.seed(session, env={"SIM_CLUSTERS": "1"})
        backend = session.query(Backend).one()
        session.add(Server(id=1, user_id="u", name="s1", flavor_id=1, image_id=1, nics=[], backend_id=backend.id))
        session.add(Operation(id=1, kind="create", server_id=1, user_id="u", status="RUNNING", step="poll",
                              params={}, backend_id=backend.id, job_id=5))
        session.commit()
        assert steps.next_poll_in(session, 1, ctx, polls=1) == 1.0
        agents._marked.clear()
        agents.seen(ctx.redis, backend.clustername)  # an event from its cluster's agent
        assert steps.next_poll_in(session, 1, ctx, polls=1) == 8.0
        op = session.get(Operation, 1)
        op.deadline_at = utcnow() + dt.timedelta(seconds=3)
        session.commit()
        assert steps.next_poll_in(session, 1, ctx, polls=1) <= 3.01  # polled at its deadline, to cancel it


def test_requests_go_unmetered_while_redis_does_not_answer():
    from orchestrator.rapi import budget as budget_module
    from tests.harness.services import free_port

    away = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, socket_timeout=1)
    budget = Budget(away, 11, Limits(1, 1, 0.0, 0.0, 0.0))
    try:
        with acting_for(USER):
            # Metered, the second would find no room and no wait allowed: the fleet is not stopped.
            assert [budget.acquire(1.0), budget.acquire(1.0)] == [None, None]
    finally:
        budget_module._unmetered_until.clear()
