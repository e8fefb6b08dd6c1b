"""Deadline drill: Ganeti jobs that do not finish in time (reboots that take far longer than
their deadline, `--op-duration OP_INSTANCE_REBOOT=...`) are stopped at the deadline.

Three kinds of reboot, on a worker whose reboots have a deadline of DEADLINE_S:
- *running*: its job runs for LONG_S; Ganeti cannot cancel a running job, so the operation
  fails at the deadline naming the job and its status, the server is ACTIVE again at once,
  and the job's own end later changes nothing that reconciliation would call drift;
- *waiting*: an administrator's out-of-band reboot holds the instance's lock, so our job
  waits in the queue; at the deadline it is canceled on the cluster and the operation fails;
- *unwatched*: the worker is stopped while its job runs; past the deadline reconciliation
  reports the operation as overdue; a worker back drives it to the same end.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import Worker, record_drill, wait_for
from tests.drills.faults_helpers import DrillStack, act, api_operation, create, fault_stack, jobs_per_operation  # noqa: F401
from tests.drills.faults_helpers import wait_ended
from tests.drills.scale import scaled
from tests.reconciliation.helpers import api_run, cli_run_id, cluster_of, findings_for, run_cli, sim, wait_job

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PER_KIND = scaled(20, 3)
DEADLINE_S = 3.0
LONG_S = 15.0  # each reboot's run time on the clusters: five deadlines
REBOOT = "OP_INSTANCE_REBOOT"
WORKER_ENV = {"OPERATION_DEADLINE_S": f"reboot={DEADLINE_S:g}"}


def _active(drill: DrillStack, count: int, prefix: str) -> list[int]:
    ids = [create(drill.stack, drill, f"{prefix}-{i}")[0] for i in range(count)]
    for server_id in ids:
        assert drill.stack.wait_status(server_id, {"ACTIVE", "ERROR"}, timeout=120)["status"] == "ACTIVE"
    return ids


def _ended_as_expected(stack, op_id: int, server_id: int, job_status: str, says: str) -> bool:
    op = api_operation(stack, op_id)
    return (op["status"] == "FAILED" and op["job_status"] == job_status and says in (op["error"] or "")
            and f"job {op['job_id']}" in op["error"] and stack.server(server_id)["status"] == "ACTIVE")


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_jobs_past_their_deadline_are_stopped(fault_stack: DrillStack, tmp_path):
    drill, stack = fault_stack, fault_stack.stack
    env = {**stack.env, **WORKER_ENV}
    worker = Worker(env, tmp_path / "worker.log", concurrency=4, name="deadline").start()
    queues = [c.queue for c in stack.sim.clusters]
    try:
        running, waiting, (unwatched,) = (_active(drill, n, p) for n, p in
                                          ((PER_KIND, "dl-run"), (PER_KIND, "dl-wait"), (1, "dl-lone")))
        for queue in queues:
            queue.op_durations[REBOOT] = LONG_S

        # Unwatched: its job runs, then no worker follows it past its deadline.
        lone_op = act(stack, unwatched, "reboot")["id"]
        wait_for(lambda: api_operation(stack, lone_op)["job_status"] == "running", 30, interval=0.1,
                 what="the lone reboot's job to run")
        worker.stop()
        time.sleep(DEADLINE_S + 0.5)
        run = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
        (overdue,) = findings_for(run, [unwatched])[unwatched]
        assert overdue["kind"] == "overdue" and overdue["fixed"] is False, overdue
        assert overdue["details"]["operation_id"] == lone_op and overdue["details"]["job_status"] == "running"
        worker = Worker(env, tmp_path / "worker-2.log", concurrency=4, name="deadline-2").start()

        # Waiting: an administrator's own reboot holds each instance's lock first.
        theirs = {}
        for server_id in waiting:
            cluster = cluster_of(stack, stack.server(server_id)["backend_id"])
            theirs[server_id] = (cluster, int(sim(cluster, "POST", f"/2/instances/snf-{server_id}/reboot").json()))
        started = time.monotonic()
        ops = {act(stack, server_id, "reboot")["id"]: ("running", server_id) for server_id in running}
        ops.update({act(stack, server_id, "reboot")["id"]: ("waiting", server_id) for server_id in waiting})
        ops[lone_op] = ("running", unwatched)
        wait_ended(stack, list(ops), timeout=DEADLINE_S + 60)
        stopped_in = time.monotonic() - started

        expected = {"running": ("running", "and Ganeti did not cancel it"),
                    "waiting": ("canceled", "which was waiting")}
        good = {op_id for op_id, (kind, sid) in ops.items() if _ended_as_expected(stack, op_id, sid, *expected[kind])}
        for op_id, (kind, _sid) in ops.items():
            assert op_id in good, (kind, api_operation(stack, op_id))
        for op_id, (kind, _sid) in ops.items():
            assert api_operation(stack, op_id)["error"].startswith("past its deadline (3 s for a reboot")
        for server_id, (cluster, _job) in theirs.items():
            job_id = next(api_operation(stack, op)["job_id"] for op, (_k, sid) in ops.items() if sid == server_id)
            assert sim(cluster, "GET", f"/2/jobs/{job_id}").json()["status"] == "canceled"

        # Every job ends in the end (theirs and ours that ran); nothing is left to reconcile.
        for server_id in running + [unwatched]:
            cluster = cluster_of(stack, stack.server(server_id)["backend_id"])
            op_id = next(op for op, (_k, sid) in ops.items() if sid == server_id)
            assert wait_job(cluster, api_operation(stack, op_id)["job_id"], timeout=LONG_S + 30)["status"] == "success"
        for cluster, job_id in theirs.values():
            wait_job(cluster, job_id, timeout=LONG_S + 30)
        servers = [sid for _kind, sid in ops.values()]
        drift = findings_for(api_run(stack, cli_run_id(run_cli("reconcile", "servers").output)), servers)
        assert drift == {}, drift
        assert all(stack.server(sid)["status"] == "ACTIVE" for sid in servers)
        jobs = jobs_per_operation(stack)
        duplicated = sum(1 for op_id in ops if jobs[op_id] > 1)
        lost = sum(1 for op_id in ops if api_operation(stack, op_id)["status"] not in ("SUCCEEDED", "FAILED"))
        assert duplicated == 0 and lost == 0
        record_drill("reboots past a 3 s deadline (jobs 15 s)", len(ops), len(good), lost, duplicated,
                     stopped_in, f"{PER_KIND} running → FAILED, {PER_KIND} waiting → canceled on the cluster, "
                                 "1 unwatched → reported overdue, then FAILED; all ACTIVE, no drift")
    finally:
        for queue in queues:
            queue.op_durations.pop(REBOOT, None)
        worker.stop()
