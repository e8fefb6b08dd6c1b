"""`network`, `subnet`, `port` and `pool` through click's runner, against the stack's real
database: a private network for a user, a /29 and its ports' addresses, the refusals (one
line, exit 1), a port removed and the network deleted; the pools as snf-manage pool-*; a
network inspected beside its Ganeti network on the simulated clusters."""
from __future__ import annotations

import re

import json

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from tests.reconciliation.helpers import cluster_of, sim, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def run_json(*args):
    return json.loads(run(*args, "--output", "json").stdout)


def fails(*args, says: str, code: int = 1) -> str:
    """Bad input: exit status `code`, and (for our own checks) one line naming the problem."""
    result = run(*args, code=code)
    assert says in result.output, result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("error: ")
    return result.output


def test_network_subnet_ports_then_removal(stack):
    net = run_json("network", "create", "--owner", "cli-hank", "--name", "hank-net")
    assert (net["user_id"], net["flavor"], net["state"], net["public"], net["subnets"]) == \
        ("cli-hank", "MAC_FILTERED", "ACTIVE", False, [])
    nid = net["id"]
    assert [n["id"] for n in run_json("network", "list", "--filter-by", "user=cli-hank")] == [nid]
    table = run("network", "list", "--filter-by", "user=cli-hank,flavor=MAC_FILTERED").output
    assert "MAC_PREFIX" in table and "hank-net" in table
    assert run_json("network", "modify", nid, "--name", "hank-renamed")["name"] == "hank-renamed"
    assert "hank-renamed" in run("network", "show", nid).output

    subnet = run_json("subnet", "create", "--network", nid, "--cidr", "10.60.0.0/29", "--name", "hank-v4",
                      "--dns", "9.9.9.9,1.1.1.1")
    assert (subnet["gateway"], subnet["dhcp"], subnet["allocation_pools"], subnet["dns_nameservers"]) == \
        ("10.60.0.1", True, ["10.60.0.2-10.60.0.6"], ["9.9.9.9", "1.1.1.1"])
    sid = subnet["id"]
    assert run_json("network", "show", nid)["subnets"] == [sid]
    assert [s["id"] for s in run_json("subnet", "list", "--filter-by", f"network={nid}")] == [sid]
    assert run_json("subnet", "show", sid) == subnet

    first = run_json("port", "create", "--network", nid, "--name", "hank-p1")
    assert (first["fixed_ips"], first["server_id"], first["state"]) == (["10.60.0.2"], None, "DOWN")
    assert first["mac"].startswith(net["mac_prefix"])
    chosen = run_json("port", "create", "--network", nid, "--fixed-ip", "10.60.0.5")
    assert chosen["fixed_ips"] == ["10.60.0.5"]
    by_subnet = run_json("port", "create", "--network", nid, "--fixed-ip", f"subnet_id={sid}")
    assert by_subnet["fixed_ips"] == ["10.60.0.3"]
    fails("port", "create", "--network", nid, "--fixed-ip", "10.60.0.5", says="fixed_ips: 10.60.0.5 is in use")
    fails("port", "create", "--network", nid, "--fixed-ip", "10.60.0.1", says="outside subnet")
    fails("port", "create", "--network", nid, "--fixed-ip", "10.60.0.x", says="fixed_ips")
    fails("port", "create", "--network", nid, "--fixed-ip", "subnet_id=abc", says="--fixed-ip")
    ports = [first, chosen, by_subnet] + [run_json("port", "create", "--network", nid) for _ in range(2)]
    fails("port", "create", "--network", nid, says="has no free address")

    listed = run_json("port", "list", "--filter-by", f"network={nid}")
    assert [p["id"] for p in listed] == [p["id"] for p in ports]
    assert "FIXED_IPS" in run("port", "list", "--filter-by", f"network={nid}").output
    assert run_json("port", "show", first["id"])["name"] == "hank-p1"

    report = run_json("subnet", "inspect", sid)
    assert {k: report["pool"][k] for k in ("size", "free", "used", "reserved")} == \
        {"size": 8, "free": 0, "used": 5, "reserved": 3}
    assert sorted(a["port_id"] for a in report["addresses"]) == sorted(p["id"] for p in ports)
    text = run("subnet", "inspect", sid).output
    assert "== pool" in text and "XXXXXXXX" in text and "10.60.0.5" in text

    fails("network", "remove", nid, says="remove them first")
    assert f"port {first['id']} removed" in run("port", "remove", first["id"]).output
    fails("port", "remove", first["id"], says=f"port {first['id']}")  # removed already
    assert run_json("subnet", "inspect", sid)["pool"]["free"] == 1
    for port in ports[1:]:
        run("port", "remove", port["id"])
    assert run_json("port", "list", "--filter-by", f"network={nid}") == []
    assert f"network {nid} removed" in run("network", "remove", nid).output
    assert nid not in [n["id"] for n in run_json("network", "list", "--filter-by", "user=cli-hank")]
    assert nid in [n["id"] for n in run_json("network", "list", "--filter-by", "user=cli-hank", "--deleted")]
    fails("network", "remove", nid, says=f"network {nid}")  # removed already


def test_network_and_subnet_refusals(stack):
    fails("network", "show", "999999", says="network 999999 not found")
    fails("network", "create", "--name", "x", "--flavor", "ETHER", says="ETHER", code=2)
    fails("network", "create", "--name", " ", says="name")
    fails("network", "list", "--filter-by", "colour=blue", says="unknown key 'colour'")
    fails("network", "modify", "999999", "--name", "x", says="network 999999 not found")
    nid = run_json("network", "create", "--owner", "cli-ida", "--name", "ida-net")["id"]
    fails("subnet", "create", "--network", nid, "--cidr", "10.61.0.1/29", says="cidr")
    fails("subnet", "create", "--network", nid, "--cidr", "10.0.0.0/8", says="cidr")
    fails("subnet", "create", "--network", nid, "--cidr", "10.61.0.0/29", "--gateway", "10.62.0.1",
          says="gateway_ip")
    fails("subnet", "create", "--network", nid, "--cidr", "10.61.0.0/29", "--gateway", "10.61.0.1", "--no-gateway",
          says="not both")
    fails("subnet", "create", "--network", nid, "--cidr", "10.61.0.0/29", "--allocation-pool", "10.61.0.2",
          says="START,END")
    fails("subnet", "create", "--network", "999999", "--cidr", "10.61.0.0/29", says="network 999999 not found")
    fails("subnet", "show", "999999", says="subnet 999999 not found")
    fails("subnet", "inspect", "999999", says="subnet 999999 not found")
    fails("port", "show", "999999", says="port 999999 not found")
    fails("port", "create", "--network", "999999", says="network 999999 not found")

    sub = run_json("subnet", "create", "--network", nid, "--cidr", "10.61.0.0/28", "--no-gateway", "--no-dhcp",
                   "--allocation-pool", "10.61.0.10,10.61.0.11")
    assert (sub["gateway"], sub["dhcp"], sub["allocation_pools"]) == (None, False, ["10.61.0.10-10.61.0.11"])
    fails("subnet", "create", "--network", nid, "--cidr", "10.61.0.0/29", says="overlaps")
    fails("subnet", "create", "--network", nid, "--cidr", "10.70.0.0/29", says="IPv4 subnet already")
    v6 = run_json("subnet", "create", "--network", nid, "--cidr", "fd00:61::/64", "--ip-version", "6")
    assert v6["ip_version"] == 6 and v6["allocation_pools"] == []
    port = run_json("port", "create", "--network", nid)
    assert port["fixed_ips"][0] == "10.61.0.10" and port["fixed_ips"][1].startswith("fd00:61::")
    text = run("subnet", "inspect", v6["id"]).output
    assert "== addresses in use" in text and "== map" not in text
    run("port", "remove", port["id"])
    run("network", "remove", nid)


def test_pool_list_show_create_modify(stack):
    pools = {p["type"]: p for p in run_json("pool", "list")}
    assert set(pools) == {"bridge", "mac-prefix"}
    bridges = pools["bridge"]
    assert run_json("pool", "list", "--type", "bridge") == [bridges]
    assert run_json("pool", "show", bridges["id"]) == bridges
    assert "BASE" in run("pool", "list").output and "prv" in run("pool", "show", bridges["id"]).output
    fails("pool", "create", "--type", "bridge", "--base", "vlan", "--size", "4", says="bridge pool already")
    fails("pool", "create", "--type", "vlan", "--base", "prv", "--size", "4", says="vlan", code=2)
    fails("pool", "create", "--type", "mac-prefix", "--base", "zz:0", "--size", "4", says="base")
    fails("pool", "show", "999999", says="pool 999999 not found")
    fails("pool", "modify", bridges["id"], says="nothing to modify")

    vlan = run_json("network", "create", "--owner", "cli-jo", "--name", "jo-vlan", "--flavor", "PHYSICAL_VLAN")
    assert vlan["link"].startswith("prv")
    spare = f"prv{bridges['size']}"
    reserved = run_json("pool", "modify", bridges["id"], "--add-reserved", spare)
    assert reserved["reserved"] == bridges["reserved"] + 1 and reserved["used"] == bridges["used"] + 1
    fails("pool", "modify", bridges["id"], "--add-reserved", vlan["link"], says="in use")
    fails("pool", "modify", bridges["id"], "--size", "1", says="shrink below")
    released = run_json("pool", "modify", bridges["id"], "--remove-reserved", spare, "--size", bridges["size"] + 1)
    assert (released["reserved"], released["size"]) == (bridges["reserved"], bridges["size"] + 1)
    assert run_json("pool", "modify", bridges["id"], "--size", bridges["size"])["size"] == bridges["size"]
    run("network", "remove", vlan["id"])
    assert run_json("pool", "show", bridges["id"])["used"] == bridges["used"]


def test_network_inspect_shows_each_backend(stack):
    nid = run_json("network", "create", "--owner", "cli-kim", "--name", "kim-net")["id"]
    name = f"snf-net-{nid}"
    report = run_json("network", "inspect", nid)
    assert report["network"]["id"] == nid and report["ganeti_name"] == name
    assert [b["ganeti"] for b in report["backends"][:2]] == [None, None]  # the stack's two clusters

    cluster = cluster_of(stack, 1)  # made on the first cluster behind the orchestrator's back
    assert wait_job(cluster, sim(cluster, "POST", "/2/networks", json={
        "network_name": name, "network": "10.78.0.0/29", "conflicts_check": False}).json())["status"] == "success"
    try:
        text = run("network", "inspect", nid).output
        first, second = text.split("\n== backend ")[1:3]
        assert re.search(rf"^ganeti_name +{name}$", text, re.M) and "row: none" in first
        assert first.startswith(f"1 ({report['backends'][0]['clustername']})")
        assert "10.78.0.0/29" in first and "free_count" in first and "X......X" in first, text
        assert "not on this backend" in second and "10.78.0.0" not in second, text
    finally:
        wait_job(cluster, sim(cluster, "DELETE", f"/2/networks/{name}").json())
    fails("network", "inspect", "999999", says="network 999999 not found")
    run("network", "remove", nid)
