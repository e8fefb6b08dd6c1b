"""Kill drill for servers' NICs: worker processes die with SIGKILL at each step while servers
are created on a private network (which their creates put on both backends: network_create
operations, crashed at the same step), while a port is connected to each running server
(a hot-added NIC) and while a port is removed from each (a hot-removed NIC). Every operation
still ends as asked, and each Ganeti network, instance and NIC exists once: one add and one
connect job per network and cluster, one create job per instance, one modify job per NIC
change, and the pool's free count exact afterwards."""
from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from orchestrator.models import Backend
from tests.conftest import record_drill
from tests.drills.test_kill_drill import CREATE_POINTS, _crashing_worker, _wait_all_ended
from tests.integration.helpers import RAPI_AUTH, user_headers

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PER_POINT = 4  # servers per crash point, half on each backend


def _jobs(stack) -> dict[str, Counter]:
    """Instance or network name -> how many jobs of each opcode were sent about it."""
    found: dict[str, Counter] = {}
    for cluster in stack.sim.clusters:
        for job in requests.get(f"{cluster.url}/2/jobs", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10).json():
            op = job["ops"][0]
            name = op.get("instance_name") or op.get("network_name")
            found.setdefault(f"{cluster.name}/{name}", Counter())[op.get("OP_ID")] += 1
    return found


def _nics(stack) -> dict[str, list[str]]:
    """Instance name -> its NICs' names, as its cluster reports them."""
    found: dict[str, list[str]] = {}
    for cluster in stack.sim.clusters:
        for inst in requests.get(f"{cluster.url}/2/instances", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10).json():
            found[inst["name"]] = list(inst["nic.names"])
    return found


def _ports(stack, headers, server_id: int) -> list[dict]:
    response = stack.client.get(f"/api/v1/ports?device_id={server_id}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["ports"]


def _phase(stack, op_ids: list[int]) -> tuple[int, list]:
    ops = _wait_all_ended(stack, op_ids, timeout=240)
    failed = [(op.id, op.kind, op.error) for op in ops.values() if op.status != "SUCCEEDED"]
    return len(ops) - len(failed), failed


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", CREATE_POINTS)
def test_nics_survive_sigkill_at_each_step(drill_stack, point, tmp_path):
    stack = drill_stack
    alice = user_headers(stack, "alice")
    prefix = stack.ctx.settings.backend_prefix_id
    slug = CREATE_POINTS.index(point)
    net = stack.client.post("/api/v1/networks", json={"name": f"kill-lan-{slug}"}, headers=alice).json
    subnet = stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": f"10.{120 + slug}.0.0/24"},
                               headers=alice).json
    with stack.session() as session:
        backends = [b.id for b in session.query(Backend).order_by(Backend.id)]
    worker = _crashing_worker(stack, point, tmp_path).start()
    started = time.monotonic()
    failed: list = []
    try:
        created = [stack.create_server(name=f"nic-{slug}-{i}", user_id="alice", backend_id=backends[i % 2],
                                       networks=[{"network_id": net["id"]}])[1] for i in range(PER_POINT)]
        succeeded, bad = _phase(stack, [c["operation"]["id"] for c in created])
        failed += bad
        first_ports = {c["id"]: _ports(stack, alice, c["id"]) for c in created}
        connects = [stack.client.post("/api/v1/ports", json={"network_id": net["id"], "device_id": c["id"]},
                                      headers=alice).json for c in created]
        added, bad = _phase(stack, [c["operation"]["id"] for c in connects])
        failed += bad
        removals = [stack.client.delete(f"/api/v1/ports/{first_ports[c['id']][0]['id']}", headers=alice).json
                    for c in created]
        removed, bad = _phase(stack, [r["operation"]["id"] for r in removals])
        failed += bad
    finally:
        worker.stop()
    crashes = len(list((tmp_path / f"crash-{point}").iterdir()))
    jobs, nics = _jobs(stack), _nics(stack)
    name = f"{prefix}net-{net['id']}"
    lost = duplicated = 0
    for server, connect in zip(created, connects):
        inst = f"{prefix}{server['id']}"
        shown = [p["id"] for p in _ports(stack, alice, server["id"])]
        lost += int(nics.get(inst) != [f"{prefix}nic-{connect['id']}"] or shown != [connect["id"]])
        sent = sum((c for key, c in jobs.items() if key.endswith(f"/{inst}")), Counter())
        duplicated += int(sent != Counter({"OP_INSTANCE_CREATE": 1, "OP_INSTANCE_SET_PARAMS": 2}))
    for cluster in stack.sim.clusters:
        duplicated += int(jobs.get(f"{cluster.name}/{name}") != Counter({"OP_NETWORK_ADD": 1, "OP_NETWORK_CONNECT": 1}))
    free = stack.client.get(f"/api/v1/subnets/{subnet['id']}/inspect", headers=alice).json["pool"]["free"]
    record_drill(f"SIGKILL at {point}: servers on a private network, NIC add and remove",
                 3 * PER_POINT, succeeded + added + removed, lost, duplicated, time.monotonic() - started,
                 extra=f"{crashes} workers killed; pool free {free}")
    assert crashes >= 1, "the crash point was never reached"
    assert failed == []
    assert (lost, duplicated) == (0, 0), (nics, jobs)
    assert free == 253 - PER_POINT  # a /24 less network, broadcast and gateway, less the ports held
