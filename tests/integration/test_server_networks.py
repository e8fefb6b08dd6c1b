"""Servers on a user's private network, end to end on real workers and simulated clusters.

A private network with a /29 subnet is on no backend until a server needs it: servers
created on it on two backends put it on both (network_create operations their create jobs
depend on, through Ganeti's `depends`), each server's NIC reaches Ganeti with its port's
name, address and MAC, and the address shown by the API is the one on the instance. A port
is connected to a running server (a hot-added NIC) and removed from it (a hot-removed NIC:
the port goes, its address back in the pool). Destroying the servers lets their ports go;
the network is then removed from both backends and deleted."""
from __future__ import annotations

import ipaddress

import pytest
import requests

from orchestrator.models import Backend
from tests.conftest import wait_for
from tests.integration.helpers import RAPI_AUTH, instances_named, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)]


def _json(response, status: int) -> dict:
    assert response.status_code == status, response.json
    return response.json


def _ports(stack, headers, server_id: int) -> list[dict]:
    return _json(stack.client.get(f"/api/v1/ports?device_id={server_id}", headers=headers), 200)["ports"]


def _instance(stack, server_id: int) -> dict:
    (inst,) = instances_named(stack, f"{stack.ctx.settings.backend_prefix_id}{server_id}")
    return inst


def _ganeti_network(stack, name: str) -> list[dict | None]:
    found = []
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/networks", params={"bulk": 1}, auth=RAPI_AUTH, timeout=5)
        response.raise_for_status()
        found.append(next((n for n in response.json() if n["name"] == name), None))
    return found


def _job(cluster, job_id: int) -> dict:
    response = requests.get(f"{cluster.url}/2/jobs/{job_id}", auth=RAPI_AUTH, timeout=5)
    response.raise_for_status()
    return response.json()


def _free(stack, headers, subnet_id: int) -> int:
    return _json(stack.client.get(f"/api/v1/subnets/{subnet_id}/inspect", headers=headers), 200)["pool"]["free"]


def test_a_private_network_carries_servers_on_two_backends_and_leaves_both(stack):
    alice = user_headers(stack, "alice")
    prefix = stack.ctx.settings.backend_prefix_id
    net = _json(stack.client.post("/api/v1/networks", json={"name": "lan"}, headers=alice), 201)
    assert net["status"] == "ACTIVE" and net["backends"] == []  # active at once, on no backend yet
    subnet = _json(stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "10.77.0.0/29"},
                                     headers=alice), 201)
    free_at_start = _free(stack, alice, subnet["id"])
    assert free_at_start == 5  # a /29 less its network, broadcast and gateway addresses
    _json(stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "fd00:77::/64", "ip_version": 6},
                            headers=alice), 201)
    with stack.session() as session:
        backends = [b.id for b in session.query(Backend).order_by(Backend.id)]
    assert len(backends) == 2

    created = []
    for backend_id, fixed in zip(backends, (None, "10.77.0.5")):
        nic = {"network_id": net["id"], **({"fixed_ip": fixed} if fixed else {})}
        status, body = stack.create_server(name=f"vm-{backend_id}", user_id="alice", backend_id=backend_id,
                                           networks=[nic])
        assert status == 202, body
        created.append(body)
    ops = [wait_operation(stack, body["operation"]["id"], timeout=90) for body in created]
    assert [op["status"] for op in ops] == ["SUCCEEDED", "SUCCEEDED"], ops

    # The network is on both backends now, connected, and each create job waited on its jobs.
    shown = _json(stack.client.get(f"/api/v1/networks/{net['id']}", headers=alice), 200)
    assert sorted(b["backend_id"] for b in shown["backends"]) == backends
    # Its jobs ended before the servers' (their `depends`); its own operations see that at
    # their next poll, which backs off while a job runs (POLL_MAX_INTERVAL_S).
    shown = wait_for(lambda: (lambda n: n if {b["status"] for b in n["backends"]} == {"ACTIVE"} else None)(
        _json(stack.client.get(f"/api/v1/networks/{net['id']}", headers=alice), 200)), 60,
        what="the network ACTIVE on both backends")
    assert {b["status"] for b in shown["backends"]} == {"ACTIVE"}
    assert all(n is not None and [g[0] for g in n["group_list"]] == ["default"]
               and (n["network"], n["network6"]) == ("10.77.0.0/29", "fd00:77::/64")
               for n in _ganeti_network(stack, f"{prefix}net-{net['id']}"))
    addresses = []
    for body, op, cluster in zip(created, ops, stack.sim.clusters):
        (port,) = _ports(stack, alice, body["id"])
        assert port["status"] == "ACTIVE" and port["network_id"] == net["id"]
        (address, v6) = [ip["ip_address"] for ip in port["fixed_ips"]]
        assert ipaddress.ip_address(address) in ipaddress.ip_network("10.77.0.0/29")
        assert ipaddress.ip_address(v6) in ipaddress.ip_network("fd00:77::/64")  # the EUI-64 of its MAC
        addresses.append(address)
        inst = _instance(stack, body["id"])
        assert inst["nic.ips"] == [address] and inst["nic.macs"] == [port["mac_address"]]
        assert inst["nic.names"] == [f"{prefix}nic-{port['id']}"]
        assert inst["nic.networks.names"] == [f"{prefix}net-{net['id']}"]
        create_job = _job(cluster, op["job_id"])
        assert create_job["ops"][0]["depends"], "the create waited on the network's jobs"
    assert addresses[1] == "10.77.0.5" and addresses[0] != addresses[1]
    assert _free(stack, alice, subnet["id"]) == free_at_start - 2

    # A second port hot-added to the first server, then the first one hot-removed from it.
    first = created[0]["id"]
    (old_port,) = _ports(stack, alice, first)
    added = _json(stack.client.post("/api/v1/ports", json={"network_id": net["id"], "device_id": first},
                                    headers=alice), 202)
    assert added["status"] == "BUILD" and added["device_id"] == first and added["operation"]["kind"] == "connect"
    assert wait_operation(stack, added["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    inst = _instance(stack, first)
    assert len(inst["nic.ips"]) == 2 and inst["nic.names"][1] == f"{prefix}nic-{added['id']}"
    assert [p["status"] for p in _ports(stack, alice, first)] == ["ACTIVE", "ACTIVE"]

    removal = _json(stack.client.delete(f"/api/v1/ports/{old_port['id']}", headers=alice), 202)
    assert removal["operation"]["kind"] == "disconnect"
    assert wait_operation(stack, removal["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    assert stack.client.get(f"/api/v1/ports/{old_port['id']}", headers=alice).status_code == 404
    assert _instance(stack, first)["nic.names"] == [f"{prefix}nic-{added['id']}"]
    assert [p["id"] for p in _ports(stack, alice, first)] == [added["id"]]
    assert _instance(stack, first)["status"] == "running"
    assert _free(stack, alice, subnet["id"]) == free_at_start - 2  # one address back, one more taken

    # The network is refused while ports use it; destroying the servers lets their ports go.
    assert stack.client.delete(f"/api/v1/networks/{net['id']}", headers=alice).status_code == 409
    for body in created:
        destroyed = _json(stack.client.delete(f"/api/v1/servers/{body['id']}", headers=alice), 202)
        assert wait_operation(stack, destroyed["id"], timeout=60)["status"] == "SUCCEEDED"
    assert _free(stack, alice, subnet["id"]) == free_at_start
    removed = _json(stack.client.delete(f"/api/v1/networks/{net['id']}", headers=alice), 202)
    removals = [op for op in removed["operations"] if op["kind"] == "network_remove"]
    assert sorted(op["backend_id"] for op in removals) == backends
    assert {wait_operation(stack, op["id"], timeout=60)["status"] for op in removals} == {"SUCCEEDED"}
    assert _ganeti_network(stack, f"{prefix}net-{net['id']}") == [None, None]
    assert stack.client.get(f"/api/v1/networks/{net['id']}", headers=alice).status_code == 404


def test_a_server_asking_for_an_address_it_cannot_have_is_refused_and_leaves_nothing(stack):
    alice = user_headers(stack, "alice")
    net = _json(stack.client.post("/api/v1/networks", json={"name": "tiny"}, headers=alice), 201)
    subnet = _json(stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "10.78.0.0/29"},
                                     headers=alice), 201)

    def create(name, **nic):
        return stack.create_server(name=name, user_id="alice", networks=[{"network_id": net["id"], **nic}])

    status, body = create("gateway", fixed_ip="10.78.0.1")
    assert status == 422 and "allocation pools" in body["errors"]["json"]["fixed_ips"][0], body
    status, body = create("outside", fixed_ip="10.99.0.3")
    assert status == 422 and "in none of the network's subnets" in body["message"], body
    _json(stack.client.post("/api/v1/ports", json={"network_id": net["id"], "fixed_ips": [{"ip_address": "10.78.0.3"}]},
                            headers=alice), 201)
    status, body = create("taken", fixed_ip="10.78.0.3")
    assert status == 409 and "in use" in body["errors"]["json"]["fixed_ips"][0], body
    for _ in range(4):  # the rest of the pool
        _json(stack.client.post("/api/v1/ports", json={"network_id": net["id"]}, headers=alice), 201)
    status, body = create("full")
    assert status == 409 and "has no free address" in body["message"], body
    status, body = stack.create_server(name="nowhere", headers=alice, networks=[{"network_id": 999999}])
    assert status == 404 and "networks" in body["errors"]["json"], body
    for name in ("gateway", "outside", "taken", "full", "nowhere"):
        found = _json(stack.client.get(f"/api/v1/servers?name={name}", headers=stack.admin_headers), 200)["servers"]
        assert found == [], name
    assert len(_json(stack.client.get(f"/api/v1/ports?network_id={net['id']}", headers=alice), 200)["ports"]) == 5
    assert _free(stack, alice, subnet["id"]) == 0


@pytest.fixture
def default_networks(stack):
    """Set DEFAULT_SERVER_NETWORKS for the API of this process, for one test."""
    import dataclasses

    before = stack.ctx.settings

    def use(*network_ids: int) -> None:
        stack.ctx.settings = dataclasses.replace(before, default_server_networks=tuple(network_ids))

    yield use
    stack.ctx.settings = before


def test_default_networks_give_a_server_a_public_address_on_a_backend_that_holds_it(stack, default_networks):
    alice = user_headers(stack, "alice")
    prefix = stack.ctx.settings.backend_prefix_id
    with stack.session() as session:
        second = session.query(Backend).order_by(Backend.id.desc()).first().id
    public = _json(stack.client.post("/api/v1/networks", headers=stack.admin_headers, json={
        "name": "internet", "type": "CUSTOM", "shared": True, "cidr": "198.51.100.0/28", "backend_ids": [second]}), 202)
    assert wait_operation(stack, public["operations"][0]["id"], timeout=60)["status"] == "SUCCEEDED"
    default_networks(public["id"])

    status, body = stack.create_server(name="defaulted", headers=alice)
    assert status == 202, body
    op = wait_operation(stack, body["operation"]["id"], timeout=60)
    assert op["status"] == "SUCCEEDED" and op["backend_id"] == second, op  # the only backend holding it
    (port,) = _ports(stack, alice, body["id"])
    assert port["network_id"] == public["id"] and port["user_id"] == "alice"
    (address,) = [ip["ip_address"] for ip in port["fixed_ips"]]
    assert ipaddress.ip_address(address) in ipaddress.ip_network("198.51.100.0/28")
    inst = _instance(stack, body["id"])
    assert inst["nic.ips"] == [address] and inst["nic.networks.names"] == [f"{prefix}net-{public['id']}"]

    status, refused = stack.create_server(name="named", headers=alice, networks=[{"network_id": public["id"]}])
    assert status == 403 and "networks" in refused["errors"]["json"], refused
    status, bare = stack.create_server(name="bare", headers=alice, networks=[])
    assert status == 202, bare
    assert wait_operation(stack, bare["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    assert _instance(stack, bare["id"])["nic.names"] == [] and _ports(stack, alice, bare["id"]) == []

    for server in (body, bare):
        destroyed = _json(stack.client.delete(f"/api/v1/servers/{server['id']}", headers=alice), 202)
        assert wait_operation(stack, destroyed["id"], timeout=60)["status"] == "SUCCEEDED"
    removed = _json(stack.client.delete(f"/api/v1/networks/{public['id']}", headers=stack.admin_headers), 202)
    for op in removed["operations"]:
        if op["kind"] == "network_remove":
            assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"


def test_a_nic_the_cluster_refuses_lets_its_port_go_and_a_retry_attaches_it(stack):
    from tests.integration.helpers import clear_faults, set_faults
    from tests.reconciliation.helpers import wait_job

    alice = user_headers(stack, "alice")
    prefix = stack.ctx.settings.backend_prefix_id
    net = _json(stack.client.post("/api/v1/networks", json={"name": "flaky"}, headers=alice), 201)
    _json(stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "10.79.0.0/29"},
                            headers=alice), 201)
    status, body = stack.create_server(name="flaky", user_id="alice", networks=[{"network_id": net["id"]}])
    assert status == 202 and wait_operation(stack, body["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    server_id = body["id"]

    # An address reserved on the cluster behind the database's back: Ganeti refuses the NIC.
    inst = _instance(stack, server_id)
    cluster = next(c for c in stack.sim.clusters if c.name == inst["cluster"])
    response = requests.put(f"{cluster.url}/2/networks/{prefix}net-{net['id']}/modify",
                            json={"add_reserved_ips": ["10.79.0.6"]}, auth=RAPI_AUTH, timeout=5)
    response.raise_for_status()
    assert wait_job(cluster, response.json())["status"] == "success"
    added = _json(stack.client.post("/api/v1/ports", json={"network_id": net["id"], "device_id": server_id,
                                                           "fixed_ips": [{"ip_address": "10.79.0.6"}]},
                                    headers=alice), 202)
    op = wait_operation(stack, added["operation"]["id"], timeout=60)
    assert op["status"] == "FAILED" and "10.79.0.6" in op["error"], op
    port = _json(stack.client.get(f"/api/v1/ports/{added['id']}", headers=alice), 200)
    assert (port["device_id"], port["status"]) == (None, "DOWN")  # let go, still alice's with its address
    assert len(_instance(stack, server_id)["nic.names"]) == 1

    # A fault on the cluster's side: the connect fails, and a retry once it is gone attaches the port.
    set_faults(stack, op_failure_rate={"OP_INSTANCE_SET_PARAMS": 1.0}, message="hotplug failed on node1")
    try:
        connect = _json(stack.client.post("/api/v1/ports", json={"network_id": net["id"], "device_id": server_id},
                                          headers=alice), 202)
        failed = wait_operation(stack, connect["operation"]["id"], timeout=60)
    finally:
        clear_faults(stack)
    assert failed["status"] == "FAILED" and "hotplug failed on node1" in failed["error"], failed
    assert _json(stack.client.get(f"/api/v1/ports/{connect['id']}", headers=alice), 200)["device_id"] is None
    retried = stack.client.post(f"/api/v1/operations/{failed['id']}/retry", headers=alice)
    assert retried.status_code == 202, retried.json
    assert wait_operation(stack, failed["id"], timeout=60)["status"] == "SUCCEEDED"
    port = _json(stack.client.get(f"/api/v1/ports/{connect['id']}", headers=alice), 200)
    assert (port["device_id"], port["status"]) == (server_id, "ACTIVE")
    assert _instance(stack, server_id)["nic.names"][1] == f"{prefix}nic-{connect['id']}"
