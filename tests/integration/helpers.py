"""Small helpers shared by the integration tests: RAPI reads over HTTP, user tokens."""
from __future__ import annotations

import contextlib

import requests

from orchestrator import auth

RAPI_AUTH = ("rapi", "rapi-secret")


def instances_named(stack, name: str) -> list[dict]:
    """The instance `name` as every simulated cluster reports it (GET /2/instances?bulk=1)."""
    found = []
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/instances", params={"bulk": 1}, auth=RAPI_AUTH, timeout=5)
        response.raise_for_status()
        found += [dict(inst, cluster=cluster.name) for inst in response.json() if inst["name"] == name]
    return found


def user_headers(stack, user_id: str, admin: bool = False) -> dict[str, str]:
    with stack.session() as session:
        _row, token = auth.create_token(session, user_id, admin=admin)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def act(stack, server_id: int, headers=None, **body):
    return stack.client.post(f"/api/v1/servers/{server_id}/actions", json=body, headers=headers or stack.admin_headers)


def operation(stack, op_id: int) -> dict:
    response = stack.client.get(f"/api/v1/operations/{op_id}", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def wait_operation(stack, op_id: int, timeout: float = 30.0) -> dict:
    from tests.conftest import wait_for

    return wait_for(lambda: (lambda op: op if op["status"] in ("SUCCEEDED", "FAILED") else None)(
        operation(stack, op_id)), timeout, what=f"operation {op_id} to end")


def active_server(stack, headers=None, **body) -> dict:
    status, created = stack.create_server(headers=headers, **body)
    assert status == 202, created
    server = stack.wait_status(created["id"], {"ACTIVE", "ERROR"})
    assert server["status"] == "ACTIVE", server
    return {**server, "config_url": created.get("config_url"), "operation": created["operation"]}


def fail_next_jobs(stack, count: int) -> None:
    for cluster in stack.sim.clusters:
        response = requests.post(f"{cluster.url}/sim/faults", json={"fail_next_jobs": count}, auth=RAPI_AUTH, timeout=5)
        assert response.status_code in (200, 204), response.text


def clear_faults(stack) -> None:
    for cluster in stack.sim.clusters:
        requests.delete(f"{cluster.url}/sim/faults", auth=RAPI_AUTH, timeout=5).raise_for_status()


@contextlib.contextmanager
def jobs_failing(stack, count: int = 1):
    """The next `count` jobs of every cluster fail; the faults are cleared afterwards."""
    fail_next_jobs(stack, count)
    try:
        yield
    finally:
        clear_faults(stack)


@contextlib.contextmanager
def creates_failing(stack):
    """Every OP_INSTANCE_CREATE job fails until the block ends; jobs of other kinds run (a
    stray job of an earlier test cannot take the failure, as with jobs_failing)."""
    set_faults(stack, op_failure_rate={"OP_INSTANCE_CREATE": 1.0})
    try:
        yield
    finally:
        clear_faults(stack)


def failed_create(stack, name: str) -> tuple[dict, dict]:
    """A create whose Ganeti job fails: the create's answer and its FAILED operation."""
    with creates_failing(stack):
        _status, created = stack.create_server(name=name)
        op = wait_operation(stack, created["operation"]["id"])
    assert op["status"] == "FAILED", op
    return created, op


def set_faults(stack, **faults) -> None:
    for cluster in stack.sim.clusters:
        response = requests.post(f"{cluster.url}/sim/faults", json=faults, auth=RAPI_AUTH, timeout=5)
        assert response.status_code in (200, 204), response.text
