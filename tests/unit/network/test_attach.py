"""Servers' ports (orchestrator.network.attach) on a real database: the NICs a request asks
for become ports in order, a private network is put on a backend once however many servers
need it, and a server operation's end moves its ports (and gives addresses back)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator import servers
from orchestrator.auth import ADMIN
from orchestrator.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.models import (Backend, BackendNetwork, Flavor, Image, Operation, OperState, OpStatus, Pool, Port,
                                 Step)
from orchestrator.network import attach
from orchestrator.network import operations as netops
from orchestrator.services import networks as svc
from tests.unit.network.conftest import ALICE, BOTH, refused


@pytest.fixture
def catalog(session):
    session.add_all([Flavor(id=1, name="f", cpu=1, ram=512, disk=1), Image(id=1, name="i", location="i.img"),
                     Backend(id=1, clustername="one", host="h", port=1, username="u", password="p"),
                     Backend(id=2, clustername="two", host="h", port=2, username="u", password="p")])
    session.commit()


def _server(session, user_id="alice"):
    server, _op = servers.request_create(session, user_id=user_id, name="vm", flavor_id=1, image_id=1)
    return server


def _free(session, network) -> int:
    subnet = next(s for s in network.subnets if s.ip_version == 4)
    return session.get(Pool, subnet.pool_id, populate_existing=True).free


def _op(session, server, kind, status=OpStatus.SUCCEEDED, **params):
    op = Operation(kind=kind, server_id=server.id, user_id=server.user_id, status=status.value, step=Step.DONE.value,
                   params=params)
    session.add(op)
    session.flush()
    return op


@pytest.mark.parametrize("networks, says", [
    ("lan", "must be a list"), ([{}], "each entry"), ([{"network_id": 1, "port_id": 2}], "names nothing else"),
    ([{"port_id": 3}, {"port_id": 3}], "named once"), ([{"network_id": True}], "positive integer"),
    ([{"network_id": 1, "fixed_ip": 7}], "IPv4 address"), ([{"network_id": 1}] * 9, "at most 8"),
])
def test_a_request_for_nics_of_the_wrong_shape_is_refused_naming_networks(networks, says):
    assert says in refused(Invalid, "networks", attach.check_wanted, networks)


@BOTH
def test_nics_become_ports_in_order_with_their_addresses(ctx, session, network, catalog):
    mine = svc.create_port(ctx, session, ALICE, network_id=network.id)
    free = _free(session, network)
    server = _server(session)
    wanted = attach.check_wanted([{"network_id": network.id, "fixed_ip": "10.0.0.9"}, {"port_id": mine.id},
                                  {"network_id": network.id}])
    made = attach.attach_new(session, server, wanted, user_id="alice", admin=False)
    session.commit()
    assert [p.index for p in made] == [0, 1, 2] and made[1].id == mine.id
    assert {p.state for p in made} == {"BUILD"} and {p.server_id for p in made} == {server.id}
    assert made[0].fixed_ips[0]["ip_address"] == "10.0.0.9"
    assert _free(session, network) == free - 2  # the existing port had its address already
    spec = attach.nic_spec(made[0], "snf-")
    assert spec == {"network": f"snf-net-{network.id}", "ip": "10.0.0.9", "mac": made[0].mac,
                    "name": f"snf-nic-{made[0].id}"}
    other = _server(session)
    assert "attached to server" in refused(Conflict, "networks", attach.attach_new, session, other,
                                           [attach.Wanted(port_id=mine.id)], user_id="alice", admin=False)


def test_a_user_names_only_their_own_networks_and_ports(ctx, session, network, catalog):
    session.rollback()
    public = svc.create_network(ctx, session, ADMIN, name="pub", flavor="CUSTOM")
    svc.create_subnet(ctx, session, ADMIN, network_id=public.id, cidr="203.0.113.0/24")
    public = session.get(type(public), public.id)
    public.public, public.user_id = True, None
    session.commit()
    server = _server(session, user_id="bob")
    refused(NotFound, "networks", attach.attach_new, session, server, [attach.Wanted(network_id=network.id)],
            user_id="bob", admin=False)
    session.rollback()
    server = _server(session, user_id="bob")
    refused(Forbidden, "networks", attach.attach_new, session, server, [attach.Wanted(network_id=public.id)],
            user_id="bob", admin=False)
    session.rollback()
    server = _server(session, user_id="bob")
    (port,) = attach.attach_new(session, server, [attach.Wanted(network_id=public.id)], user_id="bob", admin=False,
                                system=True)  # the deployment's default networks
    assert port.network_id == public.id and port.user_id == "bob"


@BOTH
def test_a_private_network_is_put_on_a_backend_once_for_every_server_that_needs_it(ctx, session, network, catalog):
    first, second = _server(session), _server(session)
    ports_of = {s.id: attach.attach_new(session, s, [attach.Wanted(network_id=network.id)], user_id="alice",
                                        admin=False) for s in (first, second)}
    waits, written = attach.place_networks(session, ports_of[first.id], 1, "alice")
    assert len(written) == 1 and waits == [written[0].id] and written[0].kind == netops.NETWORK_CREATE
    again, none = attach.place_networks(session, ports_of[second.id], 1, "alice")
    assert (again, none) == (waits, [])
    other, more = attach.place_networks(session, ports_of[second.id], 2, "alice")
    assert len(more) == 1 and other != waits
    session.commit()
    rows = session.scalars(select(BackendNetwork).where(BackendNetwork.network_id == network.id)).all()
    assert sorted((r.backend_id, r.state) for r in rows) == [(1, "PENDING"), (2, "PENDING")]

    for op in written + more:  # the creates end: one on an ACTIVE row, one that failed
        op.status, op.step = OpStatus.SUCCEEDED.value, Step.DONE.value
    rows[0].state, rows[1].state = "ACTIVE", "ERROR"
    more[0].status = OpStatus.FAILED.value
    session.commit()
    assert attach.place_networks(session, ports_of[first.id], 1, "alice") == ([], [])
    retry, sent = attach.place_networks(session, ports_of[first.id], 2, "alice")
    assert len(sent) == 1 and retry == [sent[0].id] and rows[1].state == "PENDING"


def test_a_server_job_waits_for_its_network_jobs_and_fails_with_them(ctx, session, network, catalog):
    server = _server(session)
    made = attach.attach_new(session, server, [attach.Wanted(network_id=network.id)], user_id="alice", admin=False)
    waits, (network_op,) = attach.place_networks(session, made, 1, "alice")
    create = session.scalars(select(Operation).where(Operation.server_id == server.id)).one()
    create.params = {attach.NETWORK_OPS: waits}
    network_op.step = Step.SUBMIT.value
    with pytest.raises(attach.Waiting):
        attach.dependencies(session, create)
    network_op.step = Step.POLL.value
    network_op.params = {netops.JOBS: [{"job_id": 7, "status": "success"}, {"job_id": 8, "status": "running"}]}
    assert attach.dependencies(session, create) == [(8, ["success"])]
    network_op.status, network_op.error = OpStatus.FAILED.value, "no bridge prv0 on node1"
    with pytest.raises(attach.NetworkFailed, match="no bridge prv0 on node1"):
        attach.dependencies(session, create)
    network_op.status = OpStatus.SUCCEEDED.value
    assert attach.dependencies(session, create) == []


@BOTH
def test_a_servers_end_moves_its_ports_and_gives_their_addresses_back(ctx, session, network, catalog):
    free = _free(session, network)
    server = _server(session)
    made = attach.attach_new(session, server, [attach.Wanted(network_id=network.id)] * 3, user_id="alice",
                             admin=False)
    server.operstate = OperState.STARTED.value
    attach.settle(session, _op(session, server, "create"))
    assert [p.state for p in made] == ["ACTIVE"] * 3

    attach.settle(session, _op(session, server, "disconnect", **{attach.PORT: made[0].id}))
    session.commit()
    assert session.get(Port, made[0].id).deleted and _free(session, network) == free - 2
    assert [(p.id, p.index) for p in attach.server_ports(session, server.id)] == [(made[1].id, 0), (made[2].id, 1)]

    attach.settle(session, _op(session, server, "connect", status=OpStatus.FAILED, **{attach.PORT: made[2].id}))
    assert (made[2].server_id, made[2].index, made[2].state) == (None, None, "DOWN")  # let go, still the user's

    server.operstate = OperState.STOPPED.value
    attach.settle(session, _op(session, server, "shutdown"))
    assert made[1].state == "DOWN"
    server.operstate, server.deleted = OperState.DESTROYED.value, True
    attach.settle(session, _op(session, server, "destroy"))
    session.commit()
    assert session.get(Port, made[1].id).deleted and not session.get(Port, made[2].id).deleted
    assert _free(session, network) == free - 1  # the let-go port keeps its address


def test_a_failed_create_shows_its_ports_in_error(ctx, session, network, catalog):
    server = _server(session)
    (port,) = attach.attach_new(session, server, [attach.Wanted(network_id=network.id)], user_id="alice",
                                admin=False)
    server.operstate = OperState.ERROR.value
    attach.settle(session, _op(session, server, "create", status=OpStatus.FAILED))
    assert port.state == "ERROR" and port.server_id == server.id


def test_a_network_without_an_ipv4_subnet_carries_no_nic(ctx, session, default_pools, catalog):
    bare = svc.create_network(ctx, session, ALICE, name="bare")
    server = _server(session)
    assert "no IPv4 subnet" in refused(Conflict, "networks", attach.attach_new, session, server,
                                       [attach.Wanted(network_id=bare.id)], user_id="alice", admin=False)
