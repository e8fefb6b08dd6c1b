"""Networks, subnets, ports and pools: every use case writes its rows and commits before it
answers; none calls a cluster yet (networks reach backends, and ports servers, with the
network operations of the next slice); only `inspect_network` reads the clusters, because
an administrator asked. docs/networks.md tells the model and the locks.

A user sees their own networks and the public ones, and their own ports; an administrator
everything. Lists are by id ascending, from `after` (exclusive), at most `limit`. Every
argument is checked before anything is written, and a use case that fails writes nothing:
it rolls the session back before the error reaches the caller.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import auth
from ..auth import Principal
from ..db import write_lock
from ..errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..models import Network, Pool, PoolType, Port, Subnet
from ..network import flavors, inspect, networks, pools, ports
from ..validation import check_name
from .context import Context

# create_subnet's gateway_ip default: the subnet's first host (None: no gateway).
DEFAULT = networks.DEFAULT

T = TypeVar("T")


def _atomic(fn: Callable[..., T]) -> Callable[..., T]:
    """A write: committed when it returns; rolled back when it raises, so a refused request
    leaves nothing behind (and no lock held)."""
    @functools.wraps(fn)
    def wrapper(ctx: Context, session: Session, *args: Any, **kwargs: Any) -> T:
        try:
            result = fn(ctx, session, *args, **kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
    return wrapper


def _reading(fn: Callable[..., T]) -> Callable[..., T]:
    """A read that refuses its arguments rolls back what it began, as the writes do."""
    @functools.wraps(fn)
    def wrapper(ctx: Context, session: Session, *args: Any, **kwargs: Any) -> T:
        try:
            return fn(ctx, session, *args, **kwargs)
        except DomainError:
            session.rollback()
            raise
    return wrapper


def _admin(who: Principal, what: str) -> None:
    if not who.admin:
        raise Forbidden(f"only administrators may {what}")


# -- networks ---------------------------------------------------------------------------------

@_reading
def list_networks(ctx: Context, session: Session, who: Principal, *, after: int | None = None,
                  limit: int | None = None, name: str | None = None, public: bool | None = None,
                  flavor: str | None = None, user_id: str | None = None, deleted: bool = False) -> list[Network]:
    """The caller's networks and the public ones (an administrator: all), by id; `user_id`
    narrows to one owner's (a user naming another gets none); deleted ones only if `deleted`."""
    return networks.search_networks(session, user_id=who.user_id, admin=who.admin, name=name, public=public,
                                    flavor=flavor, owner=user_id, deleted=bool(deleted), after=after, limit=limit)


@_reading
def get_network(ctx: Context, session: Session, who: Principal, network_id: int) -> Network:
    return networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin)


@_reading
def inspect_network(ctx: Context, session: Session, who: Principal, network_id: int) -> dict[str, Any]:
    """Administrators (as snf-manage network-inspect): {"network", "ganeti_name", "backends":
    [{"backend_id", "clustername", "offline", "row", "ganeti", "error"}]}, the row beside its
    Ganeti network (`<BACKEND_PREFIX_ID>net-<id>`) as each backend that is not offline holds
    it now (None where it has none), and the backend_networks row's state, job and job status
    (None where there is none). A cluster that cannot be read is that backend's `error`;
    offline backends are listed with their reason and not called."""
    _admin(who, "inspect networks")
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=True)
    return inspect.inspect_network(session, network, ctx.cluster, ctx.settings.backend_prefix_id)


@_atomic
def create_network(ctx: Context, session: Session, who: Principal, *, name: str, flavor: str = "MAC_FILTERED",
                   mode: str | None = None, link: str | None = None, mac_prefix: str | None = None,
                   owner: str | None = None) -> Network:
    """A private network of the caller's (or `owner`'s, by an administrator): users may choose
    the enabled flavors only (API_ENABLED_NETWORK_FLAVORS) and never mode, link or MAC prefix.
    A MAC_FILTERED network takes a MAC prefix from the MAC-prefix pool, a PHYSICAL_VLAN one a
    bridge from the bridge pool: none left (or no pool) is a Conflict."""
    check_name(name, "name")
    if owner is not None and owner != who.user_id and not who.admin:
        raise Forbidden("only administrators may create a network for another user", field="owner")
    if owner is not None:
        auth.check_user_id(owner, "owner")
    settings = ctx.settings
    defaults = flavors.FlavorDefaults.from_settings(settings)
    request = networks.check_network_request(flavor=flavor, mode=mode, link=link, mac_prefix=mac_prefix,
                                             admin=who.admin, enabled=settings.network_flavors_enabled,
                                             defaults=defaults)
    write_lock(session)
    try:
        return networks.create_network(session, name=name, flavor=flavor, user_id=owner or who.user_id,
                                       request=request, defaults=defaults)
    except IntegrityError:  # the unique indexes on pooled values: never, while the pools' locks hold
        raise Conflict("another network holds that link or MAC prefix") from None


@_atomic
def modify_network(ctx: Context, session: Session, who: Principal, network_id: int, *, name: str) -> Network:
    check_name(name, "name")
    write_lock(session)
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin, for_update=True)
    networks.owned(network, who.user_id, who.admin, "rename")
    network.name = name
    session.flush()
    return network


@_atomic
def remove_network(ctx: Context, session: Session, who: Principal, network_id: int) -> Network:
    """Conflict while live ports use it; else deleted (state DELETED) with its subnets, their
    address pools, and its bridge and MAC prefix back in their pools. It is on no backend yet."""
    write_lock(session)
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin, for_update=True)
    networks.owned(network, who.user_id, who.admin, "delete")
    return networks.remove_network(session, network)


# -- subnets ----------------------------------------------------------------------------------

@_reading
def list_subnets(ctx: Context, session: Session, who: Principal, *, after: int | None = None,
                 limit: int | None = None, network_id: int | None = None) -> list[Subnet]:
    return networks.search_subnets(session, user_id=who.user_id, admin=who.admin, network_id=network_id,
                                   after=after, limit=limit)


@_reading
def get_subnet(ctx: Context, session: Session, who: Principal, subnet_id: int) -> Subnet:
    return networks.get_subnet(session, subnet_id, user_id=who.user_id, admin=who.admin)


@_atomic
def create_subnet(ctx: Context, session: Session, who: Principal, *, network_id: int, cidr: str,
                  ip_version: int = 4, name: str = "", gateway_ip: Any = DEFAULT, enable_dhcp: bool = True,
                  dns_nameservers: Iterable[str] = (), allocation_pools: list[dict[str, str]] | None = None
                  ) -> Subnet:
    """An IPv4 subnet (prefix length within SUBNET_IPV4_PREFIX_MIN..MAX) with its address pool,
    or an IPv6 /64 (EUI-64 addresses, no pool), on one of the caller's networks. The gateway
    defaults to the first host (None: no gateway); the allocation pools to the subnet less its
    network, broadcast and gateway addresses."""
    request = networks.check_subnet_request(
        cidr=cidr, ip_version=ip_version, name=name, gateway_ip=gateway_ip, enable_dhcp=enable_dhcp,
        dns_nameservers=dns_nameservers, allocation_pools=allocation_pools,
        prefix_min=ctx.settings.subnet_prefix_min, prefix_max=ctx.settings.subnet_prefix_max)
    write_lock(session)
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin, field="network_id",
                                   for_update=True)
    networks.owned(network, who.user_id, who.admin, "add a subnet to")
    try:
        return networks.create_subnet(session, network, request)
    except IntegrityError:  # one per version: never, while the network's lock holds
        raise Conflict(f"network {network_id} has an IPv{ip_version} subnet already", field="ip_version") from None


@_reading
def inspect_subnet(ctx: Context, session: Session, who: Principal, subnet_id: int) -> dict[str, Any]:
    """{"subnet", "pool": {"id", "type", "size", "free", "used", "reserved", "map"} (None for
    IPv6), "addresses": [{"address", "port_id"}]}: the owner's or an administrator's."""
    subnet = networks.get_subnet(session, subnet_id, user_id=who.user_id, admin=who.admin)
    if not who.admin and subnet.network.user_id != who.user_id:
        raise Forbidden("only administrators may inspect a public network's subnet")
    return networks.inspect_subnet(session, subnet)


# -- ports ------------------------------------------------------------------------------------

@_reading
def list_ports(ctx: Context, session: Session, who: Principal, *, after: int | None = None,
               limit: int | None = None, network_id: int | None = None, server_id: int | None = None) -> list[Port]:
    return ports.search_ports(session, user_id=who.user_id, admin=who.admin, network_id=network_id,
                              server_id=server_id, after=after, limit=limit)


@_reading
def get_port(ctx: Context, session: Session, who: Principal, port_id: int) -> Port:
    return ports.get_port(session, port_id, user_id=who.user_id, admin=who.admin)


@_atomic
def create_port(ctx: Context, session: Session, who: Principal, *, network_id: int, name: str = "",
                fixed_ips: list[dict[str, Any]] | None = None) -> Port:
    """A port (DOWN, on no server) on one of the caller's networks, with an address of each
    subnet (IPv4 from its pool, IPv6 the EUI-64 of the port's MAC), or those of `fixed_ips`
    ([{"subnet_id"?, "ip_address"?}]). An address outside the pools is Invalid, one taken a
    Conflict, both naming fixed_ips; an exhausted pool is a Conflict naming the subnet."""
    name = ports.check_port_name(name)
    wanted = ports.check_fixed_ips(fixed_ips)
    if not isinstance(network_id, int) or isinstance(network_id, bool):
        raise Invalid("must be a network's id", field="network_id")
    write_lock(session)
    network = ports.lock_network_shared(session, network_id)
    if network is None or network.deleted or not networks.visible(network, who.user_id, who.admin):
        raise NotFound(f"network {network_id} not found", field="network_id")
    if not who.admin and network.user_id != who.user_id:
        raise Forbidden("ports on public networks come with the network operations", field="network_id")
    return ports.create_port(session, network, name=name, user_id=network.user_id or who.user_id, wanted=wanted)


@_atomic
def remove_port(ctx: Context, session: Session, who: Principal, port_id: int) -> Port:
    """A port on no server: deleted, its addresses back in their pools. Attached to a server, a
    Conflict (detaching is a server operation, to come)."""
    write_lock(session)
    port = ports.get_port(session, port_id, user_id=who.user_id, admin=who.admin, for_update=True)
    return ports.remove_port(session, port)


# -- pools (administrators) -------------------------------------------------------------------

@_reading
def list_pools(ctx: Context, session: Session, who: Principal, *, type: str | None = None) -> list[Pool]:
    """The live bridge and MAC-prefix pools (as snf-manage pool-list), or those of `type`
    (`ip`: the subnets' address pools), by id."""
    _admin(who, "see pools")
    kinds = pools.TYPES if type is None else (pools.pool_type(type, allowed=(*pools.TYPES, PoolType.IP.value)),)
    return list(session.scalars(select(Pool).where(Pool.type.in_(kinds), Pool.deleted.is_(False)).order_by(Pool.id)))


@_reading
def get_pool(ctx: Context, session: Session, who: Principal, pool_id: int) -> Pool:
    _admin(who, "see pools")
    pool = session.get(Pool, pool_id) if isinstance(pool_id, int) and not isinstance(pool_id, bool) else None
    if pool is None:
        raise NotFound(f"pool {pool_id} not found")
    return pool


@_atomic
def create_pool(ctx: Context, session: Session, who: Principal, *, type: str, base: str, size: int) -> Pool:
    """As snf-manage pool-create: `bridge` from `base` (prv: prv1..prv<size>), or `mac-prefix`
    (aa:00:0: aa:00:0..; those not unicast and locally administered, and DEFAULT_MAC_PREFIX,
    reserved). One live pool of each type."""
    _admin(who, "create pools")
    kind = pools.pool_type(type)
    base = pools.check_base(kind, base)
    pools.check_size(kind, base, size)
    write_lock(session)
    existing = pools.live_pool(session, kind, for_update=True)
    if existing is not None:
        raise Conflict(f"there is a {kind} pool already ({existing.id}): grow it instead (pool modify --size)",
                       field="type")
    keep = (ctx.settings.default_mac_prefix,) if kind == PoolType.MAC_PREFIX.value else ()
    pool = pools.new_pool(kind, base, size, reserve_values=keep)
    try:
        with session.begin_nested():
            session.add(pool)
            session.flush()
    except IntegrityError:  # another create won the race (the unique index on live types)
        raise Conflict(f"there is a {kind} pool already", field="type") from None
    return pool


def _values(values: Any, field: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise Invalid("must be a list of values", field=field)
    values = list(values)
    if not all(isinstance(v, str) for v in values):
        raise Invalid("must be a list of values", field=field)
    return values


@_atomic
def modify_pool(ctx: Context, session: Session, who: Principal, pool_id: int, *, size: int | None = None,
                add_reserved: Iterable[str] = (), remove_reserved: Iterable[str] = ()) -> Pool:
    """Lift reservations, resize (never below a value in use or reserved by an operator), then
    reserve, as snf-manage pool-modify; an address pool's reservations too (not its size)."""
    _admin(who, "modify pools")
    add, remove = _values(add_reserved, "add_reserved"), _values(remove_reserved, "remove_reserved")
    both = set(add) & set(remove)
    if both:
        raise Invalid(f"{sorted(both)[0]} is both reserved and released", field="add_reserved")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise Invalid("must be a whole number", field="size")
    if not isinstance(pool_id, int) or isinstance(pool_id, bool):
        raise NotFound(f"pool {pool_id} not found")
    write_lock(session)
    pool = pools.lock(session, pool_id)
    if pool.deleted:
        raise Conflict(f"pool {pool.id} is deleted")
    keep = (ctx.settings.default_mac_prefix,) if pool.type == PoolType.MAC_PREFIX.value else ()
    pools.unreserve(pool, remove, keep=keep)
    if size is not None and size != pool.size:
        pools.resize(pool, size)
    pools.reserve(pool, add)
    session.flush()
    return pool
