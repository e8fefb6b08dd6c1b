"""`network`, `subnet`, `port`, `pool`: virtual networks, their subnets and addresses, and the
pools of bridges and MAC prefixes networks take their links from, as snf-manage's
network-*, subnet-*, port-* and pool-* commands. Every write is synchronous (no cluster is
called yet): the command prints what was committed."""
from __future__ import annotations

import json

import click

from ..network import flavors, pools
from ..services import networks
from ..services.context import Context
from .output import OUTPUT, csv, emit, fail, filter_by_option, first, parse_filters, show
from .runtime import ADMIN, pass_services

NETWORK_COLUMNS = ["id", "name", "user_id", "flavor", "state", "public", "mode", "link", "mac_prefix", "subnets",
                   "deleted", "created_at"]
NETWORK_DETAIL = ("floating_ip_pool", "drained", "updated_at")
NETWORK_FILTERS = {"name": "str", "flavor": "str", "user": "str", "user_id": "str", "deleted": "bool"}
SUBNET_COLUMNS = ["id", "network_id", "name", "ip_version", "cidr", "gateway", "dhcp", "dns_nameservers",
                  "allocation_pools", "user_id"]
SUBNET_FILTERS = {"network": "int", "network_id": "int"}
PORT_COLUMNS = ["id", "name", "network_id", "user_id", "server_id", "state", "mac", "fixed_ips", "created_at"]
PORT_DETAIL = ("index", "updated_at")
PORT_FILTERS = {"network": "int", "network_id": "int", "server": "int", "server_id": "int"}
POOL_COLUMNS = ["id", "type", "base", "size", "free", "used", "reserved"]
ADDRESS_COLUMNS = ["address", "port_id"]
LIMIT = click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True)


def _row(obj, columns, extra=()) -> dict:
    return {c: getattr(obj, c) for c in (*columns, *extra)}


def network_row(network, detail: bool = False) -> dict:
    row = _row(network, NETWORK_COLUMNS, NETWORK_DETAIL if detail else ())
    row["subnets"] = [s.id for s in network.subnets]
    if detail and network.backend_networks:
        row["backends"] = [f"{b.backend_id}:{b.state}" for b in network.backend_networks]
        row["operations"] = [f"{op.id}:{op.kind}@{op.backend_id}:{op.status}" for op in network.operations]
    return row


def subnet_row(subnet) -> dict:
    row = _row(subnet, SUBNET_COLUMNS)
    row["dns_nameservers"] = list(subnet.dns_nameservers or [])
    row["allocation_pools"] = [f"{p['start']}-{p['end']}" for p in subnet.allocation_pools or []]
    return row


def port_row(port, detail: bool = False) -> dict:
    row = _row(port, PORT_COLUMNS, PORT_DETAIL if detail else ())
    row["fixed_ips"] = [ip["ip_address"] for ip in port.fixed_ips or []]
    return row


def pool_row(pool) -> dict:
    return _row(pool, POOL_COLUMNS)


def _list(rows: list[dict], columns: list[str], output: str) -> None:
    """A table shows lists as comma-separated values; JSON keeps them lists."""
    if output == "table":
        rows = [{k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()} for r in rows]
    emit(rows, columns, output)


# -- network --------------------------------------------------------------------

@click.group()
def network() -> None:
    """Virtual networks (as snf-manage network-*)."""


@network.command("create")
@click.option("--name", required=True)
@click.option("--owner", help="The user it is for (default: the administrators').")
@click.option("--flavor", type=click.Choice(flavors.FLAVORS), default="MAC_FILTERED", show_default=True,
              help="Synnefo's network flavor.")
@click.option("--mode", help="Ganeti's network mode (default: the flavor's).")
@click.option("--link", help="Ganeti's link, e.g. a bridge (default: from the flavor's pool).")
@click.option("--mac-prefix", help="Default: from the MAC-prefix pool, for flavors that need one.")
@click.option("--public", is_flag=True, help="A public network, put on its backends by operations (needs --cidr).")
@click.option("--backend", "backend_ids", type=int, multiple=True,
              help="A public network's backend (repeat; default: every online backend).")
@click.option("--cidr", "--subnet", "cidr", help="Its IPv4 subnet, e.g. 203.0.113.0/24 (a public network needs one).")
@click.option("--gateway", "gateway_ip", help="The subnet's gateway (default: its first host).")
@click.option("--no-gateway", is_flag=True, help="A subnet without a gateway.")
@click.option("--floating-ip-pool", is_flag=True, help="A public network users allocate floating IPs from.")
@OUTPUT
@pass_services
def network_create(services: Context, output: str, public: bool, backend_ids: tuple[int, ...],
                   cidr: str | None, gateway_ip: str | None, no_gateway: bool, floating_ip_pool: bool,
                   **fields) -> None:
    """Create a network, with its IPv4 subnet when --subnet is given. A private one is committed
    at once and reaches a backend when a server there first needs it (more addresses:
    `orchestrator subnet create --network ID --cidr ...`). A public one (`--public --subnet
    ...`) is PENDING, with one network_create operation per backend: follow them with
    `network show` or `operation show`."""
    if public:
        fields.update(public=True, backend_ids=list(backend_ids) or None, floating_ip_pool=floating_ip_pool)
    elif backend_ids or floating_ip_pool:
        fail("--backend and --floating-ip-pool are for a public network (--public)")
    if (gateway_ip or no_gateway) and cidr is None:
        fail("--gateway and --no-gateway go with --subnet")
    if cidr is not None:
        fields["cidr"] = cidr
        if no_gateway:
            fields["gateway_ip"] = None
        elif gateway_ip is not None:
            fields["gateway_ip"] = gateway_ip
    with services.session() as session:
        show(network_row(networks.create_network(services, session, ADMIN, **fields), detail=True), output)


@network.command("list")
@filter_by_option(NETWORK_FILTERS)
@click.option("--deleted", is_flag=True, help="Include the deleted networks.")
@LIMIT
@OUTPUT
@pass_services
def network_list(services: Context, filter_by: str, deleted: bool, limit: int, output: str) -> None:
    """Networks by id: --filter-by name=prv1,flavor=MAC_FILTERED,user=alice,deleted=true"""
    filters = parse_filters(filter_by, NETWORK_FILTERS)
    query = {"name": filters.get("name"), "flavor": filters.get("flavor"),
             "user_id": first(filters, "user", "user_id"), "deleted": filters.get("deleted", deleted)}
    with services.session() as session:
        found = networks.list_networks(services, session, ADMIN, limit=limit,
                                       **{k: v for k, v in query.items() if v is not None})
        _list([network_row(n) for n in found], NETWORK_COLUMNS, output)


@network.command("show")
@click.argument("network_id", type=int)
@OUTPUT
@pass_services
def network_show(services: Context, network_id: int, output: str) -> None:
    """One network, as the database knows it."""
    with services.session() as session:
        show(network_row(networks.get_network(services, session, ADMIN, network_id), detail=True), output)


@network.command("inspect")
@click.argument("network_id", type=int)
@OUTPUT
@pass_services
def network_inspect(services: Context, network_id: int, output: str) -> None:
    """The database row beside its Ganeti network on every backend, read from the clusters now
    (as snf-manage network-inspect); offline backends are listed, not called."""
    with services.session() as session:
        report = networks.inspect_network(services, session, ADMIN, network_id)
        report = {**report, "network": network_row(report["network"], detail=True)}
    if output == "json":
        click.echo(json.dumps(report, default=str, indent=2))
        return
    click.echo("== network")
    show({**report["network"], "ganeti_name": report["ganeti_name"]}, "table")
    for entry in report["backends"]:
        click.echo(f"\n== backend {entry['backend_id']} ({entry['clustername']})")
        row = entry["row"]
        click.echo("row: none" if row is None else
                   f"row: {row['state']}, job {row['job_id'] or '-'} ({row['job_status'] or '-'})")
        if entry["error"]:
            click.echo(f"cluster: {entry['error']}")
        elif entry["ganeti"] is None:
            click.echo("not on this backend")
        else:
            show({k: v for k, v in entry["ganeti"].items() if k != "map"}, "table")
            click.echo("map (X: reserved or used, .: free)")
            _print_map(str(entry["ganeti"]["map"] or ""))


@network.command("modify")
@click.argument("network_id", type=int)
@click.option("--name")
@click.option("--floating-ip-pool/--no-floating-ip-pool", default=None,
              help="A public network: users allocate floating IPs from it, or no longer.")
@click.option("--drained/--undrained", default=None,
              help="No floating IP is drawn from it or attached any more (those attached stay).")
@OUTPUT
@pass_services
def network_modify(services: Context, network_id: int, name: str | None, floating_ip_pool: bool | None,
                   drained: bool | None, output: str) -> None:
    """Rename a network; make a public one a floating-IP pool, or drain it."""
    if name is None and floating_ip_pool is None and drained is None:
        fail("nothing to change: give --name, --floating-ip-pool or --drained")
    with services.session() as session:
        changed = networks.modify_network(services, session, ADMIN, network_id, name=name,
                                          floating_ip_pool=floating_ip_pool, drained=drained)
        show(network_row(changed, detail=True), output)


@network.command("remove")
@click.argument("network_id", type=int)
@pass_services
def network_remove(services: Context, network_id: int) -> None:
    """Delete a network and its subnets; refused while ports use it (port remove them first).
    A network backends hold (a public one) is taken off them first by network_remove
    operations, the last of which deletes it."""
    with services.session() as session:
        removed = networks.remove_network(services, session, ADMIN, network_id)
        if networks.removing(removed):
            started = [str(op.id) for op in removed.operations if op.kind == "network_remove" and not op.is_finished]
            click.echo(f"network {removed.id} is being removed from its backends: operations {', '.join(started)}")
        else:
            click.echo(f"network {removed.id} removed")


# -- subnet ---------------------------------------------------------------------

@click.group()
def subnet() -> None:
    """Subnets of networks and their address pools (as snf-manage subnet-*)."""


def _allocation_pool(text: str) -> dict:
    start, sep, end = (part.strip() for part in text.partition(","))
    if not sep or not start or not end or "," in end:
        fail(f"--allocation-pool: expected START,END (e.g. 192.168.2.10,192.168.2.20), got {text!r}")
    return {"start": start, "end": end}


@subnet.command("create")
@click.option("--network", "network_id", type=int, required=True)
@click.option("--cidr", required=True, help="e.g. 192.168.2.0/24")
@click.option("--ip-version", type=click.Choice(["4", "6"]), default="4", show_default=True)
@click.option("--name", default="")
@click.option("--gateway", "gateway_ip", help="Default: the subnet's first host.")
@click.option("--no-gateway", is_flag=True, help="A subnet without a gateway.")
@click.option("--dhcp/--no-dhcp", default=True, show_default=True)
@click.option("--dns", help="Name servers, comma-separated.")
@click.option("--allocation-pool", "allocation_pools", multiple=True, metavar="START,END",
              help="Addresses ports may take; repeat for several (default: the subnet's hosts but the gateway).")
@OUTPUT
@pass_services
def subnet_create(services: Context, network_id: int, cidr: str, ip_version: str, name: str, gateway_ip: str | None,
                  no_gateway: bool, dhcp: bool, dns: str | None, allocation_pools: tuple[str, ...],
                  output: str) -> None:
    """Add a subnet, with its pool of addresses, to a network."""
    if no_gateway and gateway_ip is not None:
        fail("give --gateway or --no-gateway, not both")
    fields = {"network_id": network_id, "cidr": cidr, "ip_version": int(ip_version), "name": name,
              "enable_dhcp": dhcp, "dns_nameservers": csv(dns, what="--dns") or ()}
    if allocation_pools:
        fields["allocation_pools"] = [_allocation_pool(p) for p in allocation_pools]
    if no_gateway or gateway_ip is not None:
        fields["gateway_ip"] = None if no_gateway else gateway_ip
    with services.session() as session:
        show(subnet_row(networks.create_subnet(services, session, ADMIN, **fields)), output)


@subnet.command("list")
@filter_by_option(SUBNET_FILTERS)
@LIMIT
@OUTPUT
@pass_services
def subnet_list(services: Context, filter_by: str, limit: int, output: str) -> None:
    """Subnets by id: --filter-by network=3"""
    filters = parse_filters(filter_by, SUBNET_FILTERS)
    with services.session() as session:
        found = networks.list_subnets(services, session, ADMIN, limit=limit,
                                      network_id=first(filters, "network", "network_id"))
        _list([subnet_row(s) for s in found], SUBNET_COLUMNS, output)


@subnet.command("show")
@click.argument("subnet_id", type=int)
@OUTPUT
@pass_services
def subnet_show(services: Context, subnet_id: int, output: str) -> None:
    with services.session() as session:
        show(subnet_row(networks.get_subnet(services, session, ADMIN, subnet_id)), output)


@subnet.command("inspect")
@click.argument("subnet_id", type=int)
@OUTPUT
@pass_services
def subnet_inspect(services: Context, subnet_id: int, output: str) -> None:
    """The subnet and its address pool: size, free, used, reserved, the map, and which port
    holds each address (as snf-manage subnet-inspect)."""
    with services.session() as session:
        report = networks.inspect_subnet(services, session, ADMIN, subnet_id)
        pool_report = report["pool"]
        report = {"subnet": subnet_row(report["subnet"]), "pool": dict(pool_report) if pool_report else None,
                  "addresses": [dict(a) for a in report["addresses"]]}
    if output == "json":
        click.echo(json.dumps(report, default=str, indent=2))
        return
    click.echo("== subnet")
    show(report["subnet"], "table")
    if report["pool"] is None:
        click.echo("\n== pool: none (IPv6: each port's address is the EUI-64 of its MAC)")
    else:
        click.echo("\n== pool")
        show({k: v for k, v in report["pool"].items() if k != "map"}, "table")
        click.echo("\n== map (X: taken or reserved, .: free)")
        _print_map(str(report["pool"]["map"]))
    click.echo("\n== addresses in use")
    emit(report["addresses"], ADDRESS_COLUMNS, "table")


def _print_map(pool_map: str, width: int = 64) -> None:
    for start in range(0, len(pool_map), width):
        click.echo(f"{start:>6}  {pool_map[start:start + width]}")


# -- port -----------------------------------------------------------------------

@click.group()
def port() -> None:
    """Ports: a network's addresses, for servers (as snf-manage port-*)."""


def _fixed_ip(text: str) -> dict:
    """`10.0.0.5`, `subnet_id=3` or `subnet_id=3,ip_address=10.0.0.5`."""
    if "=" not in text:
        return {"ip_address": text.strip()}
    entry: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _sep, value = (part.strip() for part in item.partition("="))
        key = {"subnet": "subnet_id", "ip": "ip_address"}.get(key, key)
        if key == "subnet_id" and value.isdigit() and len(value) <= 10:
            entry[key] = int(value)
        elif key == "ip_address" and value:
            entry[key] = value
        else:
            fail(f"--fixed-ip: expected ADDRESS or subnet_id=ID[,ip_address=ADDRESS], got {text!r}")
    return entry


@port.command("create")
@click.option("--network", "network_id", type=int, required=True)
@click.option("--name", default="")
@click.option("--fixed-ip", "fixed_ips", multiple=True, metavar="ADDRESS|subnet_id=ID[,ip_address=ADDRESS]",
              help="The address(es) to take (default: one of each subnet, from its pool); repeat for several.")
@click.option("--server", "server_id", type=int,
              help="Attach it to this server: a connect operation hot-adds its NIC.")
@OUTPUT
@pass_services
def port_create(services: Context, network_id: int, name: str, fixed_ips: tuple[str, ...], server_id: int | None,
                output: str) -> None:
    """A port on a network, with its addresses; on no server, or (--server) connected to one by
    a durable operation, shown as operation_id."""
    wanted = [_fixed_ip(text) for text in fixed_ips] or None
    with services.session() as session:
        made = networks.create_port(services, session, ADMIN, network_id=network_id, name=name, fixed_ips=wanted,
                                    device_id=server_id)
        show(_with_operation(made), output)


def _with_operation(result) -> dict:
    """A port's row; with the server operation that adds or removes its NIC, when there is one."""
    if isinstance(result, networks.NicChange):
        return {**port_row(result.port, detail=True), "operation_id": result.operation.id}
    return port_row(result, detail=True)


@port.command("list")
@filter_by_option(PORT_FILTERS)
@LIMIT
@OUTPUT
@pass_services
def port_list(services: Context, filter_by: str, limit: int, output: str) -> None:
    """Ports by id: --filter-by network=3,server=12"""
    filters = parse_filters(filter_by, PORT_FILTERS)
    with services.session() as session:
        found = networks.list_ports(services, session, ADMIN, limit=limit,
                                    network_id=first(filters, "network", "network_id"),
                                    server_id=first(filters, "server", "server_id"))
        _list([port_row(p) for p in found], PORT_COLUMNS, output)


@port.command("show")
@click.argument("port_id", type=int)
@OUTPUT
@pass_services
def port_show(services: Context, port_id: int, output: str) -> None:
    with services.session() as session:
        show(port_row(networks.get_port(services, session, ADMIN, port_id), detail=True), output)


@port.command("inspect")
@click.argument("port_id", type=int)
@OUTPUT
@pass_services
def port_inspect(services: Context, port_id: int, output: str) -> None:
    """The port beside the NIC of its name on its server's instance, read live (snf-manage
    port-inspect)."""
    with services.session() as session:
        found = networks.inspect_port(services, session, ADMIN, port_id)
        found = {**found, "port": port_row(found["port"], detail=True)}
    if output == "json":
        click.echo(json.dumps(found, default=str, indent=2))
        return
    click.echo("== port")
    show({**found["port"], "ganeti_name": found["ganeti_name"]}, "table")
    click.echo(f"\n== instance {found['instance'] or '-'}")
    if found["error"]:
        click.echo(f"cluster: {found['error']}")
    elif found["nic"] is None:
        click.echo("no NIC of this name" if found["instance"] else "on no server")
    else:
        show(found["nic"], "table")


@port.command("remove")
@click.argument("port_id", type=int)
@pass_services
def port_remove(services: Context, port_id: int) -> None:
    """Remove a port; its addresses go back to their pools. A port on a server: a disconnect
    operation hot-removes its NIC first, and the port goes with it."""
    with services.session() as session:
        removed = networks.remove_port(services, session, ADMIN, port_id)
        if isinstance(removed, networks.NicChange):
            click.echo(f"port {removed.port.id} is being removed from server {removed.port.server_id}: "
                       f"operation {removed.operation.id}")
        else:
            click.echo(f"port {removed.id} removed")


# -- pool -----------------------------------------------------------------------

@click.group()
def pool() -> None:
    """Pools of bridges and MAC prefixes networks take their links from (as snf-manage pool-*)."""


@pool.command("create")
@click.option("--type", "type_", type=click.Choice(pools.TYPES), required=True)
@click.option("--base", required=True, help="prv (bridges prv1, prv2, ...), or a MAC prefix such as aa:00:0.")
@click.option("--size", type=click.IntRange(1), required=True)
@OUTPUT
@pass_services
def pool_create(services: Context, type_: str, base: str, size: int, output: str) -> None:
    """Create a pool, as snf-manage pool-create --type=bridge --base=prv --size=20."""
    with services.session() as session:
        show(pool_row(networks.create_pool(services, session, ADMIN, type=type_, base=base, size=size)), output)


@pool.command("list")
@click.option("--type", "type_", type=click.Choice(pools.TYPES))
@OUTPUT
@pass_services
def pool_list(services: Context, type_: str | None, output: str) -> None:
    with services.session() as session:
        _list([pool_row(p) for p in networks.list_pools(services, session, ADMIN, type=type_)], POOL_COLUMNS, output)


@pool.command("show")
@click.argument("pool_id", type=int)
@OUTPUT
@pass_services
def pool_show(services: Context, pool_id: int, output: str) -> None:
    with services.session() as session:
        show(pool_row(networks.get_pool(services, session, ADMIN, pool_id)), output)


@pool.command("modify")
@click.argument("pool_id", type=int)
@click.option("--size", type=click.IntRange(1))
@click.option("--add-reserved", help="Values to reserve, comma-separated (prv3,prv4).")
@click.option("--remove-reserved", help="Values to release, comma-separated.")
@OUTPUT
@pass_services
def pool_modify(services: Context, pool_id: int, size: int | None, add_reserved: str | None,
                remove_reserved: str | None, output: str) -> None:
    """Resize a pool, or reserve and release values (as snf-manage pool-modify)."""
    if size is None and add_reserved is None and remove_reserved is None:
        fail("nothing to modify: give --size, --add-reserved or --remove-reserved")
    with services.session() as session:
        changed = networks.modify_pool(services, session, ADMIN, pool_id, size=size,
                                       add_reserved=csv(add_reserved, what="--add-reserved") or (),
                                       remove_reserved=csv(remove_reserved, what="--remove-reserved") or ())
        show(pool_row(changed), output)


GROUPS = (network, subnet, port, pool)
