"""Cluster-down drill: one cluster stops answering (connections refused, its jobs frozen)
for a stretch, then comes back. The periodic refresh marks its backend offline, creates
go to the other backend meanwhile, actions on its servers wait (retrying) and finish once
it is back, the backend is online again after one answer, and a detect-only reconciliation
run finds nothing left over for any of the drill's servers.

PostgreSQL, the production database: while the cluster is down every allocation first
tries to refresh its stale figures (refused connections, retried), with other workers
writing the same backend rows and operations at once; row locks are what production has.
"""
from __future__ import annotations

import time

import pytest

from orchestrator.reconciliation import instance_nics
from tests.conftest import Worker, record_drill, wait_for
from tests.drills.faults_helpers import (ACTION_MIX, RUNNING, DrillStack, act, active_servers, api_operation,
                                         cluster_instances, create, fault_stack, jobs_per_operation,  # noqa: F401
                                         log_count, wait_ended)
from tests.drills.scale import scaled
from tests.reconciliation.helpers import api_run, cli_run_id, findings_for, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ACTIONS = scaled(60, 6)  # on servers of the cluster that goes down, asked while it is down
EARLY = scaled(15, 3)  # asked before: their Ganeti jobs are running when it goes down
CREATES = scaled(60, 6)  # while its backend is offline
# The actions must outwait the outage: a step's retries back off exponentially (full jitter,
# RAPI_BACKOFF_S * 2**attempt, at most 60 s), so 12 attempts from 0.25 s give minutes of
# patience where the stack's 4 attempts from 0.1 s give about three seconds.
WORKER_ENV = {"RAPI_MAX_ATTEMPTS": "12", "RAPI_BACKOFF_S": "0.25"}


def _backends(stack) -> dict[int, dict]:
    response = stack.client.get("/api/v1/backends", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return {b["id"]: b for b in response.json}


def _refresh(stack) -> dict[str, bool]:
    """The beat's refresh_backend_stats, run by the drill's worker."""
    return stack.celery.send_task("orchestrator.periodic.refresh_backend_stats").get(timeout=120)


def _report_nics(stack, server_ids: list[int]) -> None:
    """A nic_info event per server, as the agent's hook sends it, from the cluster's answer."""
    instances = cluster_instances(stack)
    for server_id in server_ids:
        (inst,) = instances[f"snf-{server_id}"]
        stack.celery.send_task("orchestrator.events.nic_info", args=[{
            "cluster": inst["cluster"], "instance": inst["name"], "nics": instance_nics(inst),
            "hook_path": "instance-start", "timestamp": time.time()}])
    wait_for(lambda: all(stack.server(sid)["nics"] for sid in server_ids), 60, interval=0.5,
             what="the NIC reports to be applied")


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_cluster_down_then_back(fault_stack: DrillStack, tmp_path):
    drill, stack = fault_stack, fault_stack.stack
    down_id, up_id = sorted(_backends(stack))[:2]
    cluster = next(c for c in stack.sim.clusters if c.port == _backends(stack)[down_id]["port"])
    log = tmp_path / "worker.log"
    worker = Worker({**stack.env, **WORKER_ENV}, log, concurrency=8, name="cluster-down").start()
    try:
        targets = active_servers(drill, ACTIONS + EARLY, "cd-act", backend_id=down_id)
        actions: dict[int, tuple[int, str]] = {}  # operation id -> (server id, API status after)

        def ask(i: int) -> int:
            action, _before, after = ACTION_MIX[i % 3]
            op_id = act(stack, targets[i], action)["id"]
            actions[op_id] = (targets[i], after)
            return op_id

        # Slow opcodes, so the early actions' jobs are still running when the cluster goes.
        cluster.faults.op_delay = 10.0
        early = [ask(i) for i in range(ACTIONS, ACTIONS + EARLY)]
        wait_for(lambda: all(api_operation(stack, op_id)["step"] == "poll" for op_id in early), 60, interval=0.2,
                 what="the early actions' jobs to be submitted")
        started = time.monotonic()
        cluster.down()  # RAPI refuses connections, its job queue stands still
        cluster.faults.op_delay = 0.0  # the jobs submitted after the outage run at the usual pace
        assert all(api_operation(stack, op_id)["status"] == "RUNNING" for op_id in early)
        for i in range(ACTIONS):
            ask(i)

        # The periodic refresh gets no answer: offline after 3 in a row (allocations' own
        # refreshes count too), with the reason on the API.
        refreshes = 0

        def offline():
            nonlocal refreshes
            refreshes += 1
            answered = _refresh(stack)
            assert answered[cluster.name] is False, answered
            return _backends(stack)[down_id]["offline"]

        wait_for(offline, 60, interval=0, what="the down backend to be marked offline")
        shown = _backends(stack)[down_id]
        assert shown["offline_reason"].startswith("no answer") and "cannot reach cluster" in shown["offline_reason"]
        assert _backends(stack)[up_id]["offline"] is False

        # Creates meanwhile: all on the other backend, all ACTIVE.
        creates = {op_id: sid for sid, op_id in (create(stack, drill, f"cd-new-{i}") for i in range(CREATES))}
        wait_ended(stack, list(creates), timeout=scaled(600, 120))

        # The actions wait: still in flight, each showing the RAPI failure it retries on (the
        # early ones on their polls: their jobs stand still with the cluster).
        def all_waiting():
            ops = [api_operation(stack, op_id) for op_id in actions]
            return ops if all(op["status"] in ("PENDING", "RUNNING") and op["attempts"] >= 1 and op["error"]
                              for op in ops) else None

        waiting = wait_for(all_waiting, 60, interval=0.5, what="every action to be retrying")
        assert all("cannot reach cluster" in op["error"] for op in waiting), [op["error"] for op in waiting]
        down_for = time.monotonic() - started

        cluster.up()
        assert _refresh(stack)[cluster.name] is True
        back = _backends(stack)[down_id]
        assert back["offline"] is False and back["offline_reason"] is None
        wait_ended(stack, list(actions), timeout=scaled(900, 240))
        seconds = time.monotonic() - started
        # The node agent's post hook reports each instance's NICs (this drill runs no agent,
        # so it sends the same events): reconciliation's NIC check then has nothing to say
        # however long the drill took, and what it finds is only what the outage left.
        _report_nics(stack, [sid for sid, _after in actions.values()] + list(creates.values()))
    finally:
        cluster.up()
        worker.stop()
    retries = log_count(log, "transient error, retry")

    instances = cluster_instances(stack)
    jobs = jobs_per_operation(stack)
    ops = {op_id: api_operation(stack, op_id) for op_id in [*actions, *creates]}
    acted_ok = sum(1 for op_id, (sid, after) in actions.items()
                   if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == after
                   and [(i["cluster"], i["oper_state"]) for i in instances.get(f"snf-{sid}", [])]
                   == [(cluster.name, RUNNING[after])])
    created_ok = sum(1 for op_id, sid in creates.items()
                     if ops[op_id]["status"] == "SUCCEEDED" and stack.server(sid)["status"] == "ACTIVE"
                     and stack.server(sid)["backend_id"] == up_id
                     and [i["cluster"] != cluster.name for i in instances.get(f"snf-{sid}", [])] == [True])

    # Detect-only reconciliation (the operator's CLI), read back through the API.
    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
    mine = [sid for sid, _after in actions.values()] + list(creates.values())
    leftovers = findings_for(run, mine)

    record_drill(f"cluster down: {len(actions)} actions on its servers", len(actions), acted_ok,
                 sum(1 for op_id in actions if jobs[op_id] == 0), sum(1 for op_id in actions if jobs[op_id] > 1),
                 seconds, extra=f"{EARLY} with a job running when it went; down {down_for:.0f}s; offline after {refreshes} refreshes, online after 1; "
                                f"{retries} step retries; reconciliation: {len(leftovers)} servers with findings")
    record_drill(f"cluster down: {CREATES} creates while its backend is offline", CREATES, created_ok,
                 sum(1 for sid in creates.values() if not instances.get(f"snf-{sid}")),
                 sum(1 for sid in creates.values() if len(instances.get(f"snf-{sid}", [])) > 1),
                 seconds, extra="all placed on the other backend")

    assert acted_ok == len(actions), {op_id: (ops[op_id]["status"], ops[op_id]["error"]) for op_id in actions}
    assert created_ok == CREATES, {op_id: (ops[op_id]["status"], ops[op_id]["error"]) for op_id in creates}
    assert all(jobs[op_id] == 1 for op_id in [*actions, *creates]), jobs
    assert sorted(run["backends_checked"]) == sorted(_backends(stack)), run["backends_skipped"]
    assert leftovers == {}, leftovers
