"""`floating-ip`: public addresses users own (create, list, show, attach, detach, remove), and
the history of which server held an address when (Synnefo keeps it for abuse reports)."""
from __future__ import annotations

import click

from ..services import floating_ips
from ..services.context import Context
from .networks import LIMIT, _list
from .output import OUTPUT, emit, show
from .runtime import ADMIN, pass_services

COLUMNS = ["id", "address", "network_id", "user_id", "port_id", "server_id", "created_at"]
HISTORY_COLUMNS = ["address", "floating_ip_id", "network_id", "server_id", "user_id", "allocated_at",
                   "released_at", "active"]


def _row(fip) -> dict:
    return {"id": fip.ip.id, "address": fip.ip.address, "network_id": fip.network_id, "user_id": fip.ip.user_id,
            "port_id": fip.port_id, "server_id": fip.server_id, "created_at": fip.ip.created_at}


def _with_operation(fip) -> dict:
    row = _row(fip)
    if fip.operation is not None:
        row["operation_id"] = fip.operation.id
    return row


def _history_rows(rows) -> list[dict]:
    return [{"address": r.address, "floating_ip_id": r.ip_address_id, "network_id": r.network_id,
             "server_id": r.server_id, "user_id": r.user_id, "allocated_at": r.allocated_at,
             "released_at": r.released_at, "active": r.active} for r in rows]


@click.group("floating-ip")
def floating_ip() -> None:
    """Floating IPs: a user's public addresses, attached to a server's NIC on the public network."""


@floating_ip.command("create")
@click.option("--network", "network_id", type=int, required=True, help="A public network that is a floating-IP pool.")
@click.option("--user", "owner", required=True, help="The user it is for.")
@click.option("--address", help="The address (default: the pool's next).")
@OUTPUT
@pass_services
def fip_create(services: Context, network_id: int, owner: str, address: str | None, output: str) -> None:
    """Allocate a floating IP for a user."""
    with services.session() as session:
        show(_row(floating_ips.allocate(services, session, ADMIN, network_id=network_id, address=address,
                                        owner=owner)), output)


@floating_ip.command("list")
@click.option("--network", "network_id", type=int)
@click.option("--server", "server_id", type=int)
@LIMIT
@OUTPUT
@pass_services
def fip_list(services: Context, network_id: int | None, server_id: int | None, limit: int, output: str) -> None:
    """Every user's floating IPs, by id."""
    with services.session() as session:
        found = floating_ips.list_floating_ips(services, session, ADMIN, limit=limit, network_id=network_id,
                                               server_id=server_id)
        _list([_row(f) for f in found], COLUMNS, output)


@floating_ip.command("show")
@click.argument("fip_id", type=int)
@OUTPUT
@pass_services
def fip_show(services: Context, fip_id: int, output: str) -> None:
    """One floating IP, and which servers held it when."""
    with services.session() as session:
        row = _row(floating_ips.get_floating_ip(services, session, ADMIN, fip_id))
        held = _history_rows(floating_ips.history(services, session, ADMIN, fip_id=fip_id))
    if output == "json":
        show({**row, "history": held}, output)
        return
    show(row, output)
    click.echo("\n== history")
    emit(held, HISTORY_COLUMNS, output)


@floating_ip.command("attach")
@click.argument("fip_id", type=int)
@click.option("--server", "server_id", type=int, required=True)
@OUTPUT
@pass_services
def fip_attach(services: Context, fip_id: int, server_id: int, output: str) -> None:
    """Attach to a server of its owner's: a connect operation hot-adds the NIC (operation_id)."""
    with services.session() as session:
        show(_with_operation(floating_ips.attach_to(services, session, ADMIN, fip_id, server_id)), output)


@floating_ip.command("detach")
@click.argument("fip_id", type=int)
@OUTPUT
@pass_services
def fip_detach(services: Context, fip_id: int, output: str) -> None:
    """Detach from its server: a disconnect operation hot-removes the NIC; the address stays its user's."""
    with services.session() as session:
        show(_with_operation(floating_ips.detach(services, session, ADMIN, fip_id)), output)


@floating_ip.command("remove")
@click.argument("fip_id", type=int)
@OUTPUT
@pass_services
def fip_remove(services: Context, fip_id: int, output: str) -> None:
    """Release a floating IP to its pool (refused while it is attached)."""
    with services.session() as session:
        show(_row(floating_ips.release(services, session, ADMIN, fip_id)), output)


@floating_ip.command("history")
@click.option("--address")
@click.option("--server", "server_id", type=int)
@OUTPUT
@pass_services
def fip_history(services: Context, address: str | None, server_id: int | None, output: str) -> None:
    """Which server held a public address when, newest first (--address, --server)."""
    with services.session() as session:
        emit(_history_rows(floating_ips.history(services, session, ADMIN, address=address, server_id=server_id)),
             HISTORY_COLUMNS, output)


GROUPS = (floating_ip,)
