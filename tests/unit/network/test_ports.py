"""Ports: their MAC and addresses (IPv4 from the pool or asked for, IPv6 EUI-64), refusals
that name fixed_ips, an exhausted pool, removal giving addresses back, and nothing written
by a refused request, a failure after the pool was changed in the session included."""
from __future__ import annotations

import ipaddress

import pytest

from orchestrator.auth import ADMIN
from orchestrator.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.models import Flavor, Image, IPAddress, Port, Server
from orchestrator.network import addressing
from orchestrator.services import networks as svc

from .conftest import ALICE, BOB, BOTH, counts, refused


@pytest.fixture
def dual(ctx, session, default_pools):
    """Alice's network with a /29 (10.0.0.2..10.0.0.6 to hand out) and an IPv6 /64."""
    net = svc.create_network(ctx, session, ALICE, name="dual")
    v4 = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="10.0.0.0/29")
    v6 = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="2001:db8::/64", ip_version=6)
    return net, v4, v6


@BOTH
def test_a_port_gets_a_mac_under_its_networks_prefix_an_ipv4_from_the_pool_and_its_eui64(ctx, session, dual):
    net, v4, v6 = dual
    port = svc.create_port(ctx, session, ALICE, network_id=net.id, name="eth0")
    assert (port.name, port.network_id, port.user_id, port.server_id, port.state, port.index, port.deleted) == (
        "eth0", net.id, "alice", None, "DOWN", None, False)
    assert port.mac.startswith(net.ganeti_mac_prefix + ":")
    eui = addressing.eui64(ipaddress.ip_network(v6.cidr), port.mac)
    assert port.fixed_ips == [{"subnet_id": v4.id, "ip_address": "10.0.0.2"},
                              {"subnet_id": v6.id, "ip_address": str(eui)}]
    assert port.ganeti_name("snf-") == f"snf-nic-{port.id}"
    assert svc.inspect_subnet(ctx, session, ALICE, v4.id)["addresses"] == [{"address": "10.0.0.2", "port_id": port.id}]
    assert [p.id for p in svc.list_ports(ctx, session, ALICE, network_id=net.id)] == [port.id]
    assert svc.list_ports(ctx, session, BOB) == [] and svc.list_ports(ctx, session, ALICE, server_id=1) == []
    with pytest.raises(NotFound):
        svc.get_port(ctx, session, BOB, port.id)
    assert svc.get_port(ctx, session, ADMIN, port.id) is port


def test_fixed_ips_choose_the_address_or_the_subnet(ctx, session, dual):
    net, v4, v6 = dual
    chosen = svc.create_port(ctx, session, ALICE, network_id=net.id, fixed_ips=[{"ip_address": "10.0.0.5"}])
    assert chosen.fixed_ips == [{"subnet_id": v4.id, "ip_address": "10.0.0.5"}]
    only6 = svc.create_port(ctx, session, ALICE, network_id=net.id, fixed_ips=[{"subnet_id": v6.id}])
    assert [ip["subnet_id"] for ip in only6.fixed_ips] == [v6.id]
    both = svc.create_port(ctx, session, ALICE, network_id=net.id,
                           fixed_ips=[{"subnet_id": v4.id, "ip_address": "10.0.0.6"}, {"subnet_id": v6.id}])
    assert [ip["ip_address"] for ip in both.fixed_ips][0] == "10.0.0.6"
    bare = svc.create_port(ctx, session, ALICE, network_id=net.id, fixed_ips=[])
    assert bare.fixed_ips == []


@pytest.mark.parametrize("fixed_ips, kind, why", [
    ([{"ip_address": "10.0.0.1"}], Invalid, "allocation pools"),  # the gateway
    ([{"ip_address": "10.0.0.7"}], Invalid, "allocation pools"),  # the broadcast address
    ([{"ip_address": "10.9.9.9"}], Invalid, "none of the network's subnets"),
    ([{"subnet_id": 999}], Invalid, "not a subnet of this network"),
    ([{"subnet_id": 2, "ip_address": "2001:db8::5"}], Invalid, "EUI-64"),
    ([{"ip_address": "10.0.0.3"}, {"ip_address": "10.0.0.4"}], Invalid, "one address of subnet"),
    ([{"ip_address": "not-an-ip"}], Invalid, "not an IP"),
    ([{"port": 1}], Invalid, "each entry"), ([{}], Invalid, "each entry"), ("10.0.0.3", Invalid, "list"),
    ([{"ip_address": "10.0.0.2"}], Conflict, "in use"),
    ([{"ip_address": "10.0.0.3"}], Conflict, "reserved"),
])
def test_a_refused_fixed_ip_names_fixed_ips_and_writes_nothing(ctx, session, dual, fixed_ips, kind, why):
    net, v4, _v6 = dual
    assert v4.id == 1  # the parameters name subnet 2 as the IPv6 one
    svc.create_port(ctx, session, ALICE, network_id=net.id)  # holds 10.0.0.2
    svc.modify_pool(ctx, session, ADMIN, v4.pool_id, add_reserved=["10.0.0.3"])
    before = counts(ctx.sessions, Port, IPAddress), v4.pool.free
    assert why in refused(kind, "fixed_ips", svc.create_port, ctx, session, ALICE, network_id=net.id,
                         fixed_ips=fixed_ips)
    session.expire_all()
    assert (counts(ctx.sessions, Port, IPAddress), v4.pool.free) == before


@BOTH
def test_an_exhausted_pool_is_a_conflict_naming_the_subnet_and_a_removed_port_gives_back(ctx, session, dual):
    net, v4, _v6 = dual
    ports = [svc.create_port(ctx, session, ALICE, network_id=net.id) for _ in range(5)]
    assert sorted(p.fixed_ips[0]["ip_address"] for p in ports) == [f"10.0.0.{i}" for i in range(2, 7)]
    message = refused(Conflict, None, svc.create_port, ctx, session, ALICE, network_id=net.id)
    assert f"subnet {v4.id} (10.0.0.0/29) has no free address" in message
    assert counts(ctx.sessions, Port) == (5,)
    removed = svc.remove_port(ctx, session, ALICE, ports[2].id)
    assert removed.deleted and removed.fixed_ips[0]["ip_address"] == "10.0.0.4"  # as it was
    assert v4.pool.free == 1
    assert all(a.deleted and a.released_at is not None for a in removed.addresses)
    again = svc.create_port(ctx, session, ALICE, network_id=net.id)
    assert again.fixed_ips[0]["ip_address"] == "10.0.0.4"
    refused(NotFound, None, svc.remove_port, ctx, session, ALICE, removed.id)  # deleted: gone
    refused(NotFound, None, svc.get_port, ctx, session, ADMIN, removed.id)


def test_a_port_on_a_server_being_built_is_not_removed(ctx, session, dual):
    """Removing a port on a server is its disconnect operation, which a server still in BUILD
    (no backend yet) cannot have: a 409, and the port stays."""
    net, _v4, _v6 = dual
    port = svc.create_port(ctx, session, ALICE, network_id=net.id)
    session.add_all([Flavor(id=1, name="f", cpu=1, ram=512, disk=1), Image(id=1, name="i", location="i.img")])
    session.add(Server(id=1, user_id="alice", name="vm", flavor_id=1, image_id=1, nics=[]))
    session.flush()
    port.server_id, port.index = 1, 0
    session.commit()
    assert [p.id for p in svc.list_ports(ctx, session, ALICE, server_id=1)] == [port.id]
    assert "cannot change the NICs of a server in state BUILD" in refused(Conflict, None, svc.remove_port, ctx,
                                                                          session, ALICE, port.id)
    assert not session.get(Port, port.id).deleted


def test_ports_go_on_the_callers_own_networks(ctx, session, dual):
    net, _v4, _v6 = dual
    refused(NotFound, "network_id", svc.create_port, ctx, session, BOB, network_id=net.id)
    refused(NotFound, "network_id", svc.create_port, ctx, session, BOB, network_id=12345)
    refused(Invalid, "network_id", svc.create_port, ctx, session, BOB, network_id="1")
    refused(Invalid, "name", svc.create_port, ctx, session, ALICE, network_id=net.id, name="\x00")
    on_behalf = svc.create_port(ctx, session, ADMIN, network_id=net.id)
    assert on_behalf.user_id == "alice"  # an administrator's port on Alice's network is hers
    public = svc.create_network(ctx, session, ADMIN, name="pub", flavor="CUSTOM")
    public.public, public.user_id = True, None  # as the next slice's public networks will be
    session.commit()
    refused(Forbidden, "network_id", svc.create_port, ctx, session, ALICE, network_id=public.id)
    assert counts(ctx.sessions, Port) == (1,)


@BOTH
def test_a_failure_after_the_pool_changed_in_the_session_writes_nothing(ctx, session, dual, monkeypatch):
    net, v4, _v6 = dual
    first = svc.create_port(ctx, session, ALICE, network_id=net.id)
    monkeypatch.setattr(addressing, "port_mac", lambda prefix, suffix=None: first.mac)  # every draw collides
    assert "no free MAC address" in refused(Conflict, None, svc.create_port, ctx, session, ALICE, network_id=net.id)
    session.expire_all()
    assert counts(ctx.sessions, Port, IPAddress) == (1, 2) and v4.pool.used == 1


@BOTH
def test_a_mac_collision_with_a_live_port_is_drawn_again(ctx, session, dual, monkeypatch):
    net, _v4, _v6 = dual
    first = svc.create_port(ctx, session, ALICE, network_id=net.id)
    draws = iter([first.mac, first.mac, addressing.port_mac(net.mac_prefix, 0xabcdef)])
    monkeypatch.setattr(addressing, "port_mac", lambda prefix, suffix=None: next(draws))
    assert svc.create_port(ctx, session, ALICE, network_id=net.id).mac == f"{net.mac_prefix}0:ab:cd:ef"
