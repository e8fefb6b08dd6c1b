"""Floating IPs: allocate, list, attach to a server, detach, release, and their history.

Allocation and release are immediate rows (an address out of, or back into, its public
network's pool, under the pool's lock); attaching and detaching are the server's durable
connect and disconnect operations (a NIC on the public network, holding the address, hot-added
or hot-removed), so they follow the same rule as every other change a cluster must make.
orchestrator.network.floating_ips tells the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from .. import auth, quotas
from ..auth import Principal
from ..db import write_lock
from ..errors import Conflict, Forbidden, NotFound
from ..models import IPAddress, IPAddressLog, Operation
from ..network import attach, floating_ips
from ..network import operations as netops
from . import servers as server_services
from .context import Context
from .networks import _atomic, _reading


@dataclass(frozen=True)
class FloatingIP:
    """A floating IP as it is shown: the address row, its network and where it is attached."""

    ip: IPAddress
    network_id: int
    port_id: int | None
    server_id: int | None
    operation: Operation | None = None

    @property
    def id(self) -> int:
        return self.ip.id


def _view(session: Session, fip: IPAddress, op: Operation | None = None) -> FloatingIP:
    return FloatingIP(fip, floating_ips.network_of(session, fip).id, fip.port_id,
                      floating_ips.attached_server(session, fip), op)


@_reading
def list_floating_ips(ctx: Context, session: Session, who: Principal, *, after: int | None = None,
                      limit: int | None = None, network_id: int | None = None,
                      server_id: int | None = None) -> list[FloatingIP]:
    rows = floating_ips.search(session, user_id=who.user_id, admin=who.admin, network_id=network_id,
                               server_id=server_id, after=after, limit=limit)
    return [_view(session, fip) for fip in rows]


@_reading
def get_floating_ip(ctx: Context, session: Session, who: Principal, fip_id: int) -> FloatingIP:
    return _view(session, floating_ips.get(session, fip_id, user_id=who.user_id, admin=who.admin))


@_atomic
def allocate(ctx: Context, session: Session, who: Principal, *, network_id: int, address: str | None = None,
             owner: str | None = None) -> FloatingIP:
    """A floating IP of the caller's (or `owner`'s, by an administrator) from a public network
    that is a floating-IP pool and not drained: `address`, or the pool's next; counted at once
    against the owner's cyclades.floating_ip (over it: OverLimit, nothing written)."""
    if owner is not None and owner != who.user_id and not who.admin:
        raise Forbidden("only administrators may allocate a floating IP for another user", field="user_id")
    if owner is not None:
        auth.check_user_id(owner, "user_id")
    user_id = owner or who.user_id
    write_lock(session)
    network = floating_ips.pool_network(session, network_id)
    fip = floating_ips.allocate(session, network, user_id=user_id, address=address)
    quotas.charge(session, user_id, {quotas.FLOATING_IP: 1}, defaults=ctx.settings.quota_defaults)
    return _view(session, fip)


@_atomic
def release(ctx: Context, session: Session, who: Principal, fip_id: int) -> FloatingIP:
    """Give a floating IP back to its pool; refused (409) while it is attached."""
    write_lock(session)
    fip = floating_ips.get(session, fip_id, user_id=who.user_id, admin=who.admin, for_update=True)
    view = _view(session, fip)
    floating_ips.release(session, fip)
    quotas.charge(session, fip.user_id, {quotas.FLOATING_IP: -1}, defaults=ctx.settings.quota_defaults)
    return view


def attach_to(ctx: Context, session: Session, who: Principal, fip_id: int, server_id: int) -> FloatingIP:
    """Attach a floating IP to one of the caller's live servers: a port on its public network
    holding the address, and the server's connect operation that hot-adds its NIC (after
    which the address is on the instance). A floating IP attached (or being attached) already,
    or on a network drained since, is a Conflict; another user's is not found."""
    def request(server):
        fip = floating_ips.get(session, fip_id, user_id=who.user_id, admin=who.admin, for_update=True)
        if fip.user_id != server.user_id:
            raise Conflict(f"floating IP {fip.id} belongs to {fip.user_id}, server {server.id} to "
                           f"{server.user_id}", field="device_id")
        network = netops.lock_network(session, floating_ips.network_of(session, fip).id)
        port = floating_ips.port_for(session, fip, network=network)
        return attach.request_connect(session, server, attach.Wanted(port_id=port.id), user_id=who.user_id,
                                      admin=who.admin, prefix=ctx.settings.backend_prefix_id)

    change = server_services.change_nics(ctx, session, server_services.get(ctx, session, who, server_id), request)
    fip = floating_ips.get(session, fip_id, user_id=who.user_id, admin=who.admin)
    return _view(session, fip, change.operation)


def detach(ctx: Context, session: Session, who: Principal, fip_id: int) -> FloatingIP:
    """Detach a floating IP from its server: the server's disconnect operation removes its
    NIC; the address stays the caller's, on no server."""
    fip = floating_ips.get(session, fip_id, user_id=who.user_id, admin=who.admin)
    server_id, port_id = floating_ips.attached_server(session, fip), fip.port_id
    if server_id is None:
        session.rollback()
        raise Conflict(f"floating IP {fip.id} is not attached", field="device_id")
    change = server_services.disconnect(ctx, session, who, server_id, port_id)
    return _view(session, fip, change.operation)


def update(ctx: Context, session: Session, who: Principal, fip_id: int, *, device_id: Any) -> FloatingIP:
    """Neutron's update of a floating IP: `device_id` a server attaches it, null detaches it."""
    if device_id is None:
        return detach(ctx, session, who, fip_id)
    return attach_to(ctx, session, who, fip_id, device_id)


@_reading
def history(ctx: Context, session: Session, who: Principal, *, address: str | None = None,
            server_id: int | None = None, fip_id: int | None = None) -> list[IPAddressLog]:
    """Administrators: which server held a public address when (newest first), by address,
    server or floating IP (as Synnefo keeps for abuse reports)."""
    if not who.admin:
        raise Forbidden("only administrators read the addresses' history")
    if fip_id is not None and session.get(IPAddress, fip_id) is None:
        raise NotFound(f"floating IP {fip_id} not found")
    return floating_ips.history(session, address=address, server_id=server_id, ip_address_id=fip_id)
