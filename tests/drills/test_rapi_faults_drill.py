"""RAPI fault drill: the clusters answer 20 % of requests with a 5xx, close 10 % of
connections without an answer and add 2 s to every request, during 100 creates and 100
actions (shutdown, reboot, start). Every operation still ends as asked within the retry
limits, and no write reaches Ganeti twice. Beyond the retry limit (every request of one
cluster a 503), operations end FAILED with the RAPI error on the operation, nothing
reaches the cluster, and a retry once the cluster is well again does each exactly once.

PostgreSQL: many workers hold an operation's row lock while others wait seconds on a slow
cluster, and the allocator refreshes stale backend figures under load; that is where row
locks (not SQLite's one write lock) decide what happens, as in production.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.conftest import Worker, record_drill
from tests.drills.faults_helpers import (ACTION_MIX, RUNNING, DrillStack, act, active_servers, api_operation,
                                         cluster_instances, create, fault_stack, jobs_per_operation,  # noqa: F401
                                         log_count, wait_ended)
from tests.drills.scale import scaled

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CREATES = scaled(100, 20)
ACTIONS = scaled(100, 20)
FAULTS = {"http_error_rate": 0.2, "latency": 2.0, "drop_rate": 0.1}
# A read is retried by the RAPI client itself (3 times), a write never: the step retries it
# as a Celery retry, after looking for its job by its reason. With 28 % of requests failing,
# 8 attempts per step leave about one step in 25,000 to give up: none in a run of this drill.
WORKER_ENV = {"RAPI_TIMEOUT_S": "6", "RAPI_MAX_ATTEMPTS": "8", "RAPI_BACKOFF_S": "0.2"}

BEYOND = scaled(40, 10)  # operations (half creates, half actions) against the failing cluster
BEYOND_ENV = {
    "RAPI_MAX_ATTEMPTS": "3", "RAPI_BACKOFF_S": "0.1",
    # Figures refreshed before the faults stay fresh for the drill: an allocation that
    # refreshed them would, after 3 failures, mark the cluster offline and the pinned
    # creates would fail on that instead of on their own RAPI calls.
    "BACKEND_REFRESH_MIN": "60",
}


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_creates_and_actions_through_5xx_drops_and_latency(fault_stack: DrillStack, tmp_path):
    drill, stack = fault_stack, fault_stack.stack
    log = tmp_path / "worker.log"
    worker = Worker({**stack.env, **WORKER_ENV}, log, concurrency=16, name="rapi-faults").start()
    try:
        targets = active_servers(drill, ACTIONS, "rf-act")
        codes = [502, 503, 500, 504]
        for i, cluster in enumerate(stack.sim.clusters):
            cluster.faults.update({**FAULTS, "http_error_code": codes[i % len(codes)]})
        started = time.monotonic()
        creates: dict[int, int] = {}  # operation id -> server id
        actions: dict[int, tuple[int, str, str]] = {}  # operation id -> (server id, action, status after)
        for i in range(max(CREATES, ACTIONS)):  # interleaved, as users would send them
            if i < CREATES:
                server_id, op_id = create(stack, drill, f"rf-new-{i}")
                creates[op_id] = server_id
            if i < ACTIONS:
                action, _before, after = ACTION_MIX[i % 3]
                actions[act(stack, targets[i], action)["id"]] = (targets[i], action, after)
        wait_ended(stack, [*creates, *actions], timeout=scaled(900, 300))
        seconds = time.monotonic() - started
    finally:
        for cluster in stack.sim.clusters:
            cluster.faults.reset()
        worker.stop()
    retries = log_count(log, "transient error, retry")

    instances = cluster_instances(stack)
    jobs = jobs_per_operation(stack)
    ops = {op_id: api_operation(stack, op_id) for op_id in [*creates, *actions]}

    created_ok = sum(1 for op_id, sid in creates.items()
                     if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == "ACTIVE"
                     and [i["oper_state"] for i in instances.get(f"snf-{sid}", [])] == [True])
    created_lost = sum(1 for sid in creates.values() if not instances.get(f"snf-{sid}"))
    created_dup = sum(1 for op_id, sid in creates.items()
                      if len(instances.get(f"snf-{sid}", [])) > 1 or jobs[op_id] > 1)
    record_drill(f"RAPI faults during {CREATES} creates", CREATES, created_ok, created_lost, created_dup, seconds,
                 extra=f"20 % 5xx, 10 % dropped, +2 s each; {retries} step retries in all")

    acted_ok = sum(1 for op_id, (sid, _action, after) in actions.items()
                   if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == after
                   and [i["oper_state"] for i in instances.get(f"snf-{sid}", [])] == [RUNNING[after]])
    acted_lost = sum(1 for op_id in actions if jobs[op_id] == 0)
    acted_dup = sum(1 for op_id in actions if jobs[op_id] > 1)
    record_drill(f"RAPI faults during {ACTIONS} actions", ACTIONS, acted_ok, acted_lost, acted_dup, seconds,
                 extra="shutdown, reboot, start on existing servers")

    failed = Counter(op["error"] for op in ops.values() if op["status"] != "SUCCEEDED")
    assert not failed, failed
    assert (created_ok, created_lost, created_dup) == (CREATES, 0, 0)
    assert (acted_ok, acted_lost, acted_dup) == (ACTIONS, 0, 0)
    assert retries > 0, "no fault reached the operations"


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_beyond_the_retry_limit_operations_fail_with_the_rapi_error(fault_stack: DrillStack, tmp_path):
    drill, stack = fault_stack, fault_stack.stack
    worker = Worker({**stack.env, **BEYOND_ENV}, tmp_path / "worker.log", concurrency=8, name="rapi-beyond").start()
    try:
        listed = stack.client.get("/api/v1/backends", headers=stack.admin_headers).json
        backend = min(listed, key=lambda b: b["id"])
        backend_id, cluster = backend["id"], next(c for c in stack.sim.clusters if c.port == backend["port"])
        targets = active_servers(drill, BEYOND // 2, "rb-act", backend_id=backend_id)
        for b in listed:  # fresh figures, which stay fresh (BACKEND_REFRESH_MIN) for the drill
            assert stack.client.post(f"/api/v1/backends/{b['id']}/refresh",
                                     headers=stack.admin_headers).status_code == 200

        cluster.faults.update({"http_error_rate": 1.0, "http_error_code": 503})
        started = time.monotonic()
        creates: dict[int, int] = {}
        actions: dict[int, tuple[int, str, str]] = {}  # operation id -> (server id, status before, after)
        for i in range(BEYOND // 2):
            server_id, op_id = create(stack, drill, f"rb-new-{i}", backend_id=backend_id)
            creates[op_id] = server_id
            action, before, after = ACTION_MIX[i % 3]
            actions[act(stack, targets[i], action)["id"]] = (targets[i], before, after)
        wait_ended(stack, [*creates, *actions], timeout=scaled(600, 180))
        seconds = time.monotonic() - started
        cluster.faults.reset()

        # What a user sees: each operation FAILED, saying which RAPI call failed and how.
        ops = {op_id: api_operation(stack, op_id) for op_id in [*creates, *actions]}
        instances = cluster_instances(stack)
        jobs = jobs_per_operation(stack)
        failed_visibly = sum(1 for op in ops.values() if op["status"] == "FAILED" and op["error"]
                             and "gave up after 3 attempts" in op["error"] and "503" in op["error"])
        unchanged = sum(1 for sid, before, _after in actions.values()
                        if stack.server(sid)["status"] == before
                        and [i["oper_state"] for i in instances.get(f"snf-{sid}", [])] == [RUNNING[before]])
        errored = sum(1 for sid in creates.values() if stack.server(sid)["status"] == "ERROR")
        # Nothing of a FAILED operation may have reached the cluster: no job, no instance.
        reached = sum(1 for op_id in ops if jobs[op_id]) + sum(1 for sid in creates.values()
                                                               if instances.get(f"snf-{sid}"))
        record_drill(f"100 % 503 on one cluster, {BEYOND} operations", BEYOND, failed_visibly, 0, reached, seconds,
                     extra=f"RAPI_MAX_ATTEMPTS=3: FAILED, the 503 in the operation's error; {errored} creates "
                           f"ERROR, {unchanged} servers unchanged, {reached} reached the cluster")
        samples = Counter(op["error"] for op in ops.values())
        assert failed_visibly == BEYOND, samples
        assert errored == len(creates) and unchanged == len(actions) and reached == 0, samples

        # The cluster is well again: a retry of each failed operation (the API's) does it once.
        retried_at = time.monotonic()
        for op_id in ops:
            response = stack.client.post(f"/api/v1/operations/{op_id}/retry", headers=stack.admin_headers)
            assert response.status_code == 202, response.json
        wait_ended(stack, list(ops), timeout=scaled(600, 180))
        retry_seconds = time.monotonic() - retried_at
    finally:
        for cluster in stack.sim.clusters:
            cluster.faults.reset()
        worker.stop()

    ops = {op_id: api_operation(stack, op_id) for op_id in ops}
    instances = cluster_instances(stack)
    jobs = jobs_per_operation(stack)
    ok = sum(1 for op_id, sid in creates.items()
             if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == "ACTIVE"
             and [i["oper_state"] for i in instances.get(f"snf-{sid}", [])] == [True])
    ok += sum(1 for op_id, (sid, _before, after) in actions.items()
              if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == after
              and [i["oper_state"] for i in instances.get(f"snf-{sid}", [])] == [RUNNING[after]])
    lost = sum(1 for op_id in ops if jobs[op_id] == 0)
    duplicated = sum(1 for op_id in ops if jobs[op_id] > 1) + sum(
        1 for sid in creates.values() if len(instances.get(f"snf-{sid}", [])) > 1)
    record_drill(f"retry of the {BEYOND} failed operations", BEYOND, ok, lost, duplicated, retry_seconds,
                 extra="POST /api/v1/operations/{id}/retry once the cluster answers")
    assert (ok, lost, duplicated) == (BEYOND, 0, 0), Counter(op["status"] for op in ops.values())
