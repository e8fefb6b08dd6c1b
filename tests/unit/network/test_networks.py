"""Networks and subnets through the use cases: flavors, who may do what, what is listed,
subnet rules, values going back to their pools only on the final delete, and a refused
request writing nothing."""
from __future__ import annotations

import pytest

from orchestrator.auth import ADMIN
from orchestrator.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.models import Network, Pool, Subnet
from orchestrator.services import networks as svc
from tests.conftest import context_for

from .conftest import ALICE, BOB, BOTH, counts, refused


# -- flavors ----------------------------------------------------------------------------------

def test_a_mac_filtered_network_shares_prv0_and_has_its_own_mac_prefix(ctx, session, default_pools):
    _, mac = default_pools
    first = svc.create_network(ctx, session, ALICE, name="one")
    second = svc.create_network(ctx, session, BOB, name="two")
    for net, prefix in ((first, "aa:00:1"), (second, "aa:00:2")):
        assert (net.flavor, net.mode, net.link, net.mac_prefix, net.state, net.public, net.deleted) == (
            "MAC_FILTERED", "bridged", "prv0", prefix, "ACTIVE", False, False)
        assert net.mac_prefix_pool_id == mac.id and net.link_pool_id is None
    assert (first.user_id, second.user_id) == ("alice", "bob")
    assert first.ganeti_name("snf-") == f"snf-net-{first.id}"
    assert Network.id_of_ganeti_network(f"snf-net-{first.id}", "snf-") == first.id
    assert first.ganeti_mac_prefix == "aa:00:10"
    assert mac.used == 2


def test_a_physical_vlan_network_has_its_own_bridge_and_the_default_prefix(ctx, session, default_pools):
    net = svc.create_network(ctx, session, ADMIN, name="vlan", flavor="PHYSICAL_VLAN", owner="alice")
    assert (net.mode, net.link, net.mac_prefix, net.user_id) == ("bridged", "prv1", "aa:00:0", "alice")
    assert net.link_pool_id == default_pools[0].id and net.mac_prefix_pool_id is None


def test_ip_less_routed_and_custom_networks_take_the_settings(ctx, session, default_pools):
    routed = svc.create_network(ctx, session, ADMIN, name="routed", flavor="IP_LESS_ROUTED")
    assert (routed.mode, routed.link, routed.mac_prefix) == ("routed", "snf_public", "aa:00:0")
    custom = svc.create_network(ctx, session, ADMIN, name="custom", flavor="CUSTOM")
    assert (custom.mode, custom.link, custom.mac_prefix) == ("bridged", "br0", "aa:00:0")
    given = svc.create_network(ctx, session, ADMIN, name="given", flavor="CUSTOM", mode="routed", link="rt7",
                               mac_prefix="02:00:0")
    assert (given.mode, given.link, given.mac_prefix, given.link_pool_id, given.mac_prefix_pool_id) == (
        "routed", "rt7", "02:00:0", None, None)


def test_a_custom_value_inside_a_pool_is_taken_from_it(ctx, session, default_pools):
    bridge, mac = default_pools
    net = svc.create_network(ctx, session, ADMIN, name="c", flavor="CUSTOM", link="prv5", mac_prefix="aa:00:7")
    assert (net.link_pool_id, net.mac_prefix_pool_id) == (bridge.id, mac.id)
    # Nobody draws them now, and a second administrator's choice of them is refused.
    refused(Conflict, "link", svc.create_network, ctx, session, ADMIN, name="d", flavor="CUSTOM", link="prv5")
    refused(Conflict, "mac_prefix", svc.create_network, ctx, session, ADMIN, name="d", flavor="CUSTOM",
           mac_prefix="aa:00:7")
    svc.remove_network(ctx, session, ADMIN, net.id)
    assert (bridge.used, mac.used) == (0, 0)


def test_other_settings_give_other_defaults(net_db_url, session, default_pools):
    ctx = context_for(net_db_url, mac_filtered_bridge="prv9", routing_table="rt_main", default_bridge="br7",
                      network_flavors_enabled=("MAC_FILTERED", "IP_LESS_ROUTED"))
    assert svc.create_network(ctx, session, ALICE, name="m").link == "prv9"
    assert svc.create_network(ctx, session, ALICE, name="r", flavor="IP_LESS_ROUTED").link == "rt_main"
    assert svc.create_network(ctx, session, ADMIN, name="c", flavor="CUSTOM").link == "br7"


def test_users_create_the_enabled_flavors_only_and_never_set_mode_link_or_prefix(ctx, session, default_pools):
    for flavor in ("PHYSICAL_VLAN", "IP_LESS_ROUTED", "CUSTOM"):
        refused(Forbidden, "flavor", svc.create_network, ctx, session, ALICE, name="n", flavor=flavor)
    for field, value in (("mode", "routed"), ("link", "prv3"), ("mac_prefix", "aa:00:9")):
        refused(Forbidden, field, svc.create_network, ctx, session, ALICE, name="n", **{field: value})
    refused(Forbidden, "owner", svc.create_network, ctx, session, ALICE, name="n", owner="bob")
    refused(Invalid, "flavor", svc.create_network, ctx, session, ADMIN, name="n", flavor="VXLAN")
    refused(Invalid, "mac_prefix", svc.create_network, ctx, session, ADMIN, name="n", mac_prefix="aa:00:9")
    refused(Invalid, "link", svc.create_network, ctx, session, ADMIN, name="n", flavor="PHYSICAL_VLAN", link="x")
    refused(Invalid, "mode", svc.create_network, ctx, session, ADMIN, name="n", flavor="CUSTOM", mode="ovs")
    refused(Invalid, "mac_prefix", svc.create_network, ctx, session, ADMIN, name="n", flavor="CUSTOM",
           mac_prefix="ab:00:0")
    for name in ("", " padded", "x" * 256, "tab\there"):
        refused(Invalid, "name", svc.create_network, ctx, session, ALICE, name=name)
    assert counts(ctx.sessions, Network) == (0,)
    assert all(p.used == 0 for p in svc.list_pools(ctx, session, ADMIN))


def test_without_a_pool_or_with_an_empty_one_a_pooled_flavor_is_a_conflict(ctx, session):
    assert "pool create --type=mac-prefix" in refused(Conflict, "mac_prefix", svc.create_network, ctx, session,
                                                     ALICE, name="n")
    svc.create_pool(ctx, session, ADMIN, type="bridge", base="prv", size=1)
    svc.create_network(ctx, session, ADMIN, name="v1", flavor="PHYSICAL_VLAN")
    assert "no bridge is left" in refused(Conflict, "link", svc.create_network, ctx, session, ADMIN, name="v2",
                                         flavor="PHYSICAL_VLAN")
    assert counts(ctx.sessions, Network) == (1,)


# -- seeing, listing, renaming ----------------------------------------------------------------

def test_users_see_their_own_networks_and_administrators_all(ctx, session, default_pools):
    mine = [svc.create_network(ctx, session, ALICE, name=f"a{i}") for i in range(3)]
    theirs = svc.create_network(ctx, session, BOB, name="b0")
    assert [n.id for n in svc.list_networks(ctx, session, ALICE)] == [n.id for n in mine]
    assert [n.id for n in svc.list_networks(ctx, session, ALICE, after=mine[0].id, limit=1)] == [mine[1].id]
    assert [n.id for n in svc.list_networks(ctx, session, ALICE, user_id="bob")] == []
    assert [n.id for n in svc.list_networks(ctx, session, ADMIN)] == [*[n.id for n in mine], theirs.id]
    assert [n.id for n in svc.list_networks(ctx, session, ADMIN, user_id="bob")] == [theirs.id]
    assert [n.id for n in svc.list_networks(ctx, session, ADMIN, name="a1")] == [mine[1].id]
    assert svc.list_networks(ctx, session, ADMIN, flavor="PHYSICAL_VLAN") == []
    assert svc.list_networks(ctx, session, ADMIN, public=True) == []
    with pytest.raises(NotFound):
        svc.get_network(ctx, session, BOB, mine[0].id)
    with pytest.raises(NotFound):
        svc.modify_network(ctx, session, BOB, mine[0].id, name="stolen")
    with pytest.raises(NotFound):
        svc.remove_network(ctx, session, BOB, mine[0].id)
    refused(Invalid, "limit", svc.list_networks, ctx, session, ALICE, limit=-1)
    refused(Invalid, "flavor", svc.list_networks, ctx, session, ALICE, flavor="nope")
    assert svc.modify_network(ctx, session, ALICE, mine[0].id, name="renamed").name == "renamed"
    refused(Invalid, "name", svc.modify_network, ctx, session, ALICE, mine[0].id, name="")
    svc.remove_network(ctx, session, ALICE, mine[2].id)
    assert [n.id for n in svc.list_networks(ctx, session, ALICE)] == [mine[0].id, mine[1].id]
    assert [n.id for n in svc.list_networks(ctx, session, ALICE, deleted=True)] == [n.id for n in mine]
    assert svc.list_networks(ctx, session, ALICE, deleted=True)[2].state == "DELETED"
    with pytest.raises(NotFound):  # a deleted network is gone, as Neutron answers
        svc.get_network(ctx, session, ALICE, mine[2].id)
    with pytest.raises(NotFound):
        svc.modify_network(ctx, session, ALICE, mine[2].id, name="late")


# -- subnets ----------------------------------------------------------------------------------

def test_a_subnet_gets_the_first_host_as_gateway_and_the_rest_as_its_pool(ctx, session, default_pools):
    net = svc.create_network(ctx, session, ALICE, name="n")
    subnet = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="192.168.2.0/24", name="lan",
                               dns_nameservers=["192.168.2.53"], enable_dhcp=False)
    assert (subnet.network_id, subnet.name, subnet.ip_version, subnet.cidr, subnet.gateway, subnet.dhcp,
            subnet.dns_nameservers, subnet.user_id) == (net.id, "lan", 4, "192.168.2.0/24", "192.168.2.1", False,
                                                        ["192.168.2.53"], "alice")
    assert subnet.allocation_pools == [{"start": "192.168.2.2", "end": "192.168.2.254"}]
    assert net.subnet_ids == [subnet.id] and [s.id for s in net.subnets] == [subnet.id]
    report = svc.inspect_subnet(ctx, session, ALICE, subnet.id)
    assert report["subnet"] is subnet and report["addresses"] == []
    assert {k: report["pool"][k] for k in ("size", "free", "used", "reserved")} == {
        "size": 256, "free": 253, "used": 0, "reserved": 3}
    assert report["pool"]["map"] == "XX" + "." * 253 + "X"


def test_a_subnet_without_gateway_or_with_explicit_pools(ctx, session, default_pools):
    a = svc.create_network(ctx, session, ALICE, name="a")
    none = svc.create_subnet(ctx, session, ALICE, network_id=a.id, cidr="10.1.0.0/29", gateway_ip=None)
    assert none.gateway is None and none.allocation_pools == [{"start": "10.1.0.1", "end": "10.1.0.6"}]
    b = svc.create_network(ctx, session, ALICE, name="b")
    explicit = svc.create_subnet(ctx, session, ALICE, network_id=b.id, cidr="10.2.0.0/24", gateway_ip="10.2.0.254",
                                 allocation_pools=[{"start": "10.2.0.100", "end": "10.2.0.109"},
                                                   {"start": "10.2.0.10", "end": "10.2.0.19"}])
    assert explicit.allocation_pools == [{"start": "10.2.0.10", "end": "10.2.0.19"},
                                         {"start": "10.2.0.100", "end": "10.2.0.109"}]
    assert explicit.pool.free == 20 and explicit.pool.reserved == 236


def test_one_ipv4_and_one_ipv6_subnet_per_network_never_overlapping(ctx, session, default_pools):
    net = svc.create_network(ctx, session, ALICE, name="n")
    v4 = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="10.0.0.0/24")
    assert "overlaps" in refused(Conflict, "cidr", svc.create_subnet, ctx, session, ALICE, network_id=net.id,
                                cidr="10.0.0.128/25")
    refused(Conflict, "ip_version", svc.create_subnet, ctx, session, ALICE, network_id=net.id, cidr="10.9.0.0/24")
    v6 = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="2001:db8::/64", ip_version=6)
    assert (v6.gateway, v6.allocation_pools, v6.pool_id) == ("2001:db8::1", [], None)
    refused(Conflict, "ip_version", svc.create_subnet, ctx, session, ALICE, network_id=net.id,
           cidr="2001:db8:1::/64", ip_version=6)
    assert [s.id for s in svc.list_subnets(ctx, session, ALICE, network_id=net.id)] == [v4.id, v6.id]
    assert svc.inspect_subnet(ctx, session, ALICE, v6.id)["pool"] is None
    # Another user's network is not found; the subnets of their networks are not listed.
    refused(NotFound, "network_id", svc.create_subnet, ctx, session, BOB, network_id=net.id, cidr="10.3.0.0/24")
    assert svc.list_subnets(ctx, session, BOB) == []
    with pytest.raises(NotFound):
        svc.get_subnet(ctx, session, BOB, v4.id)
    with pytest.raises(NotFound):
        svc.inspect_subnet(ctx, session, BOB, v4.id)


@pytest.mark.parametrize("kwargs, field", [
    ({"cidr": "10.0.0.0/16"}, "cidr"), ({"cidr": "10.0.0.0/30"}, "cidr"), ({"cidr": "10.0.0.5/24"}, "cidr"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, "cidr"), ({"cidr": "10.0.0.0/24", "ip_version": 5}, "ip_version"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "gateway_ip"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"}, "gateway_ip"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}, "allocation_pools"),
    ({"cidr": "2001:db8::/64", "ip_version": 6, "allocation_pools": [{"start": "2001:db8::2", "end": "2001:db8::9"}]},
     "allocation_pools"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["ns1"]}, "dns_nameservers"),
    ({"cidr": "10.0.0.0/24", "name": " x"}, "name"), ({"cidr": "10.0.0.0/24", "enable_dhcp": "yes"}, "enable_dhcp"),
])
def test_a_refused_subnet_writes_nothing(ctx, session, default_pools, kwargs, field):
    net = svc.create_network(ctx, session, ALICE, name="n")
    refused(Invalid, field, svc.create_subnet, ctx, session, ALICE, network_id=net.id, **kwargs)
    assert counts(ctx.sessions, Subnet, Pool) == (0, 2)


# -- removal: values go back only when the network is finally deleted ------------------------

@BOTH
def test_a_networks_values_return_to_their_pools_only_when_it_is_deleted(ctx, session, default_pools):
    bridge, mac = default_pools
    filtered = svc.create_network(ctx, session, ALICE, name="f")
    vlan = svc.create_network(ctx, session, ADMIN, name="v", flavor="PHYSICAL_VLAN")
    subnet = svc.create_subnet(ctx, session, ALICE, network_id=filtered.id, cidr="10.0.0.0/24")
    port = svc.create_port(ctx, session, ALICE, network_id=filtered.id)
    assert "remove them first" in refused(Conflict, None, svc.remove_network, ctx, session, ALICE, filtered.id)
    # Refused: it keeps everything; no other network is given its prefix.
    assert (mac.used, svc.get_network(ctx, session, ALICE, filtered.id).deleted) == (1, False)
    assert svc.create_network(ctx, session, BOB, name="other").mac_prefix == "aa:00:2"
    svc.remove_port(ctx, session, ALICE, port.id)
    removed = svc.remove_network(ctx, session, ALICE, filtered.id)
    assert (removed.deleted, removed.state) == (True, "DELETED")
    assert (session.get(Subnet, subnet.id).deleted, subnet.pool.deleted) == (True, True)
    assert svc.list_subnets(ctx, session, ALICE) == []
    assert svc.list_pools(ctx, session, ADMIN, type="ip") == []
    assert mac.used == 1  # "other"'s
    assert svc.create_network(ctx, session, BOB, name="reuse").mac_prefix == "aa:00:1"
    assert bridge.used == 1
    svc.remove_network(ctx, session, ADMIN, vlan.id)
    assert bridge.used == 0
    assert svc.create_network(ctx, session, ADMIN, name="v2", flavor="PHYSICAL_VLAN").link == "prv1"
    refused(NotFound, None, svc.remove_network, ctx, session, ALICE, filtered.id)  # deleted: gone
    refused(NotFound, None, svc.get_network, ctx, session, ADMIN, filtered.id)
    refused(NotFound, None, svc.get_subnet, ctx, session, ALICE, subnet.id)


def test_the_demo_seed_makes_the_pools_make_run_networks_draw_from(ctx, session):
    from orchestrator import demo

    assert demo.seed(session, env={"SIM_CLUSTERS": "1"})["pools"] == ["bridge", "mac-prefix"]
    assert demo.seed(session, env={"SIM_CLUSTERS": "1"})["pools"] == []  # once
    bridge, mac = svc.list_pools(ctx, session, ADMIN)
    assert (bridge.base, bridge.size, mac.base, mac.size, mac.free) == ("prv", 20, "aa:00:0", 65536, 4 * 4096 - 1)
    assert svc.create_network(ctx, session, ALICE, name="n").mac_prefix == "aa:00:1"
    assert svc.create_network(ctx, session, ADMIN, name="v", flavor="PHYSICAL_VLAN").link == "prv1"
