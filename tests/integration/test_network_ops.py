"""Public networks on the backends, end to end on real workers and simulated clusters: an
administrator's create makes one network_create operation per backend (OP_NETWORK_ADD,
then OP_NETWORK_CONNECT for every node group, depending on the add job), each backend's
row and the network itself become ACTIVE, and Ganeti's networks carry the subnet's CIDR,
its gateway and the network's MAC prefix. A failing add ends its operation FAILED with the
job's error, and a retry succeeds. Users may not create public networks. A public network
is removed from every backend (OP_NETWORK_DISCONNECT, then OP_NETWORK_REMOVE depending on
it) and deleted by the last removal, its MAC prefix back in its pool."""
from __future__ import annotations

import itertools

import pytest
import requests

from tests.integration.helpers import RAPI_AUTH, clear_faults, set_faults, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)]

_cidrs = (f"203.0.{i}.0/24" for i in itertools.count(113))


def ganeti_networks(stack, name: str) -> list[dict]:
    """The Ganeti network `name` as every simulated cluster reports it (None where absent)."""
    found = []
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/networks", params={"bulk": 1}, auth=RAPI_AUTH, timeout=5)
        response.raise_for_status()
        found.append(next((dict(n, cluster=cluster.name) for n in response.json() if n["name"] == name), None))
    return found


def create_public(stack, **body):
    body.setdefault("name", "public")
    body.setdefault("type", "CUSTOM")
    body.setdefault("shared", True)
    body.setdefault("cidr", next(_cidrs))
    response = stack.client.post("/api/v1/networks", json=body, headers=stack.admin_headers)
    return response.status_code, response.json


def network(stack, network_id: int) -> dict:
    response = stack.client.get(f"/api/v1/networks/{network_id}", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def prefix(stack) -> str:
    return stack.ctx.settings.backend_prefix_id


def test_a_public_network_reaches_every_backend_with_its_groups_connected(stack):
    status, created = create_public(stack, name="pub-all", cidr="198.18.10.0/24", mac_prefix="aa:10:0")
    assert status == 202, created
    assert created["status"] == "PENDING" and created["shared"] is True and created["user_id"] is None
    assert len(created["operations"]) == len(stack.sim.clusters) == 2
    assert {op["kind"] for op in created["operations"]} == {"network_create"}
    ops = [wait_operation(stack, op["id"], timeout=60) for op in created["operations"]]
    assert [op["status"] for op in ops] == ["SUCCEEDED"] * 2, ops
    assert all(op["network_id"] == created["id"] for op in ops)
    shown = network(stack, created["id"])
    assert shown["status"] == "ACTIVE"
    assert sorted(b["status"] for b in shown["backends"]) == ["ACTIVE", "ACTIVE"]
    assert {b["backend_id"] for b in shown["backends"]} == {op["backend_id"] for op in ops}
    name = f"{prefix(stack)}net-{created['id']}"
    on_clusters = ganeti_networks(stack, name)
    assert all(n is not None for n in on_clusters), on_clusters
    for n in on_clusters:
        assert n["network"] == "198.18.10.0/24"
        assert n["gateway"] == "198.18.10.1"
        assert n["mac_prefix"] == "aa:10:00"
        assert [g[0] for g in n["group_list"]] == ["default"]
        assert n["group_list"][0][1:3] == [shown["mode"], shown["link"]]
        assert "orchestrator:op:" in " ".join(n.get("tags") or [])
    for cluster, op in zip(stack.sim.clusters, sorted(ops, key=lambda o: o["backend_id"])):
        jobs = [j for j in cluster_jobs(cluster) if any(name in str(o) for o in j["ops"])]
        add = [j for j in jobs if j["ops"][0]["OP_ID"] == "OP_NETWORK_ADD"]
        connects = [j for j in jobs if j["ops"][0]["OP_ID"] == "OP_NETWORK_CONNECT"]
        assert len(add) == 1 and len(connects) == 1, jobs
        assert connects[0]["ops"][0]["depends"] == [[add[0]["id"], ["success"]]]
        assert add[0]["ops"][0]["mac_prefix"] == "aa:10:00" and not add[0]["ops"][0].get("add_reserved_ips")
        assert all(f"orchestrator:op:{op['id']}" in str(j["ops"][0]["reason"]) for j in add + connects)


def cluster_jobs(cluster) -> list[dict]:
    response = requests.get(f"{cluster.url}/2/jobs", params={"bulk": 1}, auth=RAPI_AUTH, timeout=5)
    response.raise_for_status()
    return response.json()


def test_a_public_network_on_the_backends_named_only(stack):
    with stack.session() as session:
        from orchestrator.models import Backend

        first = session.query(Backend).order_by(Backend.id).first().id
    status, created = create_public(stack, name="pub-one", backend_ids=[first])
    assert status == 202, created
    assert [op["backend_id"] for op in created["operations"]] == [first]
    assert wait_operation(stack, created["operations"][0]["id"], timeout=60)["status"] == "SUCCEEDED"
    assert network(stack, created["id"])["status"] == "ACTIVE"
    found = ganeti_networks(stack, f"{prefix(stack)}net-{created['id']}")
    assert sum(1 for n in found if n is not None) == 1


def test_a_failing_add_fails_its_operation_with_the_job_error_and_a_retry_succeeds(stack):
    set_faults(stack, op_failure_rate={"OP_NETWORK_ADD": 1.0}, message="no room for the network here")
    try:
        status, created = create_public(stack, name="pub-fail")
        assert status == 202, created
        ops = [wait_operation(stack, op["id"], timeout=60) for op in created["operations"]]
    finally:
        clear_faults(stack)
    assert [op["status"] for op in ops] == ["FAILED"] * 2, ops
    assert all("no room for the network here" in op["error"] for op in ops), ops
    shown = network(stack, created["id"])
    assert shown["status"] == "ERROR"
    assert [b["status"] for b in shown["backends"]] == ["ERROR", "ERROR"]
    assert ganeti_networks(stack, f"{prefix(stack)}net-{created['id']}") == [None, None]

    retried = [stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=stack.admin_headers) for op in ops]
    assert [r.status_code for r in retried] == [202, 202], [r.json for r in retried]
    assert network(stack, created["id"])["status"] == "PENDING"
    ops = [wait_operation(stack, op["id"], timeout=60) for op in ops]
    assert [op["status"] for op in ops] == ["SUCCEEDED"] * 2, ops
    assert network(stack, created["id"])["status"] == "ACTIVE"
    found = ganeti_networks(stack, f"{prefix(stack)}net-{created['id']}")
    assert all(n is not None and [g[0] for g in n["group_list"]] == ["default"] for n in found), found


def test_users_may_not_create_public_networks(stack):
    headers = user_headers(stack, "net-user")
    response = stack.client.post("/api/v1/networks", json={"name": "mine", "shared": True, "cidr": "198.18.20.0/24"},
                                 headers=headers)
    assert response.status_code == 403, response.json
    assert "shared" in str(response.json)


def test_a_public_network_is_removed_from_every_backend_then_deleted_and_its_values_released(stack):
    from orchestrator.models import Network, Pool

    def free_prefixes():
        with stack.session() as session:
            return session.query(Pool).filter(Pool.type == "mac-prefix", Pool.deleted.is_(False)).one().free

    before = free_prefixes()
    status, created = create_public(stack, name="pub-gone", type="MAC_FILTERED")
    assert status == 202, created
    assert free_prefixes() == before - 1
    for op in created["operations"]:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    name = f"{prefix(stack)}net-{created['id']}"
    assert all(n is not None for n in ganeti_networks(stack, name))

    response = stack.client.delete(f"/api/v1/networks/{created['id']}", headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    removals = [op for op in response.json["operations"] if op["kind"] == "network_remove"]
    assert len(removals) == 2
    again = stack.client.delete(f"/api/v1/networks/{created['id']}", headers=stack.admin_headers)
    assert again.status_code in (409, 404), again.json  # in flight, or already deleted
    for op in removals:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    assert ganeti_networks(stack, name) == [None, None]
    with stack.session() as session:
        row = session.get(Network, created["id"])
        assert (row.deleted, row.state) == (True, "DELETED")
        assert [b.state for b in row.backend_networks] == ["DELETED", "DELETED"]
        assert all(s.deleted for s in row.subnets)
    assert free_prefixes() == before
    assert stack.client.get(f"/api/v1/networks/{created['id']}", headers=stack.admin_headers).status_code == 404
    for cluster in stack.sim.clusters:
        jobs = [j for j in cluster_jobs(cluster) if name in str(j["ops"])]
        disconnects = [j for j in jobs if j["ops"][0]["OP_ID"] == "OP_NETWORK_DISCONNECT"]
        removes = [j for j in jobs if j["ops"][0]["OP_ID"] == "OP_NETWORK_REMOVE"]
        assert len(disconnects) == 1 and len(removes) == 1, jobs
        assert removes[0]["ops"][0]["depends"] == [[disconnects[0]["id"], ["success"]]]


def test_a_private_network_is_still_created_at_once(stack):
    response = stack.client.post("/api/v1/networks", json={"name": "private", "type": "CUSTOM"},
                                 headers=stack.admin_headers)
    assert response.status_code == 201, response.json
    assert response.json["status"] == "ACTIVE" and response.json["operations"] == []


def test_the_cli_creates_a_public_network_on_the_backend_named(stack):
    import json

    from click.testing import CliRunner

    from orchestrator.cli import main
    from orchestrator.models import Backend

    with stack.session() as session:
        last = session.query(Backend).order_by(Backend.id.desc()).first().id
    result = CliRunner().invoke(main, ["network", "create", "--name", "cli-pub", "--flavor", "CUSTOM", "--public",
                                       "--backend", str(last), "--cidr", "198.18.30.0/24", "--gateway", "198.18.30.254",
                                       "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["public"] is True and created["state"] == "PENDING", created
    assert created["backends"] == [f"{last}:PENDING"]
    op_id = int(created["operations"][0].split(":")[0])
    assert wait_operation(stack, op_id, timeout=60)["status"] == "SUCCEEDED"
    found = [n for n in ganeti_networks(stack, f"{prefix(stack)}net-{created['id']}") if n is not None]
    assert [(n["network"], n["gateway"]) for n in found] == [("198.18.30.0/24", "198.18.30.254")]
    refused = CliRunner().invoke(main, ["network", "create", "--name", "cli-priv", "--backend", str(last)])
    assert refused.exit_code == 1 and "--public" in refused.output
    removing = CliRunner().invoke(main, ["network", "remove", str(created["id"])], catch_exceptions=False)
    assert removing.exit_code == 0 and "being removed from its backends" in removing.output, removing.output
    remove_id = int(removing.output.strip().rsplit(" ", 1)[1])
    assert wait_operation(stack, remove_id, timeout=60)["status"] == "SUCCEEDED"
    assert ganeti_networks(stack, f"{prefix(stack)}net-{created['id']}") == [None, None]


def test_a_cancel_stops_the_jobs_it_can_and_a_retry_connects_what_the_add_left(stack):
    """The add runs long; an operator's cancel cancels the connect waiting on it and cannot
    cancel the add (running): the operation fails at once, the backend's row is ERROR. The
    add ends on its own; a retry adds no second network and only connects the group."""
    from orchestrator.models import Backend
    from tests.conftest import wait_for
    from tests.integration.helpers import operation

    queues = [c.queue for c in stack.sim.clusters]
    for queue in queues:
        queue.op_durations["OP_NETWORK_ADD"] = 6.0
    try:
        with stack.session() as session:
            first = session.query(Backend).order_by(Backend.id).first().id
        status, created = create_public(stack, name="pub-cancel", backend_ids=[first])
        assert status == 202, created
        op_id = created["operations"][0]["id"]
        wait_for(lambda: operation(stack, op_id)["job_status"] == "running", 20, what="the add to run")
        response = stack.client.post(f"/api/v1/operations/{op_id}/cancel", headers=stack.admin_headers)
        assert response.status_code == 202, response.json
        op = wait_operation(stack, op_id, timeout=20)
        assert op["status"] == "FAILED" and "canceled by" in op["error"] and "did not cancel" in op["error"], op
        assert network(stack, created["id"])["backends"][0]["status"] == "ERROR"
        name = f"{prefix(stack)}net-{created['id']}"
        cluster = stack.sim.clusters[0]
        wait_for(lambda: ganeti_networks(stack, name)[0] is not None, 20, what="the add to end on its own")
    finally:
        for queue in queues:
            queue.op_durations.pop("OP_NETWORK_ADD", None)
    jobs = [j for j in cluster_jobs(cluster) if name in str(j["ops"])]
    assert sorted((j["ops"][0]["OP_ID"], j["status"]) for j in jobs) == [
        ("OP_NETWORK_ADD", "success"), ("OP_NETWORK_CONNECT", "canceled")], jobs
    assert stack.client.post(f"/api/v1/operations/{op_id}/retry", headers=stack.admin_headers).status_code == 202
    assert wait_operation(stack, op_id, timeout=30)["status"] == "SUCCEEDED"
    assert network(stack, created["id"])["status"] == "ACTIVE"
    jobs = [j for j in cluster_jobs(cluster) if name in str(j["ops"])]
    assert sorted((j["ops"][0]["OP_ID"], j["status"]) for j in jobs) == [
        ("OP_NETWORK_ADD", "success"), ("OP_NETWORK_CONNECT", "canceled"), ("OP_NETWORK_CONNECT", "success")]
    assert [g[0] for g in ganeti_networks(stack, name)[0]["group_list"]] == ["default"]
