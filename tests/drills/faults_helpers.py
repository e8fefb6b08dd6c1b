"""Shared by the RAPI-fault and cluster-down drills: the stack with its worker swapped for
a drill's own, the actions to run on existing servers, and what the clusters hold (read
over RAPI, as an operator would) to count lost and duplicated work."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import select

from orchestrator.models import IN_FLIGHT, Operation
from tests.conftest import Stack, Worker, wait_for
from tests.drills.scale import FULL
from tests.integration.helpers import RAPI_AUTH

# (action, the API status it starts from, the API status it must end in). "start" needs a
# stopped server: the drills stop those before the faults begin.
ACTION_MIX = (("shutdown", "ACTIVE", "STOPPED"), ("reboot", "ACTIVE", "ACTIVE"), ("start", "STOPPED", "ACTIVE"))
# What the cluster says about an instance in each API status.
RUNNING = {"ACTIVE": True, "STOPPED": False}
OP_REASON = re.compile(r"^orchestrator:op:(\d+)(?::\d+)?$")  # any attempt of the operation


@dataclass
class DrillStack:
    """The session's stack while a drill owns it: its normal worker is stopped and the
    servers the drill made are listed, to be destroyed afterwards."""

    stack: Stack
    servers: list[int] = field(default_factory=list)


@pytest.fixture
def fault_stack(stack, tmp_path) -> Iterator[DrillStack]:
    """The stack with its normal worker stopped, to be replaced by the drill's own.

    Afterwards, whatever happened: faults off, every cluster up and its backend online, the
    drill's servers destroyed in the full form (so later drills on this stack keep the
    fleet's room), the normal worker back.
    """
    stack.worker.stop()
    drill = DrillStack(stack)
    try:
        yield drill
    finally:
        for cluster in stack.sim.clusters:
            cluster.faults.reset()
            cluster.up()
        for backend in stack.client.get("/api/v1/backends", headers=stack.admin_headers).json:
            # An answer lifts an offline mark a refresh set (a drill that stopped half-way).
            stack.client.post(f"/api/v1/backends/{backend['id']}/refresh", headers=stack.admin_headers)
        try:
            _destroy(drill, tmp_path)
        finally:
            stack.worker.start()


def _destroy(drill: DrillStack, tmp_path) -> None:
    """Only in the full form: its hundreds of servers would fill the fleet for the drills
    after it; the short form's few dozen leave room, as the other drills' servers do."""
    stack = drill.stack
    if not drill.servers or not FULL:
        return
    worker = Worker(stack.env, tmp_path / "worker-cleanup.log", concurrency=12, name="drill-cleanup").start()
    try:
        op_ids = []
        for server_id in drill.servers:
            response = stack.client.delete(f"/api/v1/servers/{server_id}", headers=stack.admin_headers)
            if response.status_code == 202:
                op_ids.append(response.json["id"])
        wait_ended(stack, op_ids, timeout=300)
    finally:
        worker.stop()


def wait_ended(stack: Stack, op_ids: list[int], timeout: float) -> None:
    """Until none of the operations is in flight (read from the database: cheap to poll)."""
    def ended():
        with stack.session() as session:
            statuses = session.scalars(select(Operation.status).where(Operation.id.in_(op_ids))).all()
            return len(statuses) == len(op_ids) and all(s not in IN_FLIGHT for s in statuses)

    try:
        wait_for(ended, timeout, interval=0.5, what=f"{len(op_ids)} drill operations to end")
    except AssertionError as exc:  # say which are stuck, where, and on what
        with stack.session() as session:
            stuck = [(op.id, op.kind, op.status, op.step, op.attempts, op.error) for op in session.scalars(
                select(Operation).where(Operation.id.in_(op_ids), Operation.status.in_(IN_FLIGHT)))]
        raise AssertionError(f"{exc}; in flight: {stuck[:20]}") from None


def api_operation(stack: Stack, op_id: int) -> dict:
    response = stack.client.get(f"/api/v1/operations/{op_id}", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def act(stack: Stack, server_id: int, action: str) -> dict:
    response = stack.client.post(f"/api/v1/servers/{server_id}/actions", json={"action": action},
                                 headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    return response.json


def create(stack: Stack, drill: DrillStack, name: str, **body) -> tuple[int, int]:
    """A create through the API: (server id, operation id)."""
    status, created = stack.create_server(name=name, **body)
    assert status == 202, created
    drill.servers.append(created["id"])
    return created["id"], created["operation"]["id"]


def active_servers(drill: DrillStack, count: int, prefix: str, timeout: float = 120, **body) -> list[int]:
    """`count` ACTIVE servers made before any fault, the last third of them stopped so
    that they can be started (ACTION_MIX's order)."""
    stack = drill.stack
    ids = [create(stack, drill, f"{prefix}-{i}", **body)[0] for i in range(count)]
    for server_id in ids:
        assert stack.wait_status(server_id, {"ACTIVE", "ERROR"}, timeout=timeout)["status"] == "ACTIVE"
    stops = [act(stack, sid, "shutdown")["id"] for i, sid in enumerate(ids) if ACTION_MIX[i % 3][0] == "start"]
    wait_ended(stack, stops, timeout)
    for i, sid in enumerate(ids):
        assert stack.server(sid)["status"] == ACTION_MIX[i % 3][1]
    return ids


def cluster_instances(stack: Stack) -> dict[str, list[dict]]:
    """Every instance of every simulated cluster by name (GET /2/instances?bulk=1), each
    with the cluster that holds it: more than one entry for a name is a duplicate."""
    found: dict[str, list[dict]] = {}
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/instances", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10)
        response.raise_for_status()
        for inst in response.json():
            found.setdefault(inst["name"], []).append(dict(inst, cluster=cluster.name))
    return found


def jobs_per_operation(stack: Stack) -> Counter:
    """How many Ganeti jobs each operation submitted, by the reason trail every write
    carries (GET /2/jobs?bulk=1 on every cluster). Exactly one per operation that reached
    Ganeti; two would be a write sent twice."""
    counts: Counter = Counter()
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/jobs", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10)
        response.raise_for_status()
        for job in response.json():
            owners = {int(m.group(1)) for op in job.get("ops") or [] for entry in op.get("reason") or []
                      if len(entry) > 1 and isinstance(entry[1], str) and (m := OP_REASON.match(entry[1]))}
            for op_id in owners:
                counts[op_id] += 1
    return counts


def log_count(path, needle: str) -> int:
    """Lines of a worker's log that contain `needle` (e.g. its transient-error retries)."""
    try:
        return sum(1 for line in open(path, errors="replace") if needle in line)
    except FileNotFoundError:
        return 0
