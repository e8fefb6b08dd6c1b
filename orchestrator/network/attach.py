"""Servers' NICs as ports: the ports a server is created with or connected to, the private
networks put on its backend when it first needs them, and what a server operation's end
does to its ports.

A server's NICs are its live ports, by `index` (Ganeti's NIC order). Each reaches Ganeti as
a NIC named `<prefix>nic-<port id>` on the network `<prefix>net-<network id>`, with the
port's IPv4 address and MAC (`nic_spec`), so that the cluster and the database agree on
both from the start.

A private network is active in the database at once and exists on no backend until a
server there needs it: the server's create (at allocate, once its backend is chosen) or
connect (when it is asked) writes the backend's network row and its network_create
operation in its own transaction (`place_networks`), and its Ganeti job then depends on
that operation's jobs (`dependencies`), as Synnefo's create waits on its network jobs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models import (IN_FLIGHT, BackendNetwork, Network, NetworkState, Operation, OperState, OpStatus, Port,
                      PortState, Server, Step)
from ..rapi.instances import nic_params
from . import floating_ips, ports
from . import operations as netops
from .networks import visible

FIELD = "networks"
MAX_NICS = 8  # Ganeti's default limit of NICs per instance (constants.MAX_NICS)
NETWORK_OPS = "network_ops"  # params: the network_create operations a server's job waits for
NICS = "nics"  # params of a create: the NICs it sends (none: the cluster's default NIC)
PORT = "port_id"  # params of a connect or disconnect: its port
KEEP_PORT = "keep_port"  # params of a disconnect: its port is kept, on no server (request_disconnect)


@dataclass(frozen=True)
class Wanted:
    """One NIC a request asks for: a new port on a network (with its fixed IP, or the pool's
    next), or an existing port of the caller's."""

    network_id: int | None = None
    fixed_ips: list[dict[str, Any]] | None = None  # as a port's create takes them (None: each subnet's next)
    port_id: int | None = None
    name: str = ""
    fixed_ip: str | None = None  # a server NIC's IPv4 address (its IPv6 ones are still the EUI-64s)


def _an_id(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Invalid(f"{what} must be a positive integer id", field=FIELD)
    return value


def check_wanted(networks: Any) -> list[Wanted] | None:
    """The shape of `networks` ([{"network_id", "fixed_ip"?} | {"port_id"}]), checked before
    any row is read; None when absent (the deployment's default networks)."""
    if networks is None:
        return None
    if not isinstance(networks, list):
        raise Invalid("must be a list of {network_id, fixed_ip} or {port_id}", field=FIELD)
    if len(networks) > MAX_NICS:
        raise Invalid(f"at most {MAX_NICS} NICs per server", field=FIELD)
    wanted = []
    for entry in networks:
        if not isinstance(entry, dict) or not entry or set(entry) - {"network_id", "fixed_ip", "port_id"}:
            raise Invalid("each entry is {network_id, fixed_ip?} or {port_id}", field=FIELD)
        if "port_id" in entry:
            if set(entry) != {"port_id"}:
                raise Invalid("an entry naming a port_id names nothing else", field=FIELD)
            wanted.append(Wanted(port_id=_an_id(entry["port_id"], "port_id")))
            continue
        fixed_ip = entry.get("fixed_ip")
        if fixed_ip is not None and not isinstance(fixed_ip, str):
            raise Invalid("fixed_ip must be an IPv4 address", field=FIELD)
        wanted.append(Wanted(network_id=_an_id(entry.get("network_id"), "network_id"), fixed_ip=fixed_ip))
    ids = [w.port_id for w in wanted if w.port_id is not None]
    if len(ids) != len(set(ids)):
        raise Invalid("a port is named once", field=FIELD)
    return wanted


def defaults(network_ids: Sequence[int]) -> list[Wanted]:
    """The deployment's default networks (DEFAULT_SERVER_NETWORKS), one new port on each."""
    return [Wanted(network_id=network_id) for network_id in network_ids]


def attach_new(session: Session, server: Server, wanted: list[Wanted], *, user_id: str, admin: bool,
               system: bool = False) -> list[Port]:
    """The server's ports, flushed, in NIC order from its next free index: new ones drawn on
    the networks named, existing ones of the caller's taken (each DOWN and on no server).
    The caller took the database write lock; networks are locked shared in id order (as a
    port's create does), then the ports. `system`: the deployment's default networks, which
    may be public (a user names only their own networks)."""
    networks = _lock_networks(session, sorted({w.network_id for w in wanted if w.network_id is not None}),
                              user_id=user_id, admin=admin, system=system)
    index = next_index(session, server.id)
    attached = []
    for entry in wanted:
        if entry.port_id is not None:
            port = _free_port(session, entry.port_id, user_id=user_id, admin=admin)
        else:
            network = networks[entry.network_id]
            port = ports.create_port(session, network, name=entry.name, user_id=server.user_id,
                                     wanted=ports.check_fixed_ips(_fixed_ips(session, network, entry)))
        port.server_id, port.index, port.state = server.id, index, PortState.BUILD.value
        index += 1
        attached.append(port)
    session.flush()
    return attached


def _fixed_ips(session: Session, network: Network, entry: Wanted) -> list[dict[str, Any]] | None:
    """A NIC's `fixed_ip` is its IPv4 address; it keeps an IPv6 one of each IPv6 subnet, as
    Synnefo gives every port on a network with an IPv6 subnet."""
    if entry.fixed_ip is None:
        return entry.fixed_ips
    v6 = [{"subnet_id": s.id} for s in ports.live_subnets(session, network.id) if s.ip_version == 6]
    return [{"ip_address": entry.fixed_ip}, *v6]


def _lock_networks(session: Session, ids: list[int], *, user_id: str, admin: bool,
                   system: bool) -> dict[int, Network]:
    found = {}
    for network_id in ids:
        network = ports.lock_network_shared(session, network_id)
        if network is None or network.deleted or not (system or visible(network, user_id, admin)):
            raise NotFound(f"network {network_id} not found", field=FIELD)
        if network.public and not (admin or system):
            raise Forbidden(f"network {network_id} is public: a server gets a public address from the "
                            "deployment's default networks", field=FIELD)
        if network.state == NetworkState.ERROR.value and network.public:
            raise Conflict(f"network {network_id} is in ERROR", field=FIELD)
        found[network_id] = _on_ganeti(session, network)
    return found


def _on_ganeti(session: Session, network: Network) -> Network:
    """A Ganeti network is made of an IPv4 subnet: a network without one carries no NIC."""
    if not any(s.ip_version == 4 for s in ports.live_subnets(session, network.id)):
        raise Conflict(f"network {network.id} has no IPv4 subnet: add one before servers use it", field=FIELD)
    return network


def _free_port(session: Session, port_id: int, *, user_id: str, admin: bool) -> Port:
    port = ports.lock_port(session, port_id)
    if port is None or port.deleted or not (admin or port.user_id == user_id):
        raise NotFound(f"port {port_id} not found", field=FIELD)
    if port.server_id is not None:
        raise Conflict(f"port {port_id} is attached to server {port.server_id}", field=FIELD)
    network = ports.lock_network_shared(session, port.network_id)
    if network is None or network.deleted:
        raise Conflict(f"port {port_id}'s network is deleted", field=FIELD)
    _on_ganeti(session, network)
    return port


def next_index(session: Session, server_id: int) -> int:
    indices = session.scalars(select(Port.index).where(Port.server_id == server_id, Port.deleted.is_(False))).all()
    return max((i for i in indices if i is not None), default=-1) + 1


def server_ports(session: Session, server_id: int) -> list[Port]:
    return list(session.scalars(select(Port).where(Port.server_id == server_id, Port.deleted.is_(False))
                                .order_by(Port.index, Port.id)))


def nic_spec(port: Port, prefix: str) -> dict[str, str]:
    """The NIC Ganeti gets for `port`: its name, its network's Ganeti name, its IPv4 address
    (none: no IPv4 subnet) and its MAC."""
    ipv4 = next((a.address for a in port.addresses if a.ip_version == 4 and not a.deleted), None)
    return nic_params(network=port.network.ganeti_name(prefix), ip=ipv4, mac=port.mac, name=port.ganeti_name(prefix))


# -- the networks a server's backend must hold ------------------------------------------------

def place_networks(session: Session, attached: list[Port], backend_id: int, user_id: str) -> tuple[list[int],
                                                                                                list[Operation]]:
    """Make sure each port's network is (or is being put) on `backend_id`: the operations the
    server's job waits for, and those written here (to dispatch after the commit).

    A public network must be on the backend already (the allocator chose one that holds it);
    a private one gets its backend row and a network_create operation, or waits on the one in
    flight; one that failed there is created again. Each network is locked (FOR UPDATE), so
    two servers needing it at once write one operation."""
    waits: list[int] = []
    written: list[Operation] = []
    for network_id in sorted({p.network_id for p in attached}):
        network = netops.lock_network(session, network_id)
        row = next((r for r in network.backend_networks if r.backend_id == backend_id), None)
        if network.public:
            if row is None or row.state != NetworkState.ACTIVE.value:
                raise Conflict(f"public network {network_id} is not active on backend {backend_id}", field=FIELD)
            continue
        if row is not None and row.state == NetworkState.ACTIVE.value:
            continue
        current = _creating(session, network_id, backend_id)
        if current is not None:
            waits.append(current.id)
            continue
        op = netops.create_operation(network, backend_id, user_id)
        if row is None:
            session.add(BackendNetwork(network=network, backend_id=backend_id, state=NetworkState.PENDING.value))
        else:
            row.state = NetworkState.PENDING.value
        session.add(op)
        session.flush()
        waits.append(op.id)
        written.append(op)
    return waits, written


def _creating(session: Session, network_id: int, backend_id: int) -> Operation | None:
    return session.scalars(select(Operation).where(Operation.network_id == network_id,
                                                   Operation.backend_id == backend_id,
                                                   Operation.kind == netops.NETWORK_CREATE,
                                                   Operation.status.in_(IN_FLIGHT))).first()


def public_backends(session: Session, attached: list[Port]) -> set[int] | None:
    """The backends holding every public network of the ports ACTIVE (None: no public one)."""
    within: set[int] | None = None
    for network_id in sorted({p.network_id for p in attached}):
        network = session.get(Network, network_id)
        if not network.public:
            continue
        held = {r.backend_id for r in network.backend_networks if r.state == NetworkState.ACTIVE.value}
        within = held if within is None else within & held
    return within


class Waiting(Exception):
    """A network operation the server's job waits for has sent no job yet."""


class NetworkFailed(Exception):
    """A network operation the server's job waited for failed."""


def dependencies(session: Session, op: Operation) -> list[tuple[int, list[str]]]:
    """The jobs of the network operations `op` waits for that may still be in the queue, each
    to end in success (Ganeti's `depends`); those that succeeded already are left out (an
    archived job would fail the dependency). Waiting while one has sent nothing yet;
    NetworkFailed when one failed (and no newer one of its network and backend was made:
    retrying the network's operation, then the server's, carries on)."""
    depends: list[tuple[int, list[str]]] = []
    for op_id in op.params.get(NETWORK_OPS) or []:
        network_op = _latest(session, session.get(Operation, op_id, populate_existing=True))
        if network_op is None or network_op.status == OpStatus.SUCCEEDED.value:
            continue
        if network_op.status == OpStatus.FAILED.value:
            raise NetworkFailed(f"network {network_op.network_id} could not be created on backend "
                                f"{network_op.backend_id} (operation {network_op.id}): {network_op.error}")
        if network_op.step in (Step.ALLOCATE.value, Step.SUBMIT.value):
            raise Waiting(network_op.id)
        depends.extend((j["job_id"], ["success"]) for j in network_op.params.get(netops.JOBS) or []
                       if j.get("status") != "success")
    return depends


def _latest(session: Session, network_op: Operation | None) -> Operation | None:
    """The newest network_create of the same network and backend: one that failed may have been
    followed by another (for the next server that needed the network there), which is then
    the one to wait for."""
    if network_op is None:
        return None
    newer = session.scalars(select(Operation).where(Operation.network_id == network_op.network_id,
                                                    Operation.backend_id == network_op.backend_id,
                                                    Operation.kind == netops.NETWORK_CREATE,
                                                    Operation.id > network_op.id)
                            .order_by(Operation.id.desc()).limit(1)).first()
    return newer or network_op


# -- what a server operation's end does to its ports ------------------------------------------

def settle(session: Session, op: Operation) -> None:
    """The ports of `op`'s server after it ended (finalize, or an event that ended it): a
    create's come up (ACTIVE) or show its failure (ERROR); a connect's port comes up, or is
    let go (DOWN, on no server) when its NIC was not added; a disconnect's port and a destroyed
    server's ports are deleted, their addresses back in their pools; a start or shutdown moves
    them between ACTIVE and DOWN. The caller holds the database write lock (pools change)."""
    server = op.server
    if server is None:
        return
    succeeded = op.status == OpStatus.SUCCEEDED.value
    if server.operstate == OperState.DESTROYED.value or server.deleted:
        for port in server_ports(session, server.id):
            release(session, port)
        return
    up = PortState.ACTIVE.value if server.operstate == OperState.STARTED.value else PortState.DOWN.value
    if op.kind == "create":
        for port in server_ports(session, server.id):
            if port.state == PortState.BUILD.value:
                port.state = up if succeeded else PortState.ERROR.value
    elif op.kind in ("connect", "disconnect"):
        port = ports.lock_port(session, op.params.get(PORT))
        if port is None or port.deleted or port.server_id != server.id:
            return
        if op.kind == "disconnect" and succeeded and op.params.get(KEEP_PORT):
            port.server_id, port.index, port.state = None, None, PortState.DOWN.value  # kept, on no server
        elif op.kind == "disconnect" and succeeded:
            release(session, port)
        elif op.kind == "connect" and not succeeded and _floating(port):
            release(session, port)  # made for its floating IP, which is left unattached
        elif op.kind == "connect" and not succeeded:
            port.server_id, port.index, port.state = None, None, PortState.DOWN.value
        else:
            port.state = up
            if op.kind == "connect" and succeeded:
                floating_ips.held(session, port)
    elif op.kind in ("start", "shutdown", "reboot") and succeeded:
        for port in server_ports(session, server.id):
            if port.state in (PortState.ACTIVE.value, PortState.DOWN.value):
                port.state = up
    session.flush()


def _floating(port: Port) -> bool:
    return any(a.floating_ip and not a.deleted for a in port.addresses)


def release(session: Session, port: Port) -> None:
    """A server's port deleted with its NIC: its addresses back in their pools (a floating IP
    stays its user's, detached), and the server's later NICs one index down, as Ganeti
    renumbers them."""
    server_id, index = port.server_id, port.index
    for address in port.addresses:
        if address.floating_ip and not address.deleted:
            floating_ips.let_go(session, address)
    port.server_id, port.index = None, None
    session.flush()
    ports.remove_port(session, port)
    if server_id is None or index is None:
        return
    for later in server_ports(session, server_id):
        if later.index is not None and later.index > index:
            later.index -= 1
            session.flush()


# -- connecting and disconnecting a running server's ports ------------------------------------

CONNECTABLE = (OperState.STARTED.value, OperState.STOPPED.value)


def _check_server(server: Server, admin: bool) -> None:
    if server.deleted or server.operstate == OperState.DESTROYED.value:
        raise Conflict(f"server {server.id} is deleted")
    if server.suspended and not admin:
        raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
    if server.operstate not in CONNECTABLE or server.backend_id is None:
        raise Conflict(f"cannot change the NICs of a server in state {server.operstate}")


def request_connect(session: Session, server: Server, wanted: Wanted, *, user_id: str, admin: bool,
                    prefix: str) -> tuple[Port, Operation, list[Operation]]:
    """A port (new on a network, or the caller's) attached to `server` as its next NIC, and the
    connect operation that hot-adds it (flushed): the port, the operation, and the network
    operations written to put a private network on the server's backend (to dispatch after
    the commit). The caller locked the server (servers.lock_server) and inserts the operation
    under the one-in-flight index."""
    _check_server(server, admin)
    if len(server_ports(session, server.id)) >= MAX_NICS:
        raise Conflict(f"server {server.id} has {MAX_NICS} NICs already", field=FIELD)
    network_id = wanted.network_id
    if wanted.port_id is not None:
        found = session.get(Port, wanted.port_id)
        network_id = found.network_id if found is not None else None
    if network_id is not None and session.get(Network, network_id) is not None:
        netops.lock_network(session, network_id)  # FOR UPDATE before the shared locks below: no upgrade
    (port,) = attach_new(session, server, [wanted], user_id=user_id, admin=admin)
    waits, written = place_networks(session, [port], server.backend_id, user_id)
    op = Operation(kind="connect", server_id=server.id, user_id=user_id, step=Step.SUBMIT.value,
                   backend_id=server.backend_id,
                   params={PORT: port.id, "nic": nic_spec(port, prefix), **({NETWORK_OPS: waits} if waits else {})})
    return port, op, written


def request_disconnect(session: Session, server: Server, port_id: Any, *, user_id: str, admin: bool,
                       prefix: str, keep_own_port: bool = False) -> tuple[Port, Operation]:
    """The disconnect operation that hot-removes the port's NIC from `server` (by the NIC's
    name); the port is deleted, and its addresses go back, when the NIC is gone, unless
    `keep_own_port` and its user made it on its own (`preserve_on_delete`): it is then let go,
    DOWN on no server with its addresses, as Nova detaches such a port."""
    _check_server(server, admin)
    port = ports.lock_port(session, port_id) if isinstance(port_id, int) and not isinstance(port_id, bool) else None
    if port is None or port.deleted or not (admin or port.user_id == user_id) or port.server_id != server.id:
        raise NotFound(f"port {port_id} is not a port of server {server.id}", field="port_id")
    op = Operation(kind="disconnect", server_id=server.id, user_id=user_id, step=Step.SUBMIT.value,
                   backend_id=server.backend_id, params={PORT: port.id, "nic": {"name": port.ganeti_name(prefix)},
                                                         KEEP_PORT: bool(keep_own_port and port.preserve_on_delete)})
    return port, op


def reopened(session: Session, op: Operation) -> None:
    """A server operation retried (operations.reopen): a create's ports in ERROR are BUILD again;
    a connect takes its port back as the server's next NIC (it was let go when the connect
    failed), unless the port is gone or on another server meanwhile (Conflict); a disconnect's
    port must still be the server's."""
    server = op.server
    if op.kind == "create":
        for port in server_ports(session, server.id):
            if port.state == PortState.ERROR.value:
                port.state = PortState.BUILD.value
    elif op.kind in ("connect", "disconnect"):
        port = ports.lock_port(session, op.params.get(PORT))
        if port is None or port.deleted:
            raise Conflict(f"port {op.params.get(PORT)} is deleted: ask for a new {op.kind}")
        if op.kind == "connect" and port.server_id is None:
            port.server_id, port.index, port.state = server.id, next_index(session, server.id), PortState.BUILD.value
        elif port.server_id != server.id:
            raise Conflict(f"port {port.id} is not on server {server.id} any more: ask for a new {op.kind}")
    session.flush()
