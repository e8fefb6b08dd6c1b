"""The database itself refuses a double, whatever the code above it does: an address of a
subnet held twice, a MAC on two live ports, a pooled bridge or MAC prefix on two live
networks, two live subnets of one version on a network, two live pools of a type; and the
migrations build exactly what the models describe. On SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from orchestrator.auth import ADMIN
from orchestrator.db import get_engine
from orchestrator.models import Base, IPAddress, Network, Port, Subnet
from orchestrator.network import pools
from orchestrator.services import networks as svc

from .conftest import ALICE, BOTH


@BOTH
def test_the_migrations_build_what_the_models_describe(net_db_url):
    with get_engine(net_db_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def _refused(session, *rows) -> None:
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add_all(rows)
            session.flush()


@BOTH
def test_the_database_refuses_doubles_among_live_rows_and_forgets_deleted_ones(ctx, session, default_pools):
    net = svc.create_network(ctx, session, ALICE, name="n")
    subnet = svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="10.0.0.0/24")
    port = svc.create_port(ctx, session, ALICE, network_id=net.id)
    address = port.fixed_ips[0]["ip_address"]

    _refused(session, IPAddress(subnet_id=subnet.id, port_id=None, address=address, ip_version=4, user_id="x"))
    _refused(session, Port(network_id=net.id, user_id="x", mac=port.mac))
    _refused(session, Network(name="twin", user_id="x", flavor="MAC_FILTERED", mode="bridged", link="prv0",
                              mac_prefix=net.mac_prefix, mac_prefix_pool_id=net.mac_prefix_pool_id))
    vlan = svc.create_network(ctx, session, ADMIN, name="v", flavor="PHYSICAL_VLAN")
    _refused(session, Network(name="twin", user_id="x", flavor="PHYSICAL_VLAN", mode="bridged", link=vlan.link,
                              mac_prefix="aa:00:0", link_pool_id=vlan.link_pool_id))
    _refused(session, Subnet(network_id=net.id, ip_version=4, cidr="10.1.0.0/24"))
    _refused(session, pools.new_pool("bridge", "vlan", 4))
    # Values shared by design are not unique: the default prefix, the MAC_FILTERED bridge.
    session.add_all([Network(name=f"s{i}", user_id="x", flavor="CUSTOM", mode="bridged", link="prv0",
                             mac_prefix="aa:00:0") for i in range(2)])
    session.commit()

    # Once its port is removed, the address and the MAC are free for a new live row.
    svc.remove_port(ctx, session, ALICE, port.id)
    session.add(IPAddress(subnet_id=subnet.id, port_id=None, address=address, ip_version=4, user_id="x"))
    session.add(Port(network_id=net.id, user_id="x", mac=port.mac))
    session.commit()
