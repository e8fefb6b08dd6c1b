"""An operator cancels operations in flight (API and CLI): a job still waiting in Ganeti's
queue is canceled there; a running one cannot be, so the operation fails at once, the
server shows what its cluster reports, and the job's own end still applies when the
cluster's agent reports it. A canceled operation retried is a new attempt that succeeds.

The simulator runs reboots for a long time here (Ganeti's opcodes take their time;
`--op-duration OP_INSTANCE_REBOOT=...` on the command line), and an out-of-band reboot (an
administrator's own `gnt-instance reboot`) holds the instance's lock so that ours waits.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import act, active_server, operation, user_headers, wait_operation
from tests.reconciliation.helpers import cluster_of, run_cli, sim, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

REBOOT = "OP_INSTANCE_REBOOT"
LONG_S = 12.0  # outlasts a busy worker's delay in sending ours behind theirs


@pytest.fixture
def slow_reboots(stack):
    """Reboots take LONG_S seconds on every cluster for the test's length."""
    queues = [c.queue for c in stack.sim.clusters]
    for queue in queues:
        queue.op_durations[REBOOT] = LONG_S
    yield
    for queue in queues:
        queue.op_durations.pop(REBOOT, None)


def _server_and_cluster(stack, headers=None):
    server = active_server(stack, headers=headers, name="cancel-me")
    return server, cluster_of(stack, server["backend_id"])


def _reboot_waiting_behind(stack, server, cluster, headers=None) -> tuple[int, int]:
    """An out-of-band reboot holds the lock; ours waits for it. (our operation, their job)"""
    theirs = int(sim(cluster, "POST", f"/2/instances/snf-{server['id']}/reboot").json())
    wait_for(lambda: sim(cluster, "GET", f"/2/jobs/{theirs}").json()["status"] == "running", 10,
             what="the out-of-band reboot to run")
    response = act(stack, server["id"], headers=headers, action="reboot")
    assert response.status_code == 202, response.json
    op_id = response.json["id"]
    wait_for(lambda: operation(stack, op_id)["job_status"] == "waiting", 20, interval=0.1,
             what="our reboot to wait for the instance's lock")
    return op_id, theirs


def test_cancel_of_a_waiting_job_cancels_it_on_the_cluster_and_a_retry_runs_again(stack, slow_reboots):
    user = user_headers(stack, "carol")
    server, cluster = _server_and_cluster(stack, headers=user)
    op_id, theirs = _reboot_waiting_behind(stack, server, cluster, headers=user)
    job_id = operation(stack, op_id)["job_id"]

    refused = stack.client.post(f"/api/v1/operations/{op_id}/cancel", headers=user)
    assert refused.status_code == 403, refused.json  # its owner sees it, but only operators cancel
    assert refused.json["message"] == "only administrators may cancel operations"
    assert operation(stack, op_id)["status"] == "RUNNING"

    response = stack.client.post(f"/api/v1/operations/{op_id}/cancel", headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    assert response.json["id"] == op_id and response.json["deadline_at"] is not None
    ended = wait_operation(stack, op_id, timeout=20)
    assert ended["status"] == "FAILED", ended
    assert ended["job_status"] == "canceled"
    assert ended["error"] == f"canceled by admin: Ganeti canceled job {job_id}, which was waiting", ended
    assert sim(cluster, "GET", f"/2/jobs/{job_id}").json()["status"] == "canceled"
    assert stack.server(server["id"])["status"] == "ACTIVE"  # REBOOT no more

    again = stack.client.post(f"/api/v1/operations/{op_id}/cancel", headers=stack.admin_headers)
    assert again.status_code == 409, again.json
    assert "only operations in flight can be canceled" in again.json["message"]

    wait_job(cluster, theirs, timeout=LONG_S + 10)
    retried = stack.client.post(f"/api/v1/operations/{op_id}/retry", headers=stack.admin_headers)
    assert retried.status_code == 202, retried.json
    done = wait_operation(stack, op_id, timeout=30)
    assert done["status"] == "SUCCEEDED", done
    assert done["job_id"] != job_id and done["error"] is None
    assert stack.server(server["id"])["status"] == "ACTIVE"


def test_cancel_of_a_running_job_fails_the_operation_and_the_jobs_end_applies_later(stack, slow_reboots):
    server, cluster = _server_and_cluster(stack)
    response = act(stack, server["id"], action="reboot")
    op_id = response.json["id"]
    wait_for(lambda: operation(stack, op_id)["job_status"] == "running", 20, interval=0.1,
             what="the reboot to run")
    job_id = operation(stack, op_id)["job_id"]
    assert stack.server(server["id"])["status"] == "REBOOT"

    result = run_cli("operation", "cancel", str(op_id))
    assert result.exit_code == 0, result.output
    assert f"operation {op_id} is being canceled" in result.output
    ended = wait_operation(stack, op_id, timeout=20)
    assert ended["status"] == "FAILED" and ended["job_status"] == "running", ended
    assert ended["error"].startswith(f"canceled by admin: job {job_id} is running and Ganeti did not cancel it ("), ended
    assert stack.server(server["id"])["status"] == "ACTIVE"  # as its cluster reports it: running

    # The job ends after all; the cluster's agent reports it and the server's record shows it.
    assert wait_job(cluster, job_id, timeout=LONG_S + 10)["status"] == "success"
    stack.celery.send_task("orchestrator.events.op_status", args=[{
        "cluster": cluster.name, "instance": f"snf-{server['id']}", "job_id": job_id, "opcode": REBOOT,
        "status": "success", "job_status": "success", "timestamp": time.time()}])
    assert stack.server(server["id"])["backend_job_status"] == "running"
    shown = wait_for(lambda: (lambda s: s if s["backend_job_status"] == "success" else None)(stack.server(server["id"])),
                     20, what="the late end of the job to be recorded")
    assert shown["backend_job_id"] == job_id and shown["status"] == "ACTIVE"
    assert operation(stack, op_id)["status"] == "FAILED"  # the operation's end stays as it was said


def test_cancel_refuses_what_has_ended_or_does_not_exist(stack):
    server = active_server(stack, name="cancel-done")
    op_id = server["operation"]["id"]
    result = run_cli("operation", "cancel", str(op_id))
    assert result.exit_code != 0
    assert f"operation {op_id} is SUCCEEDED; only operations in flight can be canceled" in result.output
    missing = run_cli("operation", "cancel", "999999")
    assert missing.exit_code != 0 and "operation 999999 not found" in missing.output
    response = stack.client.post("/api/v1/operations/999999/cancel", headers=stack.admin_headers)
    assert response.status_code == 404 and response.json["message"] == "operation 999999 not found"
