"""End to end over networks: a server created on a user's private network, with the chain's
polling slowed to a minute. The network reaches the server's backend by its network_create
operation; the agent's events of its jobs (OP_NETWORK_ADD, OP_NETWORK_CONNECT) move the
backend's network row to ACTIVE long before that operation's next poll; the server's create
waits on those jobs in Ganeti (`depends`) and ends through its own events; the instance-add
hook's NIC report names the port, which is ACTIVE with the address the instance has."""
from __future__ import annotations

import re
import time

import pytest

from orchestrator.models import BackendNetwork, Operation
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("events")]


def test_a_server_on_a_new_private_network_comes_up_through_events(event_stack):
    stack = event_stack
    started = time.monotonic()
    net = stack.client.post("/api/v1/networks", json={"name": "ev-lan", "user_id": "ev-user"},
                            headers=stack.admin_headers).json
    stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "10.90.0.0/29"},
                      headers=stack.admin_headers)
    body = stack.create_server(name="ev-net", user_id="ev-user", networks=[{"network_id": net["id"]}])
    server_id, op_id = body["id"], body["operation"]["id"]

    server = stack.wait_status(server_id, {"ACTIVE", "ERROR"}, timeout=40)
    assert server["status"] == "ACTIVE", server
    elapsed = time.monotonic() - started
    with stack.session() as session:
        op = session.get(Operation, op_id)
        row = session.query(BackendNetwork).filter_by(network_id=net["id"]).one()
        network_op = session.query(Operation).filter_by(network_id=net["id"]).one()
        assert (op.status, op.job_status) == ("SUCCEEDED", "success")
        # The row is ACTIVE from the connect job's event; its operation still waits for its poll.
        assert row.state == "ACTIVE" and row.job_status == "success", (row.state, row.job_status)
        assert network_op.status == "RUNNING" and network_op.step == "poll"
    assert elapsed < 45  # nowhere near the chain's minute-long polls

    ports = stack.client.get(f"/api/v1/ports?device_id={server_id}", headers=stack.admin_headers).json["ports"]
    (port,) = ports
    assert port["status"] == "ACTIVE"
    cluster = stack.sim.clusters[server["backend_id"] - 1]
    instance = cluster.instances[f"snf-{server_id}"]
    assert [(n["mac"], n["ip"]) for n in instance.nics] == [(port["mac_address"], port["fixed_ips"][0]["ip_address"])]
    shown = wait_for(lambda: (lambda s: s if s["nics"] else None)(stack.server(server_id)), 15,
                     what="NICs from the hook")
    assert shown["nics"][0]["mac"] == port["mac_address"]
    log = stack.worker.log_path.read_text()
    assert f"op={op_id} server={server_id} create finished SUCCEEDED by event" in log
    for opcode_seen in (rf"network=snf-net-{net['id']}",):
        assert re.search(rf" event op_status id=\S+ instance=None outcome=applied {opcode_seen}", log), log[-3000:]
    assert re.search(rf" event nic_info id=\S+ instance=snf-{server_id} outcome=applied", log)

    # Driven again now (as recovery would), the network's operation finds its jobs ended.
    stack.celery.context.dispatcher.run_operation(network_op.id)
    ended = wait_for(lambda: (lambda o: o if o.status != "RUNNING" else None)(_operation(stack, network_op.id)), 20,
                     what="the network operation to end")
    assert ended.status == "SUCCEEDED", ended.error


def _operation(stack, op_id: int) -> Operation:
    with stack.session() as session:
        op = session.get(Operation, op_id)
        session.expunge(op)
        return op
