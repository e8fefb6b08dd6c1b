"""Networks and their subnets: reading what a caller may see, creating, renaming, removing.

Writers take the locks in one order, so that none waits on another in a circle: the SQLite
write lock (db.write_lock, before anything is read), the network row, its ports' rows, the
address pools by id, then the bridge pool and the MAC-prefix pool.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models import BackendNetwork, IPAddress, Network, NetworkState, PoolType, Port, Subnet
from .. import quotas
from ..validation import check_name
from . import addressing, flavors, pools

# The gateway argument's default: the subnet's first host (None means no gateway).
DEFAULT = type("Default", (), {"__repr__": lambda self: "DEFAULT"})()


def check_page(after: Any, limit: Any) -> None:
    for field, value in (("after", after), ("limit", limit)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise Invalid("must be a whole number, 0 or more", field=field)


def visible(network: Network, user_id: str, admin: bool) -> bool:
    return admin or network.public or network.user_id == user_id


def get_network(session: Session, network_id: Any, *, user_id: str, admin: bool, field: str | None = None,
                for_update: bool = False) -> Network:
    """A live network the caller sees (their own, a public one; any for an administrator), else
    NotFound: a deleted one is gone, as Neutron answers (lists still show it with `deleted`)."""
    network = None
    if isinstance(network_id, int) and not isinstance(network_id, bool):
        if for_update:
            network = session.scalars(select(Network).where(Network.id == network_id).with_for_update(of=Network)
                                      .execution_options(populate_existing=True)).one_or_none()
        else:
            network = session.get(Network, network_id)
    if network is None or network.deleted or not visible(network, user_id, admin):
        raise NotFound(f"network {network_id} not found", field=field)
    return network


def owned(network: Network, user_id: str, admin: bool, what: str) -> Network:
    """A network the caller may change: their own (an administrator: any)."""
    if not admin and network.user_id != user_id:
        raise Forbidden(f"only administrators may {what} a public network")
    return network


def search_networks(session: Session, *, user_id: str, admin: bool, name: str | None = None,
                    public: bool | None = None, flavor: str | None = None, owner: str | None = None,
                    deleted: bool = False, after: int | None = None, limit: int | None = None) -> list[Network]:
    check_page(after, limit)
    if name is not None:
        check_name(name, "name")
    if owner is not None:
        check_name(owner, "user_id")
    if flavor is not None and flavor not in flavors.FLAVORS:
        raise Invalid(f"must be one of {', '.join(flavors.FLAVORS)}", field="flavor")
    query = select(Network).order_by(Network.id)
    if not admin:
        query = query.where((Network.user_id == user_id) | Network.public.is_(True))
    if owner is not None:
        query = query.where(Network.user_id == owner)
    if name is not None:
        query = query.where(Network.name == name)
    if public is not None:
        query = query.where(Network.public.is_(bool(public)))
    if flavor is not None:
        query = query.where(Network.flavor == flavor)
    if not deleted:
        query = query.where(Network.deleted.is_(False))
    if after is not None:
        query = query.where(Network.id > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# -- networks ---------------------------------------------------------------------------------

def check_network_request(*, flavor: Any, mode: Any, link: Any, mac_prefix: Any, admin: bool,
                          enabled: tuple[str, ...], defaults: flavors.FlavorDefaults) -> dict[str, Any]:
    """What a create asks, checked before anything is read or written: the flavor (users: the
    enabled ones), the administrators' overrides, each value's form. The mode, link and MAC
    prefix to use, None where the flavor's pool gives it."""
    if flavor not in flavors.FLAVORS:
        raise Invalid(f"must be one of {', '.join(flavors.FLAVORS)}", field="flavor")
    if not admin:
        if flavor not in enabled:
            raise Forbidden(f"users may create networks of flavor {', '.join(enabled) or '(none)'} only",
                            field="flavor")
        for field, value in (("mode", mode), ("link", link), ("mac_prefix", mac_prefix)):
            if value is not None:
                raise Forbidden(f"only administrators may set a network's {field}", field=field)
    pooled = flavors.FROM_POOL.get(flavor)
    for field, value in (("link", link), ("mac_prefix", mac_prefix)):
        if value is not None and pooled is not None and pooled[0] == field:
            raise Invalid(f"a {flavor} network's {field} comes from the {pooled[1]} pool", field=field)
    if mode is not None and mode not in flavors.MODES:
        raise Invalid(f"must be one of {', '.join(flavors.MODES)}", field="mode")
    values = flavors.defaults(flavor, defaults)
    return {"mode": mode or values["mode"],
            "link": addressing.check_link(link) if link is not None else values["link"],
            "mac_prefix": addressing.check_mac_prefix(mac_prefix) if mac_prefix is not None else values["mac_prefix"],
            "link_given": link is not None, "mac_prefix_given": mac_prefix is not None}


def _draw(session: Session, kind: str, value: str | None, field: str, *, shared: str | None = None
          ) -> tuple[str, int | None]:
    """The value and the pool it was taken from (locked). None: the pool's next free value. A value
    an administrator named is taken from the pool when it is one of the pool's free values (so
    no network draws it later); reserved or outside the pool, it is used as it is."""
    pool = pools.live_pool(session, kind, for_update=True)
    if value is None:
        if pool is None:
            raise Conflict(f"there is no {kind} pool: an administrator creates one (pool create --type={kind})",
                           field=field)
        try:
            return pools.allocate(pool), pool.id
        except pools.Exhausted:
            raise Conflict(f"no {kind} is left in pool {pool.id} ({pools.first_last(pool)})", field=field) from None
    if pool is None or value == shared or not pools.contains(pool, value):
        return value, None
    try:
        return value, (pool.id if pools.claim(pool, value) else None)
    except pools.Unavailable:
        raise Conflict(f"{field} {value} is held by another network", field=field) from None


def create_network(session: Session, *, name: str, flavor: str, user_id: str | None, request: dict[str, Any],
                   defaults: flavors.FlavorDefaults, public: bool = False) -> Network:
    """A private network, ACTIVE at once as Synnefo's are (it reaches backends with the network
    operations), or a public one (no owner), PENDING until its backends hold it; its pooled
    values taken under the pools' locks. Flushed, not committed: the caller took the write
    lock first."""
    link, link_pool = request["link"], None
    mac_prefix, mac_pool = request["mac_prefix"], None
    if link is None or request["link_given"]:
        link, link_pool = _draw(session, PoolType.BRIDGE.value, link, "link")
    if mac_prefix is None or request["mac_prefix_given"]:
        mac_prefix, mac_pool = _draw(session, PoolType.MAC_PREFIX.value, mac_prefix, "mac_prefix",
                                     shared=defaults.default_mac_prefix)
    state = NetworkState.PENDING if public else NetworkState.ACTIVE
    network = Network(name=name, user_id=user_id, public=public, flavor=flavor, mode=request["mode"], link=link,
                      mac_prefix=mac_prefix, link_pool_id=link_pool, mac_prefix_pool_id=mac_pool,
                      state=state.value, deleted=False)
    session.add(network)
    session.flush()
    return network


def live_ports(session: Session, network_id: int) -> list[Port]:
    return list(session.scalars(select(Port).where(Port.network_id == network_id, Port.deleted.is_(False))
                                .order_by(Port.id)))


def check_removable(session: Session, network: Network) -> None:
    """Conflict when the network is deleted already, or live ports or addresses use it."""
    if network.deleted:
        raise Conflict(f"network {network.id} is deleted")
    ports = live_ports(session, network.id)
    if ports:
        shown = ", ".join(str(p.id) for p in ports[:10]) + (", ..." if len(ports) > 10 else "")
        raise Conflict(f"network {network.id} is used by {len(ports)} port(s) ({shown}): remove them first")
    subnet_ids = [s.id for s in network.subnets]
    if subnet_ids and session.scalars(select(IPAddress.id).where(IPAddress.subnet_id.in_(subnet_ids),
                                                                 IPAddress.deleted.is_(False)).limit(1)).first():
        raise Conflict(f"network {network.id} still holds addresses: release them first")


def held_by(session: Session, network: Network) -> list[BackendNetwork]:
    """The backends' rows of the network that are not DELETED."""
    return list(session.scalars(select(BackendNetwork).where(BackendNetwork.network_id == network.id,
                                                             BackendNetwork.state != NetworkState.DELETED.value)
                                .order_by(BackendNetwork.id)))


def remove_network(session: Session, network: Network) -> Network:
    """Delete a network that no live port uses and no backend holds: its subnets and their
    address pools go, its bridge and MAC prefix return to their pools (only now: a value
    leaves its network when the network is finally deleted). The caller holds the network's
    lock (and the write lock). A network on backends is taken off them first by network_remove
    operations (services.networks.remove_network), the last of which deletes it."""
    check_removable(session, network)
    held = held_by(session, network)
    if held:
        raise Conflict(f"network {network.id} is on backend {held[0].backend_id}: it is removed from backends by "
                       "a network operation")
    return delete_rows(session, network)


def delete_rows(session: Session, network: Network) -> Network:
    """The network deleted: its subnets and their address pools, its pooled values released."""
    for subnet in sorted(network.subnets, key=lambda s: s.pool_id or 0):
        if subnet.pool_id is not None:
            pools.lock(session, subnet.pool_id).deleted = True
        subnet.deleted = True
    # The bridge pool before the MAC-prefix pool: the order every writer locks them in.
    for pool_id, value in ((network.link_pool_id, network.link), (network.mac_prefix_pool_id, network.mac_prefix)):
        if pool_id is not None:
            pools.release(pools.lock(session, pool_id), value)
    if not network.deleted and not network.public and network.user_id:
        quotas.charge(session, network.user_id, {quotas.PRIVATE_NETWORK: -1}, defaults={})  # given back, no lock
    network.deleted = True
    network.state = NetworkState.DELETED.value
    session.flush()
    return network


# -- subnets ----------------------------------------------------------------------------------

def search_subnets(session: Session, *, user_id: str, admin: bool, network_id: int | None = None,
                   after: int | None = None, limit: int | None = None) -> list[Subnet]:
    check_page(after, limit)
    query = select(Subnet).join(Network, Subnet.network_id == Network.id).where(Subnet.deleted.is_(False))
    if not admin:
        query = query.where((Network.user_id == user_id) | Network.public.is_(True))
    if network_id is not None:
        query = query.where(Subnet.network_id == network_id)
    if after is not None:
        query = query.where(Subnet.id > after)
    query = query.order_by(Subnet.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def get_subnet(session: Session, subnet_id: Any, *, user_id: str, admin: bool, field: str | None = None) -> Subnet:
    subnet = session.get(Subnet, subnet_id) if isinstance(subnet_id, int) and not isinstance(subnet_id, bool) else None
    if subnet is None or subnet.deleted or not visible(subnet.network, user_id, admin):
        raise NotFound(f"subnet {subnet_id} not found", field=field)
    return subnet


def check_subnet_request(*, cidr: Any, ip_version: Any, name: Any, gateway_ip: Any, enable_dhcp: Any,
                         dns_nameservers: Any, allocation_pools: Any, prefix_min: int, prefix_max: int
                         ) -> dict[str, Any]:
    """Everything a subnet create asks that needs no row: its CIDR (the deployment's sizes), the
    gateway, the allocation pools, the name servers. Raises Invalid naming the field."""
    if name not in ("", None):
        check_name(name, "name")
    if not isinstance(enable_dhcp, bool):
        raise Invalid("must be true or false", field="enable_dhcp")
    network = addressing.check_cidr(cidr, ip_version, prefix_min=prefix_min, prefix_max=prefix_max)
    gateway = addressing.check_gateway(network, gateway_ip, default=gateway_ip is DEFAULT)
    if allocation_pools is None:
        ranges = addressing.default_allocation_pools(network, gateway) if network.version == 4 else []
    else:
        ranges = addressing.check_allocation_pools(network, gateway, allocation_pools)
    return {"network": network, "gateway": gateway, "ranges": ranges,
            "dns": addressing.check_dns_nameservers(dns_nameservers),
            "name": name or "", "dhcp": enable_dhcp}


def create_subnet(session: Session, network: Network, request: dict[str, Any]) -> Subnet:
    """Add a subnet to a network (locked by the caller): one IPv4 and one IPv6 at most, not
    overlapping another of its subnets; an IPv4 subnet gets its address pool."""
    if network.deleted:
        raise Conflict(f"network {network.id} is deleted")
    cidr: addressing.IPNetwork = request["network"]
    live = [s for s in network.subnets if not s.deleted]
    for other in live:
        if ipaddress.ip_network(other.cidr).overlaps(cidr):
            raise Conflict(f"{cidr} overlaps subnet {other.id} ({other.cidr}) of network {network.id}", field="cidr")
    for other in live:
        if other.ip_version == cidr.version:
            raise Conflict(f"network {network.id} has an IPv{cidr.version} subnet already ({other.id}, {other.cidr}): "
                           "one of each version per network", field="ip_version")
    if session.scalars(select(BackendNetwork.id).where(BackendNetwork.network_id == network.id,
                                                       BackendNetwork.state != NetworkState.DELETED.value)
                       .limit(1)).first():
        raise Conflict(f"network {network.id} is on backends already: a subnet is added before", field="network_id")
    gateway = request["gateway"]
    subnet = Subnet(network=network, name=request["name"], ip_version=cidr.version, cidr=str(cidr),
                    gateway=str(gateway) if gateway is not None else None, dhcp=request["dhcp"],
                    dns_nameservers=request["dns"],
                    allocation_pools=addressing.ranges_as_json(request["ranges"], cidr.version),
                    user_id=network.user_id, deleted=False)
    session.add(subnet)
    if cidr.version == 4:
        pool = pools.new_ip_pool(subnet)
        session.add(pool)
    session.flush()
    return subnet


class SubnetInUse(Conflict):
    """Neutron's name for it: ports hold addresses of the subnet."""


def remove_subnet(session: Session, subnet: Subnet) -> Subnet:
    """Delete a subnet (its network locked by the caller) no port holds an address of, with its
    address pool. Not while its network is on backends: their Ganeti networks were made with
    it (a subnet is added before, see create_subnet; the network's removal takes it with it)."""
    session.refresh(subnet)
    if subnet.deleted:  # by a request that held the lock before
        raise NotFound(f"subnet {subnet.id} not found")
    if session.scalars(select(IPAddress.id).where(IPAddress.subnet_id == subnet.id,
                                                  IPAddress.deleted.is_(False)).limit(1)).first():
        raise SubnetInUse(f"Unable to complete operation on subnet {subnet.id}: One or more ports have an IP "
                          "allocation from this subnet.")
    if session.scalars(select(BackendNetwork.id).where(BackendNetwork.network_id == subnet.network_id,
                                                       BackendNetwork.state != NetworkState.DELETED.value)
                       .limit(1)).first():
        raise Conflict(f"network {subnet.network_id} is on backends, whose networks were made with subnet "
                       f"{subnet.id}: it goes when the network is deleted")
    if subnet.pool_id is not None:
        pools.lock(session, subnet.pool_id).deleted = True
    subnet.deleted = True
    session.flush()
    return subnet


def addresses_of(session: Session, subnet: Subnet) -> list[dict[str, Any]]:
    rows = session.execute(select(IPAddress.address, IPAddress.port_id)
                           .where(IPAddress.subnet_id == subnet.id, IPAddress.deleted.is_(False))
                           .order_by(IPAddress.id)).all()
    return sorted(({"address": address, "port_id": port_id} for address, port_id in rows),
                  key=lambda a: int(ipaddress.ip_address(a["address"])))


def inspect_subnet(session: Session, subnet: Subnet) -> dict[str, Any]:
    """The subnet, its pool's figures and map (None for IPv6), the addresses held and by whom."""
    pool = subnet.pool
    return {"subnet": subnet, "pool": pools.summary(pool) if pool is not None else None,
            "addresses": addresses_of(session, subnet)}


# -- public networks on a new backend (snf-manage backend-add) ---------------------------------

def place_public_networks(session: Session, backend, user_id: str) -> list:
    """Every live public network, put on a backend just added: its row there (PENDING) and a
    network_create operation each (flushed), to hand over after the commit. A network being
    removed is left out. The backend stays drained until all are ACTIVE there
    (`check_undrain`)."""
    from .operations import NETWORK_REMOVE, new_create

    placed = []
    for network in session.scalars(select(Network).where(Network.public.is_(True), Network.deleted.is_(False))
                                   .order_by(Network.id)):
        if any(op.kind == NETWORK_REMOVE and not op.is_finished for op in network.operations):
            continue
        row, op = new_create(network, backend, user_id)
        session.add_all([row, op])
        placed.append(op)
    session.flush()
    return placed


def check_undrain(session: Session, backend_id: int) -> None:
    """Conflict (naming `drained`) while a public network is not ACTIVE on the backend yet: a
    backend takes servers only once it holds the public networks they may be given."""
    waiting = session.scalars(select(Network.id).join(BackendNetwork, BackendNetwork.network_id == Network.id)
                              .where(BackendNetwork.backend_id == backend_id, Network.public.is_(True),
                                     Network.deleted.is_(False),
                                     BackendNetwork.state != NetworkState.ACTIVE.value)
                              .order_by(Network.id)).all()
    if waiting:
        shown = ", ".join(str(i) for i in waiting[:10]) + (", ..." if len(waiting) > 10 else "")
        raise Conflict(f"public network(s) {shown} are not active on backend {backend_id} yet: it stays drained "
                       "until they are (see network show)", field="drained")
