"""Kill drill for network operations: worker processes die with SIGKILL at each step of the
network_create chain (after OP_NETWORK_ADD reached Ganeti and before the database knew,
after a poll saw the jobs end, before finalize committed); every public network still
reaches every backend, each once: one add job and one connect job per group, no second
Ganeti network, nothing lost."""
from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from tests.conftest import record_drill
from tests.drills.test_kill_drill import _crashing_worker, _wait_all_ended
from tests.integration.helpers import RAPI_AUTH

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PER_POINT = 4
POINTS = ["submit.after_write", "poll.before_commit", "finalize.before_commit"]


def _jobs_by_network(stack) -> dict[tuple[str, str], Counter]:
    """(cluster, network name) -> how many jobs of each opcode were sent about it."""
    found: dict[tuple[str, str], Counter] = {}
    for cluster in stack.sim.clusters:
        jobs = requests.get(f"{cluster.url}/2/jobs", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10).json()
        for job in jobs:
            op = job["ops"][0]
            if op.get("OP_ID", "").startswith("OP_NETWORK_"):
                found.setdefault((cluster.name, op.get("network_name")), Counter())[op["OP_ID"]] += 1
    return found


def _ganeti_networks(stack) -> Counter:
    counts: Counter = Counter()
    for cluster in stack.sim.clusters:
        for item in requests.get(f"{cluster.url}/2/networks", auth=RAPI_AUTH, timeout=10).json():
            counts[item["name"]] += 1
    return counts


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", POINTS)
def test_public_network_creates_survive_sigkill_at_each_step(drill_stack, point, tmp_path):
    stack = drill_stack
    worker = _crashing_worker(stack, point, tmp_path).start()
    started = time.monotonic()
    slug = point.replace(".", "-").replace("_", "-")
    try:
        created = []
        for i in range(PER_POINT):
            response = stack.client.post("/api/v1/networks", headers=stack.admin_headers, json={
                "name": f"kill-{slug}-{i}", "type": "CUSTOM", "shared": True,
                "cidr": f"10.{POINTS.index(point) + 100}.{i}.0/24"})
            assert response.status_code == 202, response.json
            created.append(response.json)
        op_ids = [op["id"] for net in created for op in net["operations"]]
        ops = _wait_all_ended(stack, op_ids, timeout=180)
    finally:
        worker.stop()
    crashes = len(list((tmp_path / f"crash-{point}").iterdir()))
    prefix = stack.ctx.settings.backend_prefix_id
    names = [f"{prefix}net-{net['id']}" for net in created]
    networks = _ganeti_networks(stack)
    jobs = _jobs_by_network(stack)
    clusters = [c.name for c in stack.sim.clusters]
    lost = sum(1 for name in names if networks[name] < len(clusters))
    duplicated = sum(1 for name in names for cl in clusters
                     if jobs.get((cl, name), Counter())["OP_NETWORK_ADD"] > 1
                     or jobs.get((cl, name), Counter())["OP_NETWORK_CONNECT"] > 1)
    states = Counter(stack.client.get(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers).json["status"]
                     for net in created)
    record_drill(f"SIGKILL at network_create {point}", len(op_ids),
                 sum(1 for op in ops.values() if op.status == "SUCCEEDED"), lost, duplicated,
                 time.monotonic() - started, extra=f"{crashes} workers killed")
    assert crashes >= 1, "the crash point was never reached"
    assert all(op.status == "SUCCEEDED" for op in ops.values()), {op.id: op.error for op in ops.values()}
    assert states == Counter({"ACTIVE": PER_POINT}), states
    assert (lost, duplicated) == (0, 0), jobs
    for name in names:
        for cl in clusters:
            assert jobs[(cl, name)] == Counter({"OP_NETWORK_ADD": 1, "OP_NETWORK_CONNECT": 1}), (cl, name, jobs)


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", ["submit.after_write", "finalize.before_commit"])
def test_public_network_removals_survive_sigkill(drill_stack, point, tmp_path):
    from tests.conftest import Worker

    stack = drill_stack
    slug = point.replace(".", "-").replace("_", "-")
    plain = Worker(stack.env, stack.tmp / "worker-setup.log", concurrency=4, name="setup").start()
    try:
        created = []
        for i in range(PER_POINT):
            response = stack.client.post("/api/v1/networks", headers=stack.admin_headers, json={
                "name": f"gone-{slug}-{i}", "type": "CUSTOM", "shared": True,
                "cidr": f"10.{POINTS.index(point) + 110}.{i}.0/24"})
            assert response.status_code == 202, response.json
            created.append(response.json)
        ops = _wait_all_ended(stack, [op["id"] for net in created for op in net["operations"]])
        assert all(op.status == "SUCCEEDED" for op in ops.values())
    finally:
        plain.stop()
    worker = _crashing_worker(stack, point, tmp_path).start()
    started = time.monotonic()
    try:
        removals = [stack.client.delete(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers)
                    for net in created]
        assert all(r.status_code == 202 for r in removals), [r.json for r in removals]
        op_ids = [op["id"] for r in removals for op in r.json["operations"] if op["kind"] == "network_remove"]
        ops = _wait_all_ended(stack, op_ids, timeout=180)
    finally:
        worker.stop()
    crashes = len(list((tmp_path / f"crash-{point}").iterdir()))
    prefix = stack.ctx.settings.backend_prefix_id
    names = [f"{prefix}net-{net['id']}" for net in created]
    networks = _ganeti_networks(stack)
    jobs = _jobs_by_network(stack)
    clusters = [c.name for c in stack.sim.clusters]
    left = sum(networks[name] for name in names)
    gone = sum(1 for net in created
               if stack.client.get(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers).status_code == 404)
    record_drill(f"SIGKILL at network_remove {point}", len(op_ids),
                 sum(1 for op in ops.values() if op.status == "SUCCEEDED"), PER_POINT - gone, left,
                 time.monotonic() - started, extra=f"{crashes} workers killed; {left} Ganeti networks left")
    assert crashes >= 1, "the crash point was never reached"
    assert all(op.status == "SUCCEEDED" for op in ops.values()), {op.id: op.error for op in ops.values()}
    assert (left, gone) == (0, PER_POINT)
    for name in names:
        for cl in clusters:
            assert jobs[(cl, name)] == Counter({"OP_NETWORK_ADD": 1, "OP_NETWORK_CONNECT": 1,
                                                "OP_NETWORK_DISCONNECT": 1, "OP_NETWORK_REMOVE": 1}), (cl, name)
