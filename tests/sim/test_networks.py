"""Networks over RAPI as Ganeti serves them: doc/rapi.rst /2/networks..., lib/rapi/rlib2.py,
lib/cmdlib/network.py (the logical units), lib/network.py (the address pool) and
src/Ganeti/Query/Network.hs (the query fields)."""
from __future__ import annotations

import pytest

from .conftest import Client
from .jobs import failed, log_messages, succeeded


def _add(rapi, name="net1", network="10.0.0.0/28", **kw):
    return rapi.post("/2/networks", json=dict(network_name=name, network=network, **kw))


def _connect(rapi, name, mode="bridged", link="br0", **kw):
    return rapi.put(f"/2/networks/{name}/connect",
                    json=dict(group_name="default", network_mode=mode, network_link=link, **kw))


def test_add_pool_map_and_external_reservations(rapi):
    # LUNetworkAdd + AddressPool.InitializeNetwork: network, broadcast and gateway are external
    # reservations; the map has one character per address; external_reservations lists them all
    # in address order (rapi.rst's example: '10.0.0.0, 10.0.0.1, 10.0.0.15').
    succeeded(rapi, rapi.post("/2/networks", json={"name": "nat", "network": "10.0.0.0/28", "gateway": "10.0.0.1",
                                              "add_reserved_ips": ["10.0.0.10", "10.0.0.9"],
                                              "mac_prefix": "AA:00:01", "tags": ["nfdhcpd"]}).json())
    net = rapi.get("/2/networks/nat").json()
    assert net["map"] == "XX.......XX....X" and net["free_count"] == 11 and net["reserved_count"] == 5
    assert net["external_reservations"] == "10.0.0.0, 10.0.0.1, 10.0.0.9, 10.0.0.10, 10.0.0.15"
    assert net["mac_prefix"] == "aa:00:01" and net["tags"] == ["nfdhcpd"] and net["serial_no"] == 1
    assert net["network6"] is None and net["gateway6"] is None
    assert net["group_list"] == [] and net["inst_list"] == []
    # no gateway: only network and broadcast
    succeeded(rapi, _add(rapi, "plain", "10.9.0.0/30").json())
    assert rapi.get("/2/networks/plain").json()["map"] == "X..X"


def test_add_reserves_node_addresses_with_conflicts_check(rapi, cluster):
    # LUNetworkAdd.Exec: with conflicts_check (the default) the nodes' primary and secondary
    # addresses in the network are reserved externally, each with a log line.
    job = succeeded(rapi, _add(rapi, "nodes", "192.0.2.0/29").json())
    assert " - INFO: Reserved IP address of node '%s' (192.0.2.2)" % sorted(cluster.nodes)[1] in log_messages(job)
    assert rapi.get("/2/networks/nodes").json()["map"] == "XXXX...X"
    succeeded(rapi, _add(rapi, "nocheck", "192.0.2.8/29", conflicts_check=False).json())
    assert rapi.get("/2/networks/nocheck").json()["map"] == "X......X"


def test_add_validation_like_the_opcode(rapi):
    # Opcode parameter types (rlib2's FillOpcode: 400) ...
    bad = [{"network_name": "", "network": "10.0.0.0/24"}, {"network_name": "n"},
           {"network_name": "n", "network": "10.0.0/24"}, {"network_name": "n", "network": "10.0.0.0/24",
                                                           "gateway": "10.0.0.x"},
           {"network_name": "n", "network": "10.0.0.0/24", "network6": "2001:db8::zz/64"},
           {"network_name": "n", "network": "10.0.0.0/24", "add_reserved_ips": "10.0.0.5"},
           {"network_name": "n", "network": "10.0.0.0/24", "colour": "blue"}]
    for body in bad:
        r = rapi.post("/2/networks", json=body)
        assert r.status_code == 400, (body, r.text)
    assert "OP_NETWORK_ADD.network" in rapi.post("/2/networks", json=bad[2]).json()["message"]
    # ... a network with host bits set escapes ht's check (only AddressValueError is caught): 500
    r = _add(rapi, "hostbits", "10.0.0.1/24")
    assert r.status_code == 500 and r.json()["message"] == "10.0.0.1/24 has host bits set"
    # name and renamed name both given
    r = rapi.post("/2/networks", json={"name": "a", "network_name": "b", "network": "10.0.0.0/24"})
    assert r.status_code == 400
    # CheckArguments: the MAC prefix
    assert failed(rapi, _add(rapi, "m", mac_prefix="aa:00").json()) == \
        ["OpPrereqError", ["Invalid MAC address prefix 'aa:00'", "wrong_input"]]


def test_add_pool_errors_fail_at_execution(rapi):
    # AddressPool: at most a /16, at least a /30; a gateway outside the network; reserving an
    # address twice. All raised while executing: OpExecError.
    assert failed(rapi, _add(rapi, "big", "10.0.0.0/15").json()) == ["OpExecError", [
        "Cannot create IP address pool for network 'big': A big network with 131072 host(s) is currently"
        " not supported. please specify at most a /16 network"]]
    assert failed(rapi, _add(rapi, "tiny", "10.0.0.0/31").json()) == ["OpExecError", [
        "Cannot create IP address pool for network 'tiny': A network with only 2 host(s) is too small,"
        " please specify at least a /30 network"]]
    assert failed(rapi, _add(rapi, "gw", "10.0.0.0/28", gateway="10.1.0.1").json()) == ["OpExecError", [
        "Cannot create IP address pool for network 'gw': 10.0.0.0/28 does not contain 10.1.0.1"]]
    assert failed(rapi, _add(rapi, "twice", "10.0.0.0/28", gateway="10.0.0.1",
                           add_reserved_ips=["10.0.0.1"]).json()) == ["OpExecError", [
        "Cannot reserve IP address '10.0.0.1': IP 10.0.0.1 is already externally reserved"]]
    # checks only (dry-run) do not build the pool
    succeeded(rapi, rapi.post("/2/networks?dry-run=1", json={"network_name": "big", "network": "10.0.0.0/15"}).json())
    assert rapi.get("/2/networks").json() == []


def test_names_exists_listing_and_rename(rapi):
    succeeded(rapi, _add(rapi, "net10").json())
    succeeded(rapi, _add(rapi, "net9", "10.1.0.0/28").json())
    net10 = rapi.get("/2/networks/net10").json()
    assert failed(rapi, _add(rapi, "net10", "10.2.0.0/28").json()) == ["OpPrereqError", [
        "Desired network name 'net10' already exists as a network (UUID: %s)" % net10["uuid"], "already_exists"]]
    # names: sorted; bulk: Ganeti's niceSort (net9 before net10)
    assert rapi.get("/2/networks").json() == [{"name": "net10", "uri": "/2/networks/net10"},
                                              {"name": "net9", "uri": "/2/networks/net9"}]
    assert [n["name"] for n in rapi.get("/2/networks?bulk=1").json()] == ["net9", "net10"]
    assert rapi.get("/2/networks/nosuch").status_code == 404
    job = succeeded(rapi, rapi.put("/2/networks/net9/rename", json={"new_name": "net11"}).json())
    assert job["opresult"] == ["net11"] and job["summary"] == ["NETWORK_RENAME"]
    assert rapi.get("/2/networks/net11").json()["serial_no"] == 2
    assert failed(rapi, rapi.put("/2/networks/nosuch/rename", json={"new_name": "x"}).json()) == \
        ["OpPrereqError", ["Network 'nosuch' not found", "unknown_entity"]]


def test_connect_group_list_and_repeat(rapi):
    succeeded(rapi, _add(rapi, "pub").json())
    r = _connect(rapi, "pub", mode="bridge")  # not a NIC mode: the opcode's type check
    assert r.status_code == 400 and "OP_NETWORK_CONNECT.network_mode" in r.json()["message"]
    assert _connect(rapi, "pub", link="").status_code == 400
    succeeded(rapi, _connect(rapi, "pub", "openvswitch", "ovs0", network_vlan=".100").json())
    # Query/Network.hs getGroupConnection: (group, mode, link, vlan)
    net = rapi.get("/2/networks/pub").json()
    assert net["group_list"] == [["default", "openvswitch", "ovs0", ".100"]]
    assert net["serial_no"] == 1  # connecting updates the group, not the network
    job = succeeded(rapi, _connect(rapi, "pub", "routed", "rt0").json())
    assert log_messages(job) == [" - WARNING: Network 'pub' is already mapped to group 'default'"]
    assert rapi.get("/2/networks/pub").json()["group_list"] == [["default", "openvswitch", "ovs0", ".100"]]
    assert failed(rapi, _connect(rapi, "nosuch").json()) == \
        ["OpPrereqError", ["Network 'nosuch' not found", "unknown_entity"]]
    r = rapi.put("/2/networks/pub/connect", json={"group_name": "nogroup", "network_mode": "routed",
                                                  "network_link": "x"})
    assert failed(rapi, r.json()) == ["OpPrereqError", ["Node group 'nogroup' not found", "unknown_entity"]]


def test_connect_refuses_conflicting_addresses(rapi):
    # LUNetworkConnect with conflicts_check: a NIC of the group's instances whose address lies in
    # the network refuses the connection (_NetworkConflictCheck); without the check it is allowed.
    succeeded(rapi, rapi.create("cf1", nics=[{"mode": "routed", "link": "rt", "ip": "10.0.0.5"}]))
    succeeded(rapi, _add(rapi, "cnet").json())
    job = rapi.wait_job(_connect(rapi, "cnet").json())
    assert job["opresult"][0] == ["OpPrereqError", ["Conflicting IP addresses found;  remove/modify the"
                                                    " corresponding network interfaces", "wrong_state"]]
    assert log_messages(job) == [" - WARNING: IP addresses from network 'cnet', which is about to connect to node group"
                         " 'default', are in use: cf1: nic0/10.0.0.5"]
    succeeded(rapi, _connect(rapi, "cnet", conflicts_check=False).json())


def test_disconnect_and_remove(rapi):
    succeeded(rapi, _add(rapi, "priv").json())
    job = succeeded(rapi, rapi.put("/2/networks/priv/disconnect", json={"group_name": "default"}).json())
    assert log_messages(job) == [" - WARNING: Network 'priv' is not mapped to group 'default'"]
    succeeded(rapi, _connect(rapi, "priv", "routed", "rt_priv").json())
    # LUNetworkRemove: still connected
    job = rapi.wait_job(rapi.delete("/2/networks/priv").json())
    assert job["opresult"][0] == ["OpPrereqError", ["Network still connected", "wrong_state"]]
    assert log_messages(job) == [" - WARNING: Network 'priv' is connected to the following node groups: default"]
    # an instance on it: disconnect refused (so the network cannot be removed either)
    succeeded(rapi, rapi.create("on1", nics=[{"network": "priv", "ip": "pool"}]))
    job = rapi.wait_job(rapi.put("/2/networks/priv/disconnect", json={"group_name": "default"}).json())
    assert job["opresult"][0][1][1] == "wrong_state" and job["opresult"][0][1][0].startswith(
        "Conflicting IP addresses found")
    assert log_messages(job) == [" - WARNING: IP addresses from network 'priv', which is about to disconnect from node"
                         " group 'default', are in use: on1: nic0/10.0.0.1"]
    succeeded(rapi, rapi.delete("/2/instances/on1").json())
    succeeded(rapi, rapi.put("/2/networks/priv/disconnect", json={"group_name": "default"}).json())
    assert rapi.get("/2/networks/priv").json()["group_list"] == []
    succeeded(rapi, rapi.delete("/2/networks/priv?dry-run=1").json())
    assert rapi.get("/2/networks/priv").status_code == 200
    succeeded(rapi, rapi.delete("/2/networks/priv").json())
    assert rapi.get("/2/networks/priv").status_code == 404
    assert failed(rapi, rapi.delete("/2/networks/priv").json()) == \
        ["OpPrereqError", ["Network 'priv' not found", "unknown_entity"]]


def test_modify(rapi):
    # LUNetworkSetParams
    succeeded(rapi, _add(rapi, "mnet", gateway="10.0.0.1").json())
    assert failed(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.0.0.2",
                                                               "add_reserved_ips": ["10.0.0.5"]}).json()) == \
        ["OpPrereqError", ["Cannot modify gateway and reserved ips at once", "wrong_input"]]
    # reservations that cannot be made or undone are warnings, not failures
    job = succeeded(rapi, rapi.put("/2/networks/mnet/modify", json={
        "add_reserved_ips": ["10.0.0.5", "10.0.0.15"], "remove_reserved_ips": ["10.0.0.1", "10.0.0.7"],
        "mac_prefix": "aa:00:02", "network6": "2001:db8::/64"}).json())
    assert log_messages(job) == [" - WARNING: Cannot reserve IP address 10.0.0.15: IP 10.0.0.15 is already externally"
                         " reserved",
                         " - WARNING: Cannot unreserve Gateway's IP",
                         " - WARNING: Cannot release IP address 10.0.0.7: IP 10.0.0.7 is not externally reserved"]
    net = rapi.get("/2/networks/mnet").json()
    assert net["external_reservations"] == "10.0.0.0, 10.0.0.1, 10.0.0.5, 10.0.0.15"
    assert net["mac_prefix"] == "aa:00:02" and net["network6"] == "2001:db8::/64" and net["serial_no"] == 2
    # the gateway moves: the new one is reserved, the old one released; "none" clears it
    succeeded(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.0.0.14"}).json())
    net = rapi.get("/2/networks/mnet").json()
    assert net["gateway"] == "10.0.0.14" and net["map"] == "X....X........XX"
    job = succeeded(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.0.0.14"}).json())
    assert log_messages(job) == [" - WARNING: Gateway is already 10.0.0.14"]
    # "none" clears the MAC prefix; the gateway's "none" fails ht.TIPv4Address before the logical
    # unit could see it, so over RAPI a gateway can be moved but not cleared
    succeeded(rapi, rapi.put("/2/networks/mnet/modify", json={"mac_prefix": "none"}).json())
    assert rapi.get("/2/networks/mnet").json()["mac_prefix"] is None
    assert rapi.put("/2/networks/mnet/modify", json={"gateway": "none"}).status_code == 400
    # the gateway may not be an address an instance uses
    succeeded(rapi, _connect(rapi, "mnet").json())
    succeeded(rapi, rapi.create("gwuser", nics=[{"network": "mnet", "ip": "10.0.0.2"}]))
    assert failed(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.0.0.2"}).json()) == \
        ["OpPrereqError", ["Gateway IP address '10.0.0.2' is already reserved", "wrong_state"]]
    assert rapi.put("/2/networks/mnet/modify", json={"gateway": "nonsense"}).status_code == 400
    # the pool's own errors are not caught by the logical unit: an address outside the network
    # (CheckPrereq), a new gateway already reserved externally (Exec)
    assert failed(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.9.9.9"}).json()) == \
        ["AddressPoolError", ["10.0.0.0/28 does not contain 10.9.9.9"]]
    assert failed(rapi, rapi.put("/2/networks/mnet/modify", json={"gateway": "10.0.0.5"}).json()) == \
        ["AddressPoolError", ["IP 10.0.0.5 is already externally reserved"]]
    assert rapi.get("/2/networks/mnet").json()["gateway"] == "10.0.0.14"


@pytest.mark.parametrize("path,body", [
    ("/2/networks/n/connect", {"group_name": "default", "network_mode": "routed", "network_link": "l"}),
    ("/2/networks/n/disconnect", {"group_name": "default"}),
])
def test_connect_disconnect_dry_run(rapi, path, body):
    succeeded(rapi, _add(rapi, "n").json())
    if "disconnect" in path:
        succeeded(rapi, _connect(rapi, "n").json())
    before = rapi.get("/2/networks/n").json()["group_list"]
    job = succeeded(rapi, rapi.put(path + "?dry-run=1", json=body).json())
    assert job["ops"][0]["dry_run"] is True
    assert rapi.get("/2/networks/n").json()["group_list"] == before


def test_network_tags(cluster):
    rapi = Client(cluster.url, ("rapi", "rapi-secret"))
    succeeded(rapi, _add(rapi, "tagged").json())
    succeeded(rapi, rapi.put("/2/networks/tagged/tags?tag=a&tag=b").json())
    assert rapi.get("/2/networks/tagged/tags").json() == ["a", "b"]
    assert rapi.get("/2/networks/tagged").json()["serial_no"] == 2
    assert rapi.wait_job(_add(rapi, "badtag", "10.5.0.0/28", tags=["a b"]).json())["opresult"][0] == \
        ["TagError", ["Tag contains invalid characters"]]
