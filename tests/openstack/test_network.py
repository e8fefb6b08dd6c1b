"""Networks, subnets, ports and floating IPs driven by the `openstack` CLI and openstacksdk:
the product's network operations (connect, disconnect) underneath, visible in the native API."""
from __future__ import annotations

import pytest
import requests

from orchestrator.models import Backend
from tests.conftest import wait_for
from tests.integration.helpers import wait_operation
from tests.openstack.conftest import cli, cli_json

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def _ops(stack, server_id: int, kind: str) -> list[dict]:
    return [op for op in stack.client.get(f"/api/v1/operations?server_id={server_id}", headers=stack.admin_headers).json
            if op["kind"] == kind]


def _ended(stack, server_id: int, kind: str, count: int = 1) -> list[dict]:
    ops = wait_for(lambda: (lambda o: o if len(o) >= count else None)(_ops(stack, server_id, kind)), 30,
                   what=f"{kind} of server {server_id}")
    return [wait_operation(stack, op["id"], timeout=60) for op in ops]


def test_a_server_on_a_private_network_with_ports_and_a_floating_ip(stack, cloud):
    net = cli_json(cloud, "network", "create", "os-private")
    assert net["status"] == "ACTIVE" and net["shared"] is False
    subnet = cli_json(cloud, "subnet", "create", "--network", "os-private", "--subnet-range", "192.168.77.0/29",
                      "os-private-v4")
    assert subnet["cidr"] == "192.168.77.0/29" and subnet["gateway_ip"] == "192.168.77.1"
    assert subnet["allocation_pools"] == [{"start": "192.168.77.2", "end": "192.168.77.6"}]
    native = stack.client.get(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers).json
    assert native["user_id"] == cloud["user"] and native["subnets"] == [int(subnet["id"])]

    server = cli_json(cloud, "server", "create", "--flavor", "c1r1024d10", "--image", "debian-12",
                      "--network", "os-private", "--wait", "os-netvm")
    server_id = int(server["id"])
    shown = cli_json(cloud, "server", "show", "os-netvm")
    (address,) = shown["addresses"]["os-private"]
    assert address.startswith("192.168.77.")
    ips = requests.get(f"{cloud['url']}/compute/v2.1/servers/{server_id}/ips", timeout=10,
                       headers={"X-Auth-Token": cloud["token"]}).json()["addresses"]
    assert [a["addr"] for a in ips["os-private"]] == [address] and ips["os-private"][0]["version"] == 4
    ports = cli_json(cloud, "port", "list", "--server", "os-netvm")
    assert len(ports) == 1 and ports[0]["Fixed IP Addresses"][0]["ip_address"] == address

    # A second NIC: a port made first, then attached (the server's connect operation).
    port = cli_json(cloud, "port", "create", "--network", "os-private", "os-port2")
    assert port["status"] == "DOWN" and port["device_id"] in ("", None)
    cli(cloud, "server", "add", "port", "os-netvm", port["id"])
    (connect,) = _ended(stack, server_id, "connect")
    assert connect["status"] == "SUCCEEDED"
    attached = cli_json(cloud, "port", "show", port["id"])
    assert attached["device_id"] == str(server_id) and attached["status"] == "ACTIVE"
    assert len(cli_json(cloud, "server", "show", "os-netvm")["addresses"]["os-private"]) == 2
    cli(cloud, "server", "remove", "port", "os-netvm", port["id"])
    (disconnect,) = _ended(stack, server_id, "disconnect")
    assert disconnect["status"] == "SUCCEEDED"
    # A port its user made is kept by the detach, as Nova keeps it (preserve_on_delete), with its address.
    kept = cli_json(cloud, "port", "show", port["id"])
    assert kept["status"] == "DOWN" and kept["device_id"] in ("", None) and kept["fixed_ips"] == port["fixed_ips"]
    assert len(cli_json(cloud, "server", "show", "os-netvm")["addresses"]["os-private"]) == 1
    # One Nova makes for the server (an interface attached by network) goes with its detach.
    made = requests.post(f"{cloud['url']}/compute/v2.1/servers/{server_id}/os-interface", timeout=10,
                         headers={"X-Auth-Token": cloud["token"]},
                         json={"interfaceAttachment": {"net_id": net["id"]}}).json()["interfaceAttachment"]
    assert _ended(stack, server_id, "connect", 2)[0]["status"] == "SUCCEEDED"
    cli(cloud, "server", "remove", "port", "os-netvm", made["port_id"])
    assert _ended(stack, server_id, "disconnect", 2)[0]["status"] == "SUCCEEDED"
    assert cli(cloud, "port", "show", made["port_id"], ok=False).returncode != 0
    cli(cloud, "port", "delete", port["id"])

    # A port that stays unattached is deleted by the CLI.
    spare = cli_json(cloud, "port", "create", "--network", "os-private", "--fixed-ip", "ip-address=192.168.77.6",
                     "os-spare")
    assert spare["fixed_ips"][0]["ip_address"] == "192.168.77.6"
    taken = cli(cloud, "port", "create", "--network", "os-private", "--fixed-ip", "ip-address=192.168.77.6",
                "os-twice", ok=False)
    assert taken.returncode != 0 and "409" in taken.stderr
    cli(cloud, "port", "delete", "os-spare")

    # A floating IP from a public pool an administrator made (native API), attached and detached.
    with stack.session() as session:
        backend_ids = [b.id for b in session.query(Backend).order_by(Backend.id)]
    pool = stack.client.post("/api/v1/networks", headers=stack.admin_headers, json={
        "name": "os-public", "type": "CUSTOM", "shared": True, "cidr": "203.0.113.32/28", "backend_ids": backend_ids,
        "router:external": True})
    assert pool.status_code == 202, pool.json
    for op in pool.json["operations"]:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    fip = cli_json(cloud, "floating", "ip", "create", "os-public")
    ip = fip["floating_ip_address"]
    assert ip.startswith("203.0.113.") and fip["port_id"] in (None, "")
    cli(cloud, "server", "add", "floating", "ip", "os-netvm", ip)
    connects = _ended(stack, server_id, "connect", 2)
    assert all(op["status"] == "SUCCEEDED" for op in connects), [(op["status"], op.get("error"), op.get("last_error")) for op in connects]
    listed = cli_json(cloud, "floating", "ip", "show", ip)
    assert listed["status"] == "ACTIVE" and listed["port_id"]
    assert ip in [a for addresses in cli_json(cloud, "server", "show", "os-netvm")["addresses"].values()
                  for a in addresses]
    refused = cli(cloud, "floating", "ip", "delete", ip, ok=False)
    assert refused.returncode != 0  # attached: Neutron-style 409
    cli(cloud, "server", "remove", "floating", "ip", "os-netvm", ip)
    assert all(op["status"] == "SUCCEEDED" for op in _ended(stack, server_id, "disconnect", 2))
    assert cli_json(cloud, "floating", "ip", "show", ip)["status"] == "DOWN"
    cli(cloud, "floating", "ip", "delete", ip)
    assert ip not in {f["Floating IP Address"] for f in cli_json(cloud, "floating", "ip", "list")}

    busy = cli(cloud, "network", "delete", "os-private", ok=False)
    assert busy.returncode != 0  # its server's port still uses it
    cli(cloud, "server", "delete", "--wait", "os-netvm")
    cli(cloud, "network", "delete", "os-private")
    assert "os-private" not in {n["Name"] for n in cli_json(cloud, "network", "list")}


def test_neutron_errors(stack, cloud):
    def raw(method, path, **kwargs):
        return requests.request(method, cloud["url"] + "/network/v2.0" + path, timeout=10,
                                headers={"X-Auth-Token": cloud["token"]}, **kwargs)

    missing = raw("GET", "/networks/424242")
    assert missing.status_code == 404 and missing.json()["NeutronError"]["type"] == "NetworkNotFound"
    odd = raw("POST", "/networks", json={"network": {"name": "x", "frobnicate": True}})
    assert odd.status_code == 400 and "Unrecognized attribute" in odd.json()["NeutronError"]["message"]
    shared = raw("POST", "/networks", json={"network": {"name": "x", "shared": True}})
    assert shared.status_code == 403 and shared.json()["NeutronError"]["type"] == "Forbidden"
    net = raw("POST", "/networks", json={"network": {"name": "os-errs"}}).json()["network"]
    overlapping = raw("POST", "/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/8",
                                                           "ip_version": 4}})
    assert overlapping.status_code == 400, overlapping.text  # outside the allowed prefix lengths
    assert raw("DELETE", f"/networks/{net['id']}").status_code == 204
    assert raw("GET", f"/networks/{net['id']}").status_code == 404


def test_sdk_networks_subnets_and_ports(stack, cloud):
    sdk = cloud["sdk"]
    net = sdk.network.create_network(name="os-sdk-net")
    subnet = sdk.network.create_subnet(network_id=net.id, cidr="10.77.0.0/28", ip_version=4, name="os-sdk-v4")
    assert subnet.gateway_ip == "10.77.0.1" and sdk.network.get_network(net.id).subnet_ids == [subnet.id]
    port = sdk.network.create_port(network_id=net.id, name="os-sdk-port")
    assert port.fixed_ips[0]["subnet_id"] == subnet.id and port.fixed_ips[0]["ip_address"].startswith("10.77.0.")
    assert [p.id for p in sdk.network.ports(network_id=net.id)] == [port.id]
    assert sdk.network.find_network("os-sdk-net").id == net.id
    native = stack.client.get(f"/api/v1/ports/{port.id}", headers=stack.admin_headers).json
    assert native["mac_address"] == port.mac_address and native["user_id"] == cloud["user"]
    sdk.network.delete_port(port)
    sdk.network.delete_network(net)
    assert sdk.network.find_network("os-sdk-net") is None


def test_subnet_delete_refused_while_ports_hold_its_addresses(stack, cloud):
    cli_json(cloud, "network", "create", "os-subnets")
    subnet = cli_json(cloud, "subnet", "create", "--network", "os-subnets", "--subnet-range", "192.168.78.0/29",
                      "os-subnets-v4")
    port = cli_json(cloud, "port", "create", "--network", "os-subnets", "os-subnets-port")
    refused = requests.delete(f"{cloud['url']}/network/v2.0/subnets/{subnet['id']}", timeout=10,
                              headers={"X-Auth-Token": cloud["token"]})
    assert refused.status_code == 409
    assert refused.json()["NeutronError"]["type"] == "SubnetInUse"
    assert "One or more ports have an IP allocation from this subnet" in refused.json()["NeutronError"]["message"]
    assert cli(cloud, "subnet", "delete", "os-subnets-v4", ok=False).returncode != 0
    cli(cloud, "port", "delete", port["id"])
    cli(cloud, "subnet", "delete", "os-subnets-v4")
    assert "os-subnets-v4" not in {s["Name"] for s in cli_json(cloud, "subnet", "list")}
    native = stack.client.get(f"/api/v1/subnets/{subnet['id']}", headers=stack.admin_headers)
    assert native.status_code == 404
    # Its network takes another subnet, and is deleted as before.
    again = cli_json(cloud, "subnet", "create", "--network", "os-subnets", "--subnet-range", "192.168.79.0/29",
                     "os-subnets-v4b")
    assert again["cidr"] == "192.168.79.0/29"
    cli(cloud, "network", "delete", "os-subnets")
