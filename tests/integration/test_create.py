"""The walking skeleton: a server created through the API, a real worker and simulated clusters."""
from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import func, select

from orchestrator.models import Operation, Server

pytestmark = pytest.mark.integration


def cluster_instances(stack, name: str) -> list[str]:
    """Which simulated clusters list `name` in GET /2/instances, over HTTP."""
    found = []
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/instances", auth=("rapi", "rapi-secret"), timeout=5)
        response.raise_for_status()
        if any(item["id"] == name for item in response.json()):
            found.append(cluster.name)
    return found


def test_create_reaches_active_on_exactly_one_cluster(stack):
    started = time.monotonic()
    status, body = stack.create_server(name="web1")
    assert status == 202, body
    assert body["status"] == "BUILD"
    assert body["operation"]["kind"] == "create"
    assert body["operation"]["status"] in ("PENDING", "RUNNING")

    server = stack.wait_status(body["id"], {"ACTIVE", "ERROR"}, timeout=30)
    assert server["status"] == "ACTIVE", server
    assert time.monotonic() - started < 30
    assert server["backend_id"] is not None
    assert server["backend_opcode"] == "OP_INSTANCE_CREATE"
    assert server["backend_job_status"] == "success"
    assert cluster_instances(stack, f"snf-{body['id']}") == [
        stack.sim.clusters[server["backend_id"] - 1].name
    ]
    with stack.session() as session:
        op = session.get(Operation, body["operation"]["id"])
        assert (op.status, op.step, op.error) == ("SUCCEEDED", "done", None)
        assert op.job_id == server["backend_job_id"]


def _precreate(stack, name: str) -> None:
    """Create `name` on every cluster behind the product's back, through RAPI."""
    for cluster in stack.sim.clusters:
        response = requests.post(
            f"{cluster.url}/2/instances",
            auth=("rapi", "rapi-secret"),
            json={"__version__": 1, "mode": "create", "instance_name": name, "disk_template": "plain",
                  "disks": [{"size": 1024}], "nics": [{}], "os_type": "snf-image+default",
                  "beparams": {"maxmem": 512, "vcpus": 1}, "name_check": False, "ip_check": False},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        job_id = response.json()

        def done():
            job = requests.get(f"{cluster.url}/2/jobs/{job_id}", auth=("rapi", "rapi-secret"), timeout=5).json()
            return job["status"] in ("success", "error") and job

        from tests.conftest import wait_for

        assert wait_for(done, 10, what="pre-create job")["status"] == "success"


def test_name_clash_ends_in_error_with_ganetis_message(stack):
    with stack.session() as session:
        next_id = (session.scalar(select(func.max(Server.id))) or 0) + 1
    _precreate(stack, f"snf-{next_id}")

    status, body = stack.create_server(name="clash")
    assert status == 202, body
    assert body["id"] == next_id
    server = stack.wait_status(body["id"], {"ACTIVE", "ERROR"}, timeout=30)
    assert server["status"] == "ERROR"
    assert "already" in (server["backend_log_msg"] or "")
    with stack.session() as session:
        op = session.get(Operation, body["operation"]["id"])
        assert op.status == "FAILED"
        assert f"snf-{next_id}" in op.error and "already" in op.error
