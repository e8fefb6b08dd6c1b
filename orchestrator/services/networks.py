"""Networks, subnets, ports and pools: every use case writes its rows and commits before it
answers; none calls a cluster itself. A public network reaches its backends, and leaves
them, by durable operations (network_create, network_remove: orchestrator.network.operations)
that the use case commits with its rows and then hands over; only `inspect_network` reads
the clusters, because an administrator asked. docs/networks.md tells the model and the locks.

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
from ..models import Backend, Network, Pool, PoolType, Port, Server, Subnet
from ..network import flavors, inspect, networks, pools, ports
from ..network import operations as netops
from .. import quotas
from ..validation import check_name
from . import handover
from . import servers as server_services
from .servers import NicChange
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


def inspect_port(ctx: Context, session: Session, who: Principal, port_id: int) -> dict[str, Any]:
    """Administrators (as snf-manage port-inspect): the port beside the NIC of its name
    (`<BACKEND_PREFIX_ID>nic-<id>`) on its server's instance, read live; `nic` None where the
    instance has none, a read that failed its `error`."""
    _admin(who, "inspect ports")
    port = ports.get_port(session, port_id, user_id=who.user_id, admin=True)
    server = session.get(Server, port.server_id) if port.server_id is not None else None
    backend = server.backend if server is not None else None
    client = ctx.cluster(backend) if backend is not None and not backend.offline else None
    return inspect.inspect_port(port, server, client, ctx.settings.backend_prefix_id)


def create_network(ctx: Context, session: Session, who: Principal, *, name: str, flavor: str = "MAC_FILTERED",
                   mode: str | None = None, link: str | None = None, mac_prefix: str | None = None,
                   owner: str | None = None, public: bool = False, backend_ids: Iterable[int] | None = None,
                   cidr: str | None = None, gateway_ip: Any = DEFAULT, floating_ip_pool: bool = False) -> Network:
    """A private network of the caller's (or `owner`'s, by an administrator): users may choose
    the enabled flavors only (API_ENABLED_NETWORK_FLAVORS) and never mode, link or MAC prefix.
    A MAC_FILTERED network takes a MAC prefix from the MAC-prefix pool, a PHYSICAL_VLAN one a
    bridge from the bridge pool: none left (or no pool) is a Conflict.

    `public` (administrators; users get Forbidden naming `public`): a public network (no
    owner) with its IPv4 subnet (`cidr`, required; `gateway_ip` as create_subnet's), on the
    backends named (`backend_ids`; default: every online backend), PENDING: one
    `network_create` operation and one PENDING backend row per backend, written in the
    network's own transaction, committed, then handed over. Its `operations` are those.
    `floating_ip_pool`: users may allocate floating IPs from it (a public network only)."""
    if public:
        return _create_public_network(ctx, session, who, name=name, flavor=flavor, mode=mode, link=link,
                                      mac_prefix=mac_prefix, owner=owner, backend_ids=backend_ids, cidr=cidr,
                                      gateway_ip=gateway_ip, floating_ip_pool=floating_ip_pool)
    if floating_ip_pool:
        raise Invalid("only a public network is a pool of floating IPs", field="floating_ip_pool")
    if backend_ids is not None:
        raise Invalid("only a public network is put on backends when it is created", field="backend_ids")
    return _create_private_network(ctx, session, who, name=name, flavor=flavor, mode=mode, link=link,
                                   mac_prefix=mac_prefix, owner=owner, cidr=cidr, gateway_ip=gateway_ip)


def _ipv4_subnet(ctx: Context, cidr: str, gateway_ip: Any) -> dict[str, Any]:
    """The IPv4 subnet a network is created with (`cidr`), checked as create_subnet checks one."""
    settings = ctx.settings
    return networks.check_subnet_request(
        cidr=cidr, ip_version=4, name="", gateway_ip=gateway_ip, enable_dhcp=True, dns_nameservers=(),
        allocation_pools=None, prefix_min=settings.subnet_prefix_min, prefix_max=settings.subnet_prefix_max)


@_atomic
def _create_private_network(ctx: Context, session: Session, who: Principal, *, name: str, flavor: str,
                            mode: str | None, link: str | None, mac_prefix: str | None,
                            owner: str | None, cidr: str | None, gateway_ip: Any) -> Network:
    """With `cidr`, its IPv4 subnet too, in the same transaction (snf-manage network-create
    --subnet): a refused subnet leaves no network behind."""
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
    subnet_request = _ipv4_subnet(ctx, cidr, gateway_ip) if cidr is not None else None
    write_lock(session)
    try:
        network = networks.create_network(session, name=name, flavor=flavor, user_id=owner or who.user_id,
                                          request=request, defaults=defaults)
    except IntegrityError:  # the unique indexes on pooled values: never, while the pools' locks hold
        raise Conflict("another network holds that link or MAC prefix") from None
    if subnet_request is not None:
        networks.create_subnet(session, network, subnet_request)
        session.refresh(network)
    # Last before the commit: the owner's quota lock (over cyclades.network.private: refused, nothing written).
    quotas.charge(session, network.user_id, {quotas.PRIVATE_NETWORK: 1}, defaults=settings.quota_defaults)
    return network


def _create_public_network(ctx: Context, session: Session, who: Principal, **fields: Any) -> Network:
    try:
        network = _write_public_network(ctx, session, who, **fields)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for op in network.operations:
        handover.run(ctx, op)
    return network


def _write_public_network(ctx: Context, session: Session, who: Principal, *, name: str, flavor: str,
                          mode: str | None, link: str | None, mac_prefix: str | None, owner: str | None,
                          backend_ids: Iterable[int] | None, cidr: str | None, gateway_ip: Any,
                          floating_ip_pool: bool) -> Network:
    if not who.admin:
        raise Forbidden("only administrators may create public networks", field="public")
    check_name(name, "name")
    if owner is not None:
        raise Invalid("a public network has no owner", field="owner")
    if cidr is None:
        raise Invalid("a public network is created with its IPv4 subnet: give its CIDR", field="cidr")
    settings = ctx.settings
    defaults = flavors.FlavorDefaults.from_settings(settings)
    request = networks.check_network_request(flavor=flavor, mode=mode, link=link, mac_prefix=mac_prefix,
                                             admin=True, enabled=settings.network_flavors_enabled,
                                             defaults=defaults)
    subnet_request = _ipv4_subnet(ctx, cidr, gateway_ip)
    wanted = _backend_ids(backend_ids)
    write_lock(session)
    targets = _public_backends(session, wanted)
    try:
        network = networks.create_network(session, name=name, flavor=flavor, user_id=None, request=request,
                                          defaults=defaults, public=True)
    except IntegrityError:
        raise Conflict("another network holds that link or MAC prefix") from None
    network.floating_ip_pool = bool(floating_ip_pool)
    networks.create_subnet(session, network, subnet_request)
    for backend in targets:
        row, op = netops.new_create(network, backend, who.user_id)
        session.add_all([row, op])
    session.flush()
    session.refresh(network)
    return network


def _backend_ids(backend_ids: Iterable[int] | None) -> list[int] | None:
    if backend_ids is None:
        return None
    if isinstance(backend_ids, (str, bytes)) or not isinstance(backend_ids, Iterable):
        raise Invalid("must be a list of backend ids", field="backend_ids")
    ids = list(backend_ids)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Invalid("must be a non-empty list of backend ids", field="backend_ids")
    if len(set(ids)) != len(ids):
        raise Invalid("names a backend twice", field="backend_ids")
    return ids


def _public_backends(session: Session, wanted: list[int] | None) -> list[Backend]:
    """The backends named (each must exist and be online), or every online backend."""
    if wanted is None:
        found = list(session.scalars(select(Backend).where(Backend.offline.is_(False)).order_by(Backend.id)))
        if not found:
            raise Conflict("no backend is online to put the network on", field="backend_ids")
        return found
    found = {b.id: b for b in session.scalars(select(Backend).where(Backend.id.in_(wanted)))}
    for backend_id in wanted:
        backend = found.get(backend_id)
        if backend is None:
            raise NotFound(f"backend {backend_id} not found", field="backend_ids")
        if backend.offline:
            raise Conflict(f"backend {backend_id} is offline", field="backend_ids")
    return [found[i] for i in wanted]


@_atomic
def modify_network(ctx: Context, session: Session, who: Principal, network_id: int, *, name: str | None = None,
                   floating_ip_pool: bool | None = None, drained: bool | None = None) -> Network:
    """Rename a network; administrators also make a public network a floating-IP pool (or no
    longer one) and drain it (no floating IP is drawn from it or attached any more; those
    attached stay)."""
    if name is not None:
        check_name(name, "name")
    for field, value in (("floating_ip_pool", floating_ip_pool), ("drained", drained)):
        if value is not None and not who.admin:
            raise Forbidden(f"only administrators set {field}", field=field)
        if value is not None and not isinstance(value, bool):
            raise Invalid("must be true or false", field=field)
    write_lock(session)
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin, for_update=True)
    networks.owned(network, who.user_id, who.admin, "rename")
    if floating_ip_pool and not network.public:
        raise Invalid("only a public network is a pool of floating IPs", field="floating_ip_pool")
    if name is not None:
        network.name = name
    if floating_ip_pool is not None:
        network.floating_ip_pool = floating_ip_pool
    if drained is not None:
        network.drained = drained
    session.flush()
    return network


def remove_network(ctx: Context, session: Session, who: Principal, network_id: int) -> Network:
    """Conflict while live ports use it; else deleted (state DELETED) with its subnets, their
    address pools, and its bridge and MAC prefix back in their pools. A network that backends
    hold (a public one) is taken off them first: one network_remove operation per backend
    holding it, committed and handed over, and the network answered with its operations
    (not deleted yet: the last removal that succeeds deletes it and releases its values).
    Conflict while any operation of the network is in flight."""
    try:
        network, started = _remove_network(ctx, session, who, network_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for op in started:
        handover.run(ctx, op)
    return network


def removing(network: Network) -> bool:
    """Whether a removal answered this network still on backends (its removals under way)."""
    return not network.deleted and any(op.kind == netops.NETWORK_REMOVE and not op.is_finished
                                       for op in network.operations)


def _remove_network(ctx: Context, session: Session, who: Principal, network_id: int) -> tuple[Network, list]:
    write_lock(session)
    network = networks.get_network(session, network_id, user_id=who.user_id, admin=who.admin, for_update=True)
    networks.owned(network, who.user_id, who.admin, "delete")
    networks.check_removable(session, network)
    held = networks.held_by(session, network)
    if not held:
        return networks.delete_rows(session, network), []
    busy = [op for op in network.operations if not op.is_finished]
    if busy:
        raise Conflict(f"operation {busy[0].id} ({busy[0].kind}) is in flight for network {network.id} on backend "
                       f"{busy[0].backend_id}: wait for it, or cancel it")
    started = [netops.new_remove(network, row.backend_id, who.user_id) for row in held]
    try:
        with session.begin_nested():
            session.add_all(started)
            session.flush()
    except IntegrityError:  # a racing request started one (the in-flight index per network and backend)
        raise Conflict(f"an operation is in flight for network {network.id}") from None
    session.refresh(network)
    return network, started


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


@_atomic
def remove_subnet(ctx: Context, session: Session, who: Principal, subnet_id: int) -> Subnet:
    """Delete a subnet of one of the caller's networks, with its address pool: SubnetInUse (a
    Conflict) while ports hold addresses of it, Conflict while its network is on backends."""
    write_lock(session)
    subnet = networks.get_subnet(session, subnet_id, user_id=who.user_id, admin=who.admin)
    network = networks.get_network(session, subnet.network_id, user_id=who.user_id, admin=who.admin,
                                   for_update=True)
    networks.owned(network, who.user_id, who.admin, "delete a subnet of")
    return networks.remove_subnet(session, subnet)


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
                fixed_ips: list[dict[str, Any]] | None = None, device_id: int | None = None) -> Port | NicChange:
    """A port (DOWN, on no server) on one of the caller's networks, with an address of each
    subnet (IPv4 from its pool, IPv6 the EUI-64 of the port's MAC), or those of `fixed_ips`
    ([{"subnet_id"?, "ip_address"?}]). An address outside the pools is Invalid, one taken a
    Conflict, both naming fixed_ips; an exhausted pool is a Conflict naming the subnet.
    With `device_id`, the port is made for that server and connected to it by a durable
    operation (servers.connect): the port and its operation."""
    if device_id is not None:
        return server_services.connect(ctx, session, who, device_id, network_id=network_id, fixed_ips=fixed_ips,
                                       name=name)
    return _create_port(ctx, session, who, network_id=network_id, name=name, fixed_ips=fixed_ips)


@_atomic
def _create_port(ctx: Context, session: Session, who: Principal, *, network_id: int, name: str,
                 fixed_ips: list[dict[str, Any]] | None) -> Port:
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
    port = ports.create_port(session, network, name=name, user_id=network.user_id or who.user_id, wanted=wanted)
    port.preserve_on_delete = True  # made on its own: a detach through Nova keeps it
    return port


def remove_port(ctx: Context, session: Session, who: Principal, port_id: int) -> Port | NicChange:
    """A port on no server: deleted, its addresses back in their pools. A port on a server: a
    durable disconnect operation removes its NIC, and the port goes with it (servers.disconnect):
    the port and its operation."""
    port = ports.get_port(session, port_id, user_id=who.user_id, admin=who.admin)
    if port.server_id is not None:
        return server_services.disconnect(ctx, session, who, port.server_id, port.id)
    return _remove_port(ctx, session, who, port_id)


@_atomic
def _remove_port(ctx: Context, session: Session, who: Principal, port_id: int) -> Port:
    write_lock(session)
    port = ports.get_port(session, port_id, user_id=who.user_id, admin=who.admin, for_update=True)
    if port.server_id is not None:  # attached meanwhile
        raise Conflict(f"port {port.id} was just attached to server {port.server_id}: remove it again")
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
