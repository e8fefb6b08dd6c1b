"""Ports and their addresses: an IPv4 address from each subnet's pool (or the one asked for),
the EUI-64 of the port's MAC on an IPv6 subnet.

A port is created under its network's shared lock (a removal of the network waits for it,
and it for the removal) and its subnets' pools' row locks, taken in pool id order before its
row is written; its MAC is drawn at random and the live ports' unique index on MACs decides
(a collision is drawn again).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, Invalid, NotFound
from ..models import IPAddress, Network, Port, PortState, Subnet, utcnow
from ..validation import check_name
from . import addressing, pools
from .networks import check_page

FIELD = "fixed_ips"
MAX_FIXED_IPS = 16
MAC_ATTEMPTS = 16


@dataclass(frozen=True)
class Wanted:
    """One address a port asks for: of a subnet, or an address (whose subnet is found), or both."""

    subnet_id: int | None
    address: addressing.IPAddr | None


def check_fixed_ips(fixed_ips: Any) -> list[Wanted] | None:
    """The shape of `fixed_ips` ([{"subnet_id"?, "ip_address"?}]), checked before any row is read."""
    if fixed_ips is None:
        return None
    if isinstance(fixed_ips, (str, bytes, dict)) or not isinstance(fixed_ips, Sequence):
        raise Invalid("must be a list of {subnet_id, ip_address}", field=FIELD)
    if len(fixed_ips) > MAX_FIXED_IPS:
        raise Invalid(f"at most {MAX_FIXED_IPS} entries", field=FIELD)
    wanted = []
    for entry in fixed_ips:
        if not isinstance(entry, dict) or not entry or set(entry) - {"subnet_id", "ip_address"}:
            raise Invalid("each entry is {subnet_id, ip_address}, with one of them at least", field=FIELD)
        subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
        if subnet_id is not None and (not isinstance(subnet_id, int) or isinstance(subnet_id, bool)):
            raise Invalid("subnet_id must be a subnet's id", field=FIELD)
        if subnet_id is None and address is None:
            raise Invalid("each entry names a subnet_id or an ip_address", field=FIELD)
        wanted.append(Wanted(subnet_id, addressing.parse_address(address, FIELD) if address is not None else None))
    return wanted


def in_pools(subnet: Subnet, address: addressing.IPAddr) -> bool:
    return any(low <= int(address) <= high for low, high in addressing.ranges_of(subnet.allocation_pools))


def resolve(subnets: list[Subnet], wanted: list[Wanted] | None) -> list[tuple[Subnet, addressing.IPAddr | None]]:
    """Each subnet the port takes an address of, and the address asked (None: the pool's next, or
    the EUI-64). By default one of each subnet. An address outside the subnet's allocation
    pools, a subnet not of the network, two of one subnet: Invalid."""
    if wanted is None:
        return [(subnet, None) for subnet in subnets]
    by_id = {subnet.id: subnet for subnet in subnets}
    chosen: list[tuple[Subnet, addressing.IPAddr | None]] = []
    for entry in wanted:
        if entry.subnet_id is not None:
            subnet = by_id.get(entry.subnet_id)
            if subnet is None:
                raise Invalid(f"subnet {entry.subnet_id} is not a subnet of this network", field=FIELD)
        else:
            subnet = next((s for s in subnets if entry.address in ipaddress.ip_network(s.cidr)), None)
            if subnet is None:
                raise Invalid(f"{entry.address} is in none of the network's subnets", field=FIELD)
        if entry.address is not None:
            network = ipaddress.ip_network(subnet.cidr)
            if entry.address not in network:
                raise Invalid(f"{entry.address} is not inside subnet {subnet.id} ({subnet.cidr})", field=FIELD)
            if subnet.ip_version == 6:
                raise Invalid(f"subnet {subnet.id} is IPv6: its address is the EUI-64 of the port's MAC; name the "
                              "subnet only", field=FIELD)
            if not in_pools(subnet, entry.address):
                raise Invalid(f"{entry.address} is outside subnet {subnet.id}'s allocation pools", field=FIELD)
        if any(s.id == subnet.id for s, _ in chosen):
            raise Invalid(f"one address of subnet {subnet.id} per port", field=FIELD)
        chosen.append((subnet, entry.address))
    return chosen


def live_subnets(session: Session, network_id: int) -> list[Subnet]:
    return list(session.scalars(select(Subnet).where(Subnet.network_id == network_id, Subnet.deleted.is_(False))
                                .order_by(Subnet.id).execution_options(populate_existing=True)))


def lock_network_shared(session: Session, network_id: int) -> Network | None:
    """The network under a shared row lock (FOR SHARE): ports are created side by side, while a
    removal (FOR UPDATE) waits for them and they for it."""
    return session.scalars(select(Network).where(Network.id == network_id).with_for_update(read=True, of=Network)
                           .execution_options(populate_existing=True)).one_or_none()


def create_port(session: Session, network: Network, *, name: str, user_id: str, wanted: list[Wanted] | None) -> Port:
    """A port (DOWN: on no server) with its addresses, on `network`, which the caller locked
    (lock_network_shared, after the write lock). Flushed, not committed; on a Conflict the caller
    rolls back (a pool may have been changed in the session)."""
    if network.deleted:
        raise Conflict(f"network {network.id} is deleted", field="network_id")
    chosen = resolve(live_subnets(session, network.id), wanted)
    explicit = wanted is not None
    taken: list[tuple[Subnet, str]] = []
    for subnet, address in sorted((c for c in chosen if c[0].ip_version == 4), key=lambda c: c[0].pool_id):
        pool = pools.lock(session, subnet.pool_id)
        try:
            taken.append((subnet, pools.allocate(pool, str(address) if address is not None else None)))
        except pools.Exhausted:
            raise Conflict(f"subnet {subnet.id} ({subnet.cidr}) has no free address",
                           field=FIELD if explicit else None) from None
        except pools.Unavailable as exc:
            raise Conflict(f"{address} is {'reserved' if exc.reserved else 'in use'} in subnet {subnet.id}",
                           field=FIELD) from None
    port = _insert_port(session, network, name=name, user_id=user_id)
    for subnet, address in taken:
        session.add(IPAddress(subnet_id=subnet.id, port=port, address=address, ip_version=4, user_id=user_id))
    for subnet, _ in (c for c in chosen if c[0].ip_version == 6):
        address = addressing.eui64(ipaddress.ip_network(subnet.cidr), port.mac)
        session.add(IPAddress(subnet_id=subnet.id, port=port, address=str(address), ip_version=6, user_id=user_id))
    session.flush()
    return port


def _insert_port(session: Session, network: Network, *, name: str, user_id: str) -> Port:
    """The port's row with a MAC no live port has: drawn, looked up, and inserted in a savepoint
    that a concurrent twin's unique-index violation rolls back for another draw. What the session
    changed before (the pools' bitmaps) is flushed first, outside the savepoint, so that such a
    rollback cannot take it back."""
    session.flush()
    for _ in range(MAC_ATTEMPTS):
        mac = addressing.port_mac(network.mac_prefix)
        if session.scalars(select(Port.id).where(Port.mac == mac, Port.deleted.is_(False))).first() is not None:
            continue
        port = Port(name=name, network_id=network.id, user_id=user_id, state=PortState.DOWN.value, mac=mac,
                    deleted=False)
        try:
            with session.begin_nested():
                session.add(port)
                session.flush()
        except IntegrityError:
            continue
        return port
    raise Conflict(f"no free MAC address found under prefix {network.mac_prefix} in {MAC_ATTEMPTS} draws")


def remove_port(session: Session, port: Port) -> Port:
    """Delete a port on no server (the caller locked it): its addresses go back to their pools,
    but a floating IP, which is its user's, stays theirs on no port."""
    if port.deleted:
        raise Conflict(f"port {port.id} is deleted")
    if port.server_id is not None:
        raise Conflict(f"port {port.id} is attached to server {port.server_id}: it is detached by a server "
                       "operation first")
    for address in port.addresses:
        if address.floating_ip and not address.deleted:
            address.port_id = None
    session.flush()
    session.expire(port, ["addresses"])
    live = [a for a in port.addresses if not a.deleted]
    subnets = {a.subnet_id: session.get(Subnet, a.subnet_id) for a in live}
    now = utcnow()
    for address in sorted(live, key=lambda a: subnets[a.subnet_id].pool_id or 0):
        subnet = subnets[address.subnet_id]
        if address.ip_version == 4 and subnet.pool_id is not None:
            pools.release(pools.lock(session, subnet.pool_id), address.address)
        address.deleted = True
        address.released_at = now
    port.deleted = True
    session.flush()
    return port


def lock_port(session: Session, port_id: int) -> Port | None:
    return session.scalars(select(Port).where(Port.id == port_id).with_for_update(of=Port)
                           .execution_options(populate_existing=True)).one_or_none()


def get_port(session: Session, port_id: Any, *, user_id: str, admin: bool, for_update: bool = False) -> Port:
    port = None
    if isinstance(port_id, int) and not isinstance(port_id, bool):
        port = lock_port(session, port_id) if for_update else session.get(Port, port_id)
    if port is None or port.deleted or not (admin or port.user_id == user_id):
        raise NotFound(f"port {port_id} not found")  # a deleted port is gone, as Neutron answers
    return port


def search_ports(session: Session, *, user_id: str, admin: bool, network_id: int | None = None,
                 server_id: int | None = None, after: int | None = None, limit: int | None = None) -> list[Port]:
    check_page(after, limit)
    query = select(Port).where(Port.deleted.is_(False)).order_by(Port.id)
    if not admin:
        query = query.where(Port.user_id == user_id)
    if network_id is not None:
        query = query.where(Port.network_id == network_id)
    if server_id is not None:
        query = query.where(Port.server_id == server_id)
    if after is not None:
        query = query.where(Port.id > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def check_port_name(name: Any) -> str:
    if name in ("", None):
        return ""
    return check_name(name, "name")
