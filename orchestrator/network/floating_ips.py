"""Floating IPs: public IPv4 addresses a user owns and moves between servers.

A floating IP is an `IPAddress` of a public network's IPv4 subnet marked `floating_ip`,
taken from that subnet's pool when the user allocates it, and given back only when the user
releases it. There is no NAT: attached, it is the address of a NIC of the server on that
public network (Synnefo's way), i.e. of a port made for it, which a durable `connect`
operation hot-adds; detached (a `disconnect`, or the server destroyed), the port goes and the
address stays the user's, on no port. `IPAddressLog` remembers which server held it when.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Invalid, NotFound
from ..models import IPAddress, IPAddressLog, Network, Port, Subnet, utcnow
from . import addressing, pools, ports
from .networks import check_page

FIELD = "floating_network_id"


def _an_id(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Invalid("must be a positive integer id", field=field)
    return value


def pool_network(session: Session, network_id: Any) -> Network:
    """The public network to draw from, under its shared lock (as a port's create takes it):
    a floating-IP pool, not drained, with an IPv4 subnet."""
    network = ports.lock_network_shared(session, _an_id(network_id, FIELD))
    if network is None or network.deleted or not network.public:
        raise NotFound(f"network {network_id} is not a public network", field=FIELD)
    if not network.floating_ip_pool:
        raise Conflict(f"network {network_id} is not a floating-IP pool", field=FIELD)
    if network.drained:
        raise Conflict(f"network {network_id} is drained: it gives no new floating IPs", field=FIELD)
    return network


def _ipv4_subnet(session: Session, network: Network) -> Subnet:
    subnet = next((s for s in ports.live_subnets(session, network.id) if s.ip_version == 4), None)
    if subnet is None or subnet.pool_id is None:
        raise Conflict(f"network {network.id} has no IPv4 subnet", field=FIELD)
    return subnet


def allocate(session: Session, network: Network, *, user_id: str, address: Any = None) -> IPAddress:
    """An address of `network`'s IPv4 subnet (`address`, or the pool's next) for `user_id`,
    on no port. The caller took the write lock and `pool_network`'s lock."""
    subnet = _ipv4_subnet(session, network)
    wanted = None
    if address is not None:
        wanted = addressing.parse_address(address, "floating_ip_address")
        if wanted.version != 4 or not ports.in_pools(subnet, wanted):
            raise Invalid(f"{address} is outside network {network.id}'s allocation pools",
                          field="floating_ip_address")
    pool = pools.lock(session, subnet.pool_id)
    try:
        taken = pools.allocate(pool, str(wanted) if wanted is not None else None)
    except pools.Exhausted:
        raise Conflict(f"network {network.id} has no free address", field=FIELD) from None
    except pools.Unavailable as exc:
        raise Conflict(f"{address} is {'reserved' if exc.reserved else 'in use'}",
                       field="floating_ip_address") from None
    fip = IPAddress(subnet_id=subnet.id, port_id=None, address=taken, ip_version=4, user_id=user_id,
                    floating_ip=True, deleted=False)
    session.add(fip)
    session.flush()
    return fip


def get(session: Session, fip_id: Any, *, user_id: str, admin: bool, for_update: bool = False) -> IPAddress:
    """A live floating IP of the caller's (anyone's for an administrator); another user's is
    not found, as Neutron answers."""
    fip = None
    if isinstance(fip_id, int) and not isinstance(fip_id, bool):
        query = select(IPAddress).where(IPAddress.id == fip_id, IPAddress.floating_ip.is_(True))
        if for_update:
            query = query.with_for_update(of=IPAddress).execution_options(populate_existing=True)
        fip = session.scalars(query).one_or_none()
    if fip is None or fip.deleted or not (admin or fip.user_id == user_id):
        raise NotFound(f"floating IP {fip_id} not found")
    return fip


def search(session: Session, *, user_id: str, admin: bool, network_id: int | None = None,
           server_id: int | None = None, after: int | None = None, limit: int | None = None) -> list[IPAddress]:
    check_page(after, limit)
    query = (select(IPAddress).where(IPAddress.floating_ip.is_(True), IPAddress.deleted.is_(False))
             .order_by(IPAddress.id))
    if not admin:
        query = query.where(IPAddress.user_id == user_id)
    if network_id is not None:
        query = query.where(IPAddress.subnet_id.in_(select(Subnet.id).where(Subnet.network_id == network_id)))
    if server_id is not None:
        query = query.where(IPAddress.port_id.in_(select(Port.id).where(Port.server_id == server_id)))
    if after is not None:
        query = query.where(IPAddress.id > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def release(session: Session, fip: IPAddress) -> IPAddress:
    """Give a floating IP back to its pool (the caller locked it, and took the write lock).
    One on a port (attached, or being attached or detached) is refused."""
    if fip.port_id is not None:
        port = session.get(Port, fip.port_id)
        where = f"server {port.server_id}" if port is not None and port.server_id else f"port {fip.port_id}"
        raise Conflict(f"floating IP {fip.id} is attached to {where}: detach it first", field="port_id")
    pools.release(pools.lock(session, fip.subnet.pool_id), fip.address)
    fip.deleted, fip.released_at = True, utcnow()
    session.flush()
    return fip


def port_for(session: Session, fip: IPAddress, *, network: Network) -> Port:
    """The port a floating IP is attached by: new on its network, holding the floating IP as
    its IPv4 address (and an IPv6 one of each IPv6 subnet, as every port there). The caller
    locked the floating IP (on no port) and the network (shared)."""
    if fip.port_id is not None:
        raise Conflict(f"floating IP {fip.id} is attached already: detach it first", field="port_id")
    if network.drained:
        raise Conflict(f"network {network.id} is drained: no floating IP of it is attached any more",
                       field=FIELD)
    v6 = [ports.Wanted(s.id, None) for s in ports.live_subnets(session, network.id) if s.ip_version == 6]
    port = ports.create_port(session, network, name="", user_id=fip.user_id, wanted=v6)
    fip.port_id = port.id
    session.flush()
    session.expire(port, ["addresses"])
    return port


def attached_server(session: Session, fip: IPAddress) -> int | None:
    if fip.port_id is None:
        return None
    port = session.get(Port, fip.port_id)
    return port.server_id if port is not None else None


def network_of(session: Session, fip: IPAddress) -> Network:
    return session.get(Network, fip.subnet.network_id)


# -- its history (IPAddressLog) -----------------------------------------------------------------

def held(session: Session, port: Port) -> None:
    """`port`'s NIC is on its server: each floating IP on it opens a log row."""
    for fip in port.addresses:
        if fip.floating_ip and not fip.deleted and port.server_id is not None:
            if _open_log(session, fip.id) is None:
                session.add(IPAddressLog(address=fip.address, ip_address_id=fip.id, network_id=port.network_id,
                                         server_id=port.server_id, user_id=fip.user_id, allocated_at=utcnow(),
                                         active=True))
    session.flush()


def let_go(session: Session, fip: IPAddress) -> None:
    """A floating IP off its port (the port removed with its NIC): it stays its user's, on no
    port, and its open log row closes."""
    fip.port_id = None
    row = _open_log(session, fip.id)
    if row is not None:
        row.active, row.released_at = False, utcnow()
    session.flush()


def _open_log(session: Session, fip_id: int) -> IPAddressLog | None:
    return session.scalars(select(IPAddressLog).where(IPAddressLog.ip_address_id == fip_id,
                                                      IPAddressLog.active.is_(True))).first()


def history(session: Session, *, address: str | None = None, server_id: int | None = None,
            ip_address_id: int | None = None, limit: int = 1000) -> list[IPAddressLog]:
    """Who held an address (or what a server held), newest first."""
    query = select(IPAddressLog).order_by(IPAddressLog.id.desc()).limit(limit)
    if address is not None:
        query = query.where(IPAddressLog.address == address)
    if server_id is not None:
        query = query.where(IPAddressLog.server_id == server_id)
    if ip_address_id is not None:
        query = query.where(IPAddressLog.ip_address_id == ip_address_id)
    return list(session.scalars(query))
