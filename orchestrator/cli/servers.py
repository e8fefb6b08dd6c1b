"""`server`: virtual machines, as the database knows them and as their cluster does."""
from __future__ import annotations

import json
import sys
import time

import click

from .. import servers as server_rules
from ..models import Operation, Server
from ..services import operations, servers
from ..services.context import Context
from ..state import api_status
from .operations import OP_COLUMNS, op_row
from .output import OUTPUT, emit, fail, filter_by_option, first, parse_filters, show
from .runtime import ADMIN, pass_services

SERVER_COLUMNS = ["id", "name", "user_id", "status", "flavor_id", "image_id", "backend_id", "suspended",
                  "backend_job_status", "created_at"]
SERVER_DETAIL = ("operstate", "task", "deleted", "build_percentage", "nics", "backend_job_id", "backend_opcode",
                 "backend_log_msg", "backend_time", "updated_at", "last_reconciled_at")
SERVER_FILTERS = {"status": "str", "user": "str", "user_id": "str", "backend": "int", "backend_id": "int",
                  "flavor": "int", "flavor_id": "int", "image": "int", "image_id": "int", "name": "str"}
INSTANCE_KEYS = ("status", "admin_state", "oper_state", "pnode", "snodes", "disk_template", "beparams",
                 "disk.sizes", "nic.ips", "nic.macs", "nic.networks.names", "os", "tags", "mtime")
JOB_COLUMNS = ["id", "status", "summary", "received_ts", "end_ts"]
# How far along an operation is, by its step, for the progress bar.
STEP_PROGRESS = {"allocate": 5, "submit": 20, "poll": 30, "finalize": 95, "done": 100}


def server_row(server: Server) -> dict:
    row = {c: getattr(server, c, None) for c in SERVER_COLUMNS}
    row["status"] = api_status(server)
    return row


def server_detail(server: Server) -> dict:
    return {**server_row(server), **{key: getattr(server, key) for key in SERVER_DETAIL}}


@click.group()
def server() -> None:
    """Virtual machines."""


@server.command("create")
@click.option("--user", "user_id", required=True, help="The owner.")
@click.option("--name", required=True)
@click.option("--flavor", "flavor_id", type=int, required=True)
@click.option("--image", "image_id", type=int, required=True)
@click.option("--backend", "backend_id", type=int, help="Place it on this backend.")
@click.option("--password", help="The VM's password (default: generated); only in Redis, behind a one-time URL.")
@click.option("--network", "nics", multiple=True, metavar="NETWORK_ID[:FIXED_IP]|port:PORT_ID",
              help="A NIC, in order (repeat): a new port on a network, with its address or the pool's next, or an "
                   "existing port. None: the deployment's DEFAULT_SERVER_NETWORKS.")
@click.option("--no-network", is_flag=True, help="No NIC at all.")
@click.option("--wait", is_flag=True, help="Follow the operation to its end with a progress bar.")
@click.option("--timeout", type=click.FloatRange(1), default=900, show_default=True, help="Seconds --wait waits.")
@OUTPUT
@pass_services
def server_create(services: Context, user_id, name, flavor_id, image_id, backend_id, password, nics, no_network,
                  wait, timeout, output) -> None:
    """Create a server for a user: the row and its operation are committed, then the chain is enqueued."""
    if nics and no_network:
        fail("--network and --no-network exclude each other")
    networks = [] if no_network else ([_nic(text) for text in nics] or None)
    with services.session() as session:
        created = servers.create(services, session, ADMIN, owner=user_id, name=name, flavor_id=flavor_id,
                                 image_id=image_id, password=password, backend_id=backend_id, networks=networks)
        shown = {**server_row(created.server), "operation_id": created.operation.id,
                 "config_url": created.config_url}
    if not wait:
        show(shown, output)
        return
    op_id = shown["operation_id"]
    state = _follow(services, op_id, timeout)
    with services.session() as session:
        shown = {**shown, **server_row(servers.get(services, session, ADMIN, shown["id"])),
                 "operation_status": state["status"], "error": state["error"]}
    show(shown, output)
    if state["status"] != "SUCCEEDED":
        fail(f"operation {op_id} {state['status']}: {state['error'] or 'see orchestrator operation show'}")


def _nic(text: str) -> dict:
    """`3`, `3:10.0.0.5` or `port:7`."""
    head, _sep, tail = text.strip().partition(":")
    if head == "port" and tail.isdigit() and len(tail) <= 10:
        return {"port_id": int(tail)}
    if head.isdigit() and len(head) <= 10:
        return {"network_id": int(head), **({"fixed_ip": tail} if tail else {})}
    fail(f"--network: expected NETWORK_ID, NETWORK_ID:FIXED_IP or port:PORT_ID, got {text!r}")


def _progress(op: Operation) -> int:
    """Percent done: by step, and while polling by the server's build progress."""
    if op.is_finished:
        return 100
    if op.step == "poll" and op.server is not None:
        return 30 + int(op.server.build_percentage * 0.6)
    return STEP_PROGRESS.get(op.step, 0)


def _poll(services: Context, op_id: int) -> tuple[dict, int]:
    """One look at the operation, in a fresh session so that it sees the workers' commits."""
    with services.session() as session:
        op = operations.get(services, session, ADMIN, op_id)
        return {"status": op.status, "step": op.step, "error": op.error}, _progress(op)


def _follow(services: Context, op_id: int, timeout: float, interval: float = 0.25) -> dict:
    """Poll the operation until it ends, with a progress bar on stderr (--output json stays parseable)."""
    deadline = time.monotonic() + timeout
    shown = 0
    with click.progressbar(length=100, label=f"operation {op_id}", file=sys.stderr, show_eta=False) as bar:
        while True:
            state, done = _poll(services, op_id)
            if done > shown:
                bar.update(done - shown)
                shown = done
            if state["status"] in ("SUCCEEDED", "FAILED"):
                return state
            if time.monotonic() > deadline:
                fail(f"operation {op_id} still {state['status']} at step {state['step']} after {timeout:g}s")
            time.sleep(interval)


def _list_query(filter_by: str) -> dict:
    """--filter-by as list_servers' filters; the status must be one the API shows."""
    filters = parse_filters(filter_by, SERVER_FILTERS)
    query = {"status": filters.get("status"), "owner": first(filters, "user", "user_id"),
             "backend_id": first(filters, "backend", "backend_id"),
             "flavor_id": first(filters, "flavor", "flavor_id"), "image_id": first(filters, "image", "image_id"),
             "name": filters.get("name")}
    if query["status"] is not None:
        query["status"] = query["status"].upper()
        if query["status"] not in server_rules.API_STATUSES:
            fail(f"--filter-by status: one of {', '.join(server_rules.API_STATUSES)}")
    return query


@server.command("list")
@filter_by_option(SERVER_FILTERS)
@click.option("--deleted", is_flag=True, help="Include deleted servers.")
@click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True)
@OUTPUT
@pass_services
def server_list(services: Context, filter_by: str, deleted: bool, limit: int, output: str) -> None:
    """Servers by id: --filter-by status=ACTIVE,user=alice,backend=1,flavor=2,name=web1"""
    query = _list_query(filter_by)
    with services.session() as session:
        found = servers.list_servers(services, session, ADMIN, deleted=deleted, limit=limit, **query)
        emit([server_row(r) for r in found], SERVER_COLUMNS, output)


@server.command("show")
@click.argument("server_id", type=int)
@OUTPUT
@pass_services
def server_show(services: Context, server_id: int, output: str) -> None:
    """One server, as the database knows it."""
    with services.session() as session:
        show(server_detail(servers.get(services, session, ADMIN, server_id)), output)


@server.command("inspect")
@click.argument("server_id", type=int)
@click.option("--jobs", type=click.IntRange(1, 100), default=10, show_default=True)
@OUTPUT
@pass_services
def server_inspect(services: Context, server_id: int, jobs: int, output: str) -> None:
    """The database row beside the live instance on its cluster, its jobs and last operations."""
    with services.session() as session:
        report = servers.inspect_server(services, session, server_id, jobs=jobs)
        report["server"] = server_detail(report["server"])
        report["operations"] = [op_row(op) for op in report["operations"]]
    if output == "json":
        click.echo(json.dumps(report, default=str, indent=2))
    else:
        _print_inspection(report)


def _print_inspection(report: dict) -> None:
    click.echo("== database")
    show(report["server"], "table")
    backend_name = report["backend"]["clustername"] if report["backend"] else "-"
    click.echo(f"\n== instance {report['instance_name']} on {backend_name}")
    if report["instance"] is not None:
        show({k: report["instance"].get(k) for k in INSTANCE_KEYS}, "table")
    if report["cluster_error"]:
        click.echo(f"cluster: {report['cluster_error']}")
    click.echo("\n== jobs on the cluster")
    emit([{**j, "summary": " ".join(j.get("summary") or [])} for j in report["jobs"]], JOB_COLUMNS, "table")
    click.echo("\n== operations")
    emit(report["operations"], OP_COLUMNS, "table")


@server.command("modify")
@click.argument("server_id", type=int)
@click.option("--suspended/--unsuspended", default=None, help="A suspended server refuses its user's actions.")
@click.option("--name")
@OUTPUT
@pass_services
def server_modify(services: Context, server_id: int, suspended: bool | None, name: str | None, output: str) -> None:
    """Suspend, unsuspend or rename a server."""
    if suspended is None and name is None:
        fail("nothing to modify: give --suspended, --unsuspended or --name")
    if name is not None and not name.strip():
        fail("--name must not be empty")
    with services.session() as session:
        show(server_row(servers.modify(services, session, ADMIN, server_id, name=name, suspended=suspended)),
             output)


@server.command("import")
@click.option("--backend", "backend_id", type=int, required=True, help="The backend the instance is on.")
@click.option("--instance", "instance_name", required=True,
              help="Its Ganeti name, which must be BACKEND_PREFIX_ID<free server id> (e.g. snf-1042).")
@click.option("--user", "user_id", required=True, help="The owner.")
@click.option("--flavor", "flavor_id", type=int, help="Default: the flavor matching the instance.")
@click.option("--image", "image_id", type=int, help="Default: the image at the instance's osparams img_id.")
@click.option("--name", help="Default: the instance name.")
@OUTPUT
@pass_services
def server_import(services: Context, output: str, **fields) -> None:
    """Adopt an existing Ganeti instance (as snf-manage server-import), without touching it.

    The server takes the id in the instance's name; an instance with any other name must be
    renamed on the cluster first (gnt-instance rename), which the error message spells out.
    """
    with services.session() as session:
        row, op = servers.import_instance(services, session, ADMIN, **fields)
        show({**server_row(row), "operation_id": op.id}, output)


GROUPS = (server,)
