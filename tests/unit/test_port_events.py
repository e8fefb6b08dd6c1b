"""The node agent's NIC reports (nic_info, from Ganeti's post hooks) on a real database: they
set the index and state of the server's ports, matched by NIC name, else by MAC, in Ganeti's
time order, and never take another server's port."""
from __future__ import annotations

import pytest

from node_agent.cli import hook_event
from orchestrator import events, servers
from orchestrator.auth import ADMIN, Principal
from orchestrator.models import Backend, Flavor, Image, OperState, Port, Server
from orchestrator.network import attach
from orchestrator.services import networks as svc

PREFIX = "snf-"
ALICE, BOB = Principal("alice", False), Principal("bob", False)


@pytest.fixture
def network(context, session):
    """Alice's MAC_FILTERED network with a /24, and the catalog a server needs."""
    session.add_all([Flavor(id=1, name="f", cpu=1, ram=512, disk=1), Image(id=1, name="i", location="i.img"),
                     Backend(id=1, clustername="one", host="h", port=1, username="u", password="p")])
    session.commit()
    svc.create_pool(context, session, ADMIN, type="mac-prefix", base="aa:00:0", size=65536)
    net = svc.create_network(context, session, ALICE, name="lan")
    svc.create_subnet(context, session, ALICE, network_id=net.id, cidr="10.0.0.0/24")
    return net


def _server(session, network, nics: int, user_id: str = "alice", operstate: str = OperState.STARTED.value):
    """A server on backend 1 with `nics` new ports on `network` (indices 0..), as a create
    leaves them (BUILD), the server in `operstate`."""
    server, _op = servers.request_create(session, user_id=user_id, name="vm", flavor_id=1, image_id=1)
    wanted = [attach.Wanted(network_id=network.id)] * nics
    made = attach.attach_new(session, server, wanted, user_id=user_id, admin=user_id != "alice")
    server.backend_id, server.operstate = 1, operstate
    session.commit()
    return server.id, [p.id for p in made]


def _nic(session, port_id: int, index: int, *, name: bool = True, mac: bool = True) -> dict:
    port = session.get(Port, port_id)
    return {"index": index, "ip": port.fixed_ips[0]["ip_address"], "mac": port.mac.upper() if mac else None,
            "network": port.network.ganeti_name(PREFIX), "name": port.ganeti_name(PREFIX) if name else None}


def _report(session, server_id: int, nics: list[dict], ts: float) -> str:
    event = {"cluster": "one", "instance": f"{PREFIX}{server_id}", "nics": nics, "hook_path": "instance-modify",
             "opcode": "OP_INSTANCE_SET_PARAMS", "timestamp": ts}
    try:
        return events.apply_nic_info(session, event, PREFIX)
    finally:
        session.rollback()  # what was applied was committed; read it again


def _ports(session, *port_ids: int) -> list[tuple]:
    session.expire_all()
    return [(p.server_id, p.index, p.state) for p in (session.get(Port, i) for i in port_ids)]


def test_a_report_brings_the_ports_up_at_their_ganeti_index_by_name_or_mac(session, network):
    server, (a, b) = _server(session, network, 2)
    # Ganeti shows b first (found by its name), then a (by its MAC only, in other case).
    nics = [_nic(session, b, 0, mac=False), _nic(session, a, 1, name=False)]
    assert _report(session, server, nics, 100.0) == "applied"
    assert _ports(session, a, b) == [(server, 1, "ACTIVE"), (server, 0, "ACTIVE")]
    assert [n["index"] for n in session.get(Server, server).nics] == [0, 1]
    assert _report(session, server, nics, 100.0) == "duplicate"
    session.get(Server, server).operstate = OperState.STOPPED.value
    session.commit()
    assert _report(session, server, nics, 101.0) == "applied"
    assert _ports(session, a, b) == [(server, 1, "DOWN"), (server, 0, "DOWN")]


def test_a_report_from_the_hook_environment_is_applied(session, network):
    server, (a,) = _server(session, network, 1)
    port = session.get(Port, a)
    env = {"GANETI_HOOKS_PHASE": "post", "GANETI_HOOKS_PATH": "instance-add", "GANETI_CLUSTER": "one",
           "GANETI_INSTANCE_NAME": f"{PREFIX}{server}", "GANETI_INSTANCE_NIC_COUNT": "1",
           "GANETI_INSTANCE_NIC0_NAME": port.ganeti_name(PREFIX), "GANETI_INSTANCE_NIC0_MAC": "aa:00:00:ff:ff:ff",
           "GANETI_INSTANCE_NIC0_NETWORK_NAME": port.network.ganeti_name(PREFIX)}
    session.rollback()
    assert events.apply_nic_info(session, hook_event(env, now=50.0), PREFIX) == "applied"
    assert _ports(session, a) == [(server, 0, "ACTIVE")]  # found by its name, whatever the MAC


def test_a_building_servers_ports_get_their_index_and_wait_for_the_create(session, network):
    server, (a, b) = _server(session, network, 2, operstate=OperState.BUILD.value)
    assert _report(session, server, [_nic(session, b, 0), _nic(session, a, 1)], 10.0) == "applied"
    assert _ports(session, a, b) == [(server, 1, "BUILD"), (server, 0, "BUILD")]  # the create's end decides


def test_an_older_report_after_a_newer_one_changes_nothing(session, network):
    server, (a, b) = _server(session, network, 2)
    assert _report(session, server, [_nic(session, a, 0), _nic(session, b, 1)], 200.0) == "applied"
    before = _ports(session, a, b), session.get(Server, server).nics
    assert _report(session, server, [_nic(session, b, 0), _nic(session, a, 1)], 150.0) == "stale"
    assert (_ports(session, a, b), session.get(Server, server).nics) == before


def test_a_nic_of_another_servers_port_is_not_taken(session, network):
    mine, (a,) = _server(session, network, 1)
    theirs, (b,) = _server(session, network, 1)
    before = _ports(session, b)
    # By name, and by MAC: neither moves the other server's port.
    assert _report(session, mine, [_nic(session, a, 0), _nic(session, b, 1)], 10.0) == "applied"
    assert _report(session, mine, [_nic(session, a, 0), _nic(session, b, 1, name=False)], 11.0) == "duplicate"
    assert _ports(session, a, b) == [(mine, 0, "ACTIVE")] + before


def test_another_users_port_is_not_taken(context, session, network):
    server, (a,) = _server(session, network, 1)
    bobs = svc.create_network(context, session, BOB, name="bobs")
    svc.create_subnet(context, session, BOB, network_id=bobs.id, cidr="10.1.0.0/24")
    port = svc.create_port(context, session, BOB, network_id=bobs.id)
    before = _ports(session, port.id)
    assert _report(session, server, [_nic(session, a, 0), _nic(session, port.id, 1)], 10.0) == "applied"
    assert _ports(session, a, port.id) == [(server, 0, "ACTIVE")] + before


def test_a_port_the_report_no_longer_shows_is_left_to_its_disconnect(session, network):
    server, (a, b, c) = _server(session, network, 3)
    assert _report(session, server, [_nic(session, a, 0), _nic(session, b, 1), _nic(session, c, 2)], 10.0) == "applied"
    # Ganeti removed a's NIC and renumbered; the disconnect has not finalized yet.
    assert _report(session, server, [_nic(session, b, 0), _nic(session, c, 1)], 20.0) == "applied"
    assert _ports(session, a, b, c) == [(server, 0, "ACTIVE"), (server, 1, "ACTIVE"), (server, 2, "ACTIVE")]
    attach.release(session, session.get(Port, a))  # the disconnect's end renumbers
    session.commit()
    assert _ports(session, a, b, c)[1:] == [(server, 0, "ACTIVE"), (server, 1, "ACTIVE")]


@pytest.mark.parametrize("nics", ["eth0", [7], [{"index": "x"}], [{"index": 0}, {"index": 0}]])
def test_a_malformed_report_is_invalid(session, network, nics):
    server, (a,) = _server(session, network, 1)
    with pytest.raises(events.InvalidEvent):
        _report(session, server, nics, 10.0)
    assert _ports(session, a) == [(server, 0, "BUILD")]


def test_a_report_for_a_stranger_changes_nothing(session, network):
    server, (a,) = _server(session, network, 1)
    assert events.apply_nic_info(session, {"cluster": "one", "instance": "other-1", "nics": [],
                                           "timestamp": 1.0}, PREFIX) == "unknown"
    assert events.apply_nic_info(session, {"cluster": "elsewhere", "instance": f"{PREFIX}{server}",
                                           "nics": [_nic(session, a, 0)], "timestamp": 1.0}, PREFIX) == "foreign"
    assert _ports(session, a) == [(server, 0, "BUILD")]
