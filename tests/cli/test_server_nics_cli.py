"""A server's NICs through the CLI, against the stack's real workers and simulated clusters:
`server create --network`, `port create --server` (a connect operation), `port remove` of an
attached port (a disconnect operation), and the refusals: one line, exit 1."""
from __future__ import annotations

import pytest

from tests.cli.test_network_cli import fails, run, run_json
from tests.integration.helpers import wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def test_a_server_on_a_network_gets_a_port_connected_and_removed(stack):
    net = run_json("network", "create", "--owner", "cli-ida", "--name", "ida-net")
    run_json("subnet", "create", "--network", net["id"], "--cidr", "10.61.0.0/29")
    server = run_json("server", "create", "--user", "cli-ida", "--name", "ida-vm", "--flavor", 1, "--image", 1,
                      "--network", f"{net['id']}:10.61.0.4", "--wait")
    assert server["operation_status"] == "SUCCEEDED", server
    (port,) = run_json("port", "list", "--filter-by", f"server={server['id']}")
    assert (port["fixed_ips"], port["state"], port["network_id"]) == (["10.61.0.4"], "ACTIVE", net["id"])

    added = run_json("port", "create", "--network", net["id"], "--server", server["id"])
    assert (added["server_id"], added["state"]) == (server["id"], "BUILD")
    assert wait_operation(stack, added["operation_id"], timeout=60)["status"] == "SUCCEEDED"
    shown = run_json("port", "show", added["id"])
    assert (shown["state"], shown["index"]) == ("ACTIVE", 1)
    (op,) = [o for o in run_json("operation", "list", "--server", server["id"]) if o["kind"] == "connect"]
    assert (op["id"], op["backend_id"], op["status"]) == (added["operation_id"], server["backend_id"], "SUCCEEDED")

    said = run("port", "remove", port["id"]).output
    assert f"is being removed from server {server['id']}" in said
    op_id = int(said.rsplit("operation ", 1)[1])
    assert wait_operation(stack, op_id, timeout=60)["status"] == "SUCCEEDED"
    assert [p["id"] for p in run_json("port", "list", "--filter-by", f"server={server['id']}")] == [added["id"]]
    assert run_json("port", "show", added["id"])["index"] == 0

    fails("server", "create", "--user", "cli-ida", "--name", "x", "--flavor", 1, "--image", 1, "--network", "lan",
          says="--network: expected NETWORK_ID")
    fails("server", "create", "--user", "cli-ida", "--name", "x", "--flavor", 1, "--image", 1, "--network",
          f"{net['id']}:10.99.0.9", says="in none of the network's subnets")
    fails("port", "create", "--network", net["id"], "--server", 999999, says="server 999999 not found")


def test_a_network_is_created_with_its_subnet_or_not_at_all(stack):
    net = run_json("network", "create", "--owner", "cli-jo", "--name", "jo-net", "--subnet", "10.62.0.0/29",
                   "--no-gateway")
    (subnet_id,) = net["subnets"]
    subnet = run_json("subnet", "show", subnet_id)
    assert (subnet["cidr"], subnet["gateway"], subnet["allocation_pools"]) == ("10.62.0.0/29", None,
                                                                              ["10.62.0.1-10.62.0.6"])
    fails("network", "create", "--owner", "cli-jo", "--name", "jo-wide", "--subnet", "10.0.0.0/8",
          says="cidr")
    fails("network", "create", "--owner", "cli-jo", "--name", "jo-gw", "--gateway", "10.0.0.1",
          says="--gateway and --no-gateway go with --subnet")
    assert [n["name"] for n in run_json("network", "list", "--filter-by", "user=cli-jo")] == ["jo-net"]


def test_port_inspect_shows_the_port_beside_its_nic_on_the_instance(stack):
    net = run_json("network", "create", "--owner", "cli-kim", "--name", "kim-net", "--subnet", "10.63.0.0/29")
    server = run_json("server", "create", "--user", "cli-kim", "--name", "kim-vm", "--flavor", 1, "--image", 1,
                      "--network", net["id"], "--wait")
    (port,) = run_json("port", "list", "--filter-by", f"server={server['id']}")
    found = run_json("port", "inspect", port["id"])
    prefix = stack.ctx.settings.backend_prefix_id
    assert found["instance"] == f"{prefix}{server['id']}" and found["error"] is None
    assert found["nic"] == {"index": 0, "name": f"{prefix}nic-{port['id']}", "mac": port["mac"],
                            "ip": port["fixed_ips"][0], "mode": "bridged", "link": found["nic"]["link"],
                            "network": f"{prefix}net-{net['id']}", "uuid": found["nic"]["uuid"]}
    table = run("port", "inspect", port["id"]).output
    assert "== instance" in table and f"{prefix}nic-{port['id']}" in table
    free = run_json("port", "create", "--network", net["id"])
    assert "on no server" in run("port", "inspect", free["id"]).output
    fails("port", "inspect", 999999, says="port 999999 not found")
