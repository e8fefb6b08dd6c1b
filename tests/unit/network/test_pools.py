"""Pools: bridge naming, MAC prefixes that skip multicast and universally administered ones,
allocation, reservations, grow and shrink, the map, and who may touch them."""
from __future__ import annotations

import pytest

from orchestrator.auth import ADMIN
from orchestrator.errors import Conflict, Forbidden, Invalid
from orchestrator.models import Pool
from orchestrator.network import addressing, pools
from orchestrator.services import networks as svc

from .conftest import ALICE, BOTH, counts, refused


# -- bridges ----------------------------------------------------------------------------------

def test_a_bridge_pool_of_20_from_prv_holds_prv1_to_prv20(ctx, session):
    pool = svc.create_pool(ctx, session, ADMIN, type="bridge", base="prv", size=20)
    assert (pool.type, pool.base, pool.size, pool.free, pool.used, pool.reserved) == ("bridge", "prv", 20, 20, 0, 0)
    assert [pools.value_of(pool, i) for i in (0, 19)] == ["prv1", "prv20"]
    # prv0 is the bridge MAC_FILTERED networks share (DEFAULT_MAC_FILTERED_BRIDGE), never handed out.
    assert [pools.contains(pool, v) for v in ("prv0", "prv1", "prv20", "prv21", "prv01", "prv", "br1")] == [
        False, True, True, False, False, False, False]
    assert [pools.allocate(pool) for _ in range(3)] == ["prv1", "prv2", "prv3"]
    assert pools.allocate(pool, "prv7") == "prv7"
    assert pools.allocate(pool) == "prv4"


@pytest.mark.parametrize("base, size, field", [
    ("prv1", 20, "base"), ("1prv", 20, "base"), ("a-very-long-br", 20, "size"), ("pr v", 20, "base"),
    ("prv", 0, "size"), ("prv", True, "size")])
def test_bridge_names_are_interface_names(ctx, session, base, size, field):
    refused(Invalid, field, svc.create_pool, ctx, session, ADMIN, type="bridge", base=base, size=size)
    assert counts(ctx.sessions, Pool) == (0,)


# -- MAC prefixes -----------------------------------------------------------------------------

def test_the_mac_prefix_pool_hands_out_only_unicast_locally_administered_prefixes(ctx, session):
    pool = svc.create_pool(ctx, session, ADMIN, type="mac-prefix", base="aa:00:0", size=65536)
    # aa:00:0..b9:ff:f spans first octets aa..b9; aa, ae, b2 and b6 are unicast and local:
    # 4 x 4096 prefixes, less aa:00:0, DEFAULT_MAC_PREFIX, which the other flavors share.
    assert (pool.size, pool.free, pool.used, pool.reserved) == (65536, 4 * 4096 - 1, 0, 65536 - 4 * 4096 + 1)
    handed = [pools.allocate(pool) for _ in range(pool.free)]
    assert len(set(handed)) == len(handed) == 4 * 4096 - 1
    assert handed[0] == "aa:00:1" and "aa:00:0" not in handed
    assert all(addressing.is_unicast_local(int(p[:2], 16)) for p in handed)
    assert {p[:2] for p in handed} == {"aa", "ae", "b2", "b6"}
    with pytest.raises(pools.Exhausted):
        pools.allocate(pool)
    with pytest.raises(pools.Unavailable):
        pools.allocate(pool, "ab:00:0")  # multicast: reserved for good


def test_a_mac_prefix_pool_starting_on_a_multicast_octet_skips_to_the_first_good_one(ctx, session):
    # ab:ff:e and ab:ff:f (multicast), ac:00:0..ac:ff:f (universal), ad:... (multicast), ae:...
    pool = svc.create_pool(ctx, session, ADMIN, type="mac-prefix", base="ab:ff:e", size=2 + 3 * 4096)
    assert pool.free == 4096
    assert pools.allocate(pool) == "ae:00:0"
    assert pools.value_of(pool, pool.size - 1) == "ae:ff:f"


def test_a_mac_prefix_pool_fits_in_five_hex_digits(ctx, session):
    assert "at most 16" in refused(Invalid, "size", svc.create_pool, ctx, session, ADMIN, type="mac-prefix",
                                  base="ff:ff:0", size=17)
    refused(Invalid, "base", svc.create_pool, ctx, session, ADMIN, type="mac-prefix", base="aa:00:00", size=16)


# -- one pool of a type, administrators only --------------------------------------------------

def test_one_live_pool_per_type_and_only_administrators_touch_pools(ctx, session, default_pools):
    bridge, mac = default_pools
    refused(Conflict, "type", svc.create_pool, ctx, session, ADMIN, type="bridge", base="vlan", size=5)
    refused(Invalid, "type", svc.create_pool, ctx, session, ADMIN, type="vlan", base="vlan", size=5)
    for call in (lambda: svc.create_pool(ctx, session, ALICE, type="bridge", base="x", size=1),
                 lambda: svc.list_pools(ctx, session, ALICE),
                 lambda: svc.get_pool(ctx, session, ALICE, bridge.id),
                 lambda: svc.modify_pool(ctx, session, ALICE, bridge.id, size=30)):
        with pytest.raises(Forbidden):
            call()
    assert [p.id for p in svc.list_pools(ctx, session, ADMIN)] == [bridge.id, mac.id]
    assert [p.id for p in svc.list_pools(ctx, session, ADMIN, type="mac_prefix")] == [mac.id]
    assert svc.list_pools(ctx, session, ADMIN, type="ip") == []


# -- reservations -----------------------------------------------------------------------------

def test_reserved_values_are_not_handed_out_until_released(ctx, session, default_pools):
    bridge, _ = default_pools
    svc.modify_pool(ctx, session, ADMIN, bridge.id, add_reserved=["prv1", "prv2"])
    assert (bridge.free, bridge.reserved) == (18, 2)
    net = svc.create_network(ctx, session, ADMIN, name="vlan", flavor="PHYSICAL_VLAN")
    assert net.link == "prv3"
    svc.modify_pool(ctx, session, ADMIN, bridge.id, remove_reserved=["prv1"])
    assert svc.create_network(ctx, session, ADMIN, name="vlan2", flavor="PHYSICAL_VLAN").link == "prv1"
    assert (bridge.free, bridge.used, bridge.reserved) == (17, 2, 1)
    # Reserving a value in use is refused (it stays with its network); unknown values are invalid.
    assert "in use" in refused(Conflict, "add_reserved", svc.modify_pool, ctx, session, ADMIN, bridge.id,
                              add_reserved=["prv3"])
    refused(Invalid, "add_reserved", svc.modify_pool, ctx, session, ADMIN, bridge.id, add_reserved=["prv21"])
    refused(Invalid, "remove_reserved", svc.modify_pool, ctx, session, ADMIN, bridge.id, remove_reserved=["eth0"])
    refused(Invalid, "add_reserved", svc.modify_pool, ctx, session, ADMIN, bridge.id, add_reserved=["prv9"],
           remove_reserved=["prv9"])
    svc.modify_pool(ctx, session, ADMIN, bridge.id, add_reserved=["prv2"])  # reserved already: nothing changes
    assert (bridge.free, bridge.used, bridge.reserved) == (17, 2, 1)


def test_reservations_the_pool_holds_for_good_stay(ctx, session, default_pools):
    _, mac = default_pools
    assert "unicast, locally administered" in refused(Invalid, "remove_reserved", svc.modify_pool, ctx, session,
                                                     ADMIN, mac.id, remove_reserved=["ab:00:0"])
    assert "default" in refused(Invalid, "remove_reserved", svc.modify_pool, ctx, session, ADMIN, mac.id,
                               remove_reserved=["aa:00:0"])
    svc.modify_pool(ctx, session, ADMIN, mac.id, add_reserved=["aa:00:1"])
    assert svc.create_network(ctx, session, ALICE, name="n").mac_prefix == "aa:00:2"


def test_an_address_pool_reserves_addresses_but_keeps_network_broadcast_and_gateway(ctx, session, network):
    subnet = network.subnets[0]
    pool = subnet.pool
    assert (pool.type, pool.size, pool.free, pool.used, pool.reserved) == ("ip", 256, 253, 0, 3)
    svc.modify_pool(ctx, session, ADMIN, pool.id, add_reserved=["10.0.0.2"])
    port = svc.create_port(ctx, session, ALICE, network_id=network.id)
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.0.0.3"}]
    for address in ("10.0.0.0", "10.0.0.1", "10.0.0.255"):
        refused(Invalid, "remove_reserved", svc.modify_pool, ctx, session, ADMIN, pool.id, remove_reserved=[address])
    refused(Invalid, "size", svc.modify_pool, ctx, session, ADMIN, pool.id, size=512)
    assert [p.id for p in svc.list_pools(ctx, session, ADMIN, type="ip")] == [pool.id]


# -- grow and shrink --------------------------------------------------------------------------

@BOTH
def test_a_pool_grows_and_shrinks_never_below_a_value_in_use_or_reserved(ctx, session, default_pools):
    bridge, _ = default_pools
    for i in range(3):
        svc.create_network(ctx, session, ADMIN, name=f"vlan{i}", flavor="PHYSICAL_VLAN")  # prv1..prv3
    svc.modify_pool(ctx, session, ADMIN, bridge.id, add_reserved=["prv10"])
    svc.modify_pool(ctx, session, ADMIN, bridge.id, size=30)
    assert (bridge.size, bridge.free, bridge.used, bridge.reserved) == (30, 26, 3, 1)
    assert pools.contains(bridge, "prv30") and not pools.contains(bridge, "prv31")
    assert "prv10 is reserved" in refused(Conflict, "size", svc.modify_pool, ctx, session, ADMIN, bridge.id, size=9)
    svc.modify_pool(ctx, session, ADMIN, bridge.id, size=10)
    assert "prv3 is in use" in refused(Conflict, "size", svc.modify_pool, ctx, session, ADMIN, bridge.id, size=2,
                                      remove_reserved=["prv10"])
    assert bridge.reserved == 1  # the refused request changed nothing, its unreserve neither
    svc.modify_pool(ctx, session, ADMIN, bridge.id, size=3, remove_reserved=["prv10"])
    assert (bridge.size, bridge.free, bridge.used, bridge.reserved) == (3, 0, 3, 0)
    with pytest.raises(Conflict):
        svc.create_network(ctx, session, ADMIN, name="vlan-none-left", flavor="PHYSICAL_VLAN")


def test_a_mac_prefix_pool_shrinks_over_prefixes_it_never_hands_out_and_grows_with_them_reserved(ctx, session):
    pool = svc.create_pool(ctx, session, ADMIN, type="mac-prefix", base="aa:00:0", size=65536)
    # b9:ff:f, the last, is multicast (reserved for good): that does not hold the shrink back.
    svc.modify_pool(ctx, session, ADMIN, pool.id, size=4096 * 3)  # aa, ab, ac: only aa is good
    assert (pool.size, pool.free) == (3 * 4096, 4096 - 1)
    svc.modify_pool(ctx, session, ADMIN, pool.id, size=4096 * 5)  # ad (multicast), ae (good)
    assert (pool.size, pool.free) == (5 * 4096, 2 * 4096 - 1)


def test_the_map_reads_as_ganetis(ctx, session, default_pools):
    bridge, _ = default_pools
    svc.modify_pool(ctx, session, ADMIN, bridge.id, size=8, add_reserved=["prv8"])
    svc.create_network(ctx, session, ADMIN, name="vlan", flavor="PHYSICAL_VLAN")
    assert pools.render_map(bridge) == "X......X"
