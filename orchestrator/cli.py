"""The admin command line (`orchestrator`), click-based, as snf-manage is for Synnefo."""
from __future__ import annotations

import json
import sys

import click

from . import auth, demo, migrate
from .db import session_scope
from .errors import DomainError
from .settings import get_settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class _Cli(click.Group):
    """Errors an operator can cause end as one line and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            _fail(f"{exc.field}: {exc.message}" if exc.field and exc.field not in exc.message else exc.message)


@click.group(cls=_Cli)
def main() -> None:
    """Operate the Ganeti orchestrator."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    migrate.upgrade(revision=revision)
    click.echo(f"database at {revision}")


@main.group("demo")
def demo_group() -> None:
    """Demo data for the one-machine stack."""


@demo_group.command("seed")
def demo_seed() -> None:
    """One backend per simulated cluster (SIM_CLUSTERS from SIM_BASE_PORT), flavors, an image."""
    with session_scope() as session:
        created = demo.seed(session)
    click.echo(json.dumps(created))
    settings = get_settings()
    if settings.uses_dev_admin_token:
        click.echo(f"admin token (development default): {settings.admin_token}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "user_id", required=True, help="The user the token acts as.")
@click.option("--admin", is_flag=True, help="Grant administrator rights.")
def token_create(user_id: str, admin: bool) -> None:
    """Create a token; it is shown once and stored hashed."""
    with session_scope() as session:
        row, secret = auth.create_token(session, user_id.strip(), admin=admin)
        session.commit()
        click.echo(f"token id {row.id} for user {row.user_id}{' (admin)' if admin else ''}:")
        click.echo(secret)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    with session_scope() as session:
        try:
            auth.revoke_token(session, token_id)
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
    click.echo(f"token {token_id} revoked")


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns)
              for r in rows]
    return "\n".join(lines)


def _emit(rows: list[dict], columns: list[str], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(rows, default=str, indent=2))
    else:
        click.echo(_table(rows, columns))


OP_COLUMNS = ["id", "kind", "server_id", "user_id", "status", "step", "job_id", "attempts", "error", "updated_at"]


def _op_row(op) -> dict:
    return {c: getattr(op, c) for c in OP_COLUMNS}


@main.group()
def operation() -> None:
    """Durable operations."""


OPERATION_FILTERS = {"status": "str", "kind": "str", "server": "int", "server_id": "int", "user": "str",
                     "user_id": "str", "backend": "int", "backend_id": "int"}


@operation.command("list")
@click.option("--status", type=click.Choice(["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]))
@click.option("--kind")
@click.option("--server", "server_id", type=int)
@click.option("--filter-by", "filter_by", default="", metavar="KEY=VALUE,...",
              help="Only rows matching key=value,... (keys: " + ", ".join(OPERATION_FILTERS) + ").")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def operation_list(status, kind, server_id, filter_by, limit, output) -> None:
    """Operations, newest first: `--status FAILED` shows what needs attention."""
    from . import queries

    filters = parse_filters(filter_by, OPERATION_FILTERS)
    status = filters.get("status", status)
    if status is not None and status.upper() not in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED"):
        _fail(f"--filter-by status: one of PENDING, RUNNING, SUCCEEDED, FAILED, not {status!r}")
    with session_scope() as session:
        ops = queries.search_operations(
            session, user_id="", admin=True, status=status.upper() if status else None,
            kind=filters.get("kind", kind), server_id=filters.get("server", filters.get("server_id", server_id)),
            owner=filters.get("user", filters.get("user_id")), backend_id=filters.get("backend",
                                                                                     filters.get("backend_id")),
            limit=limit)
        _emit([_op_row(op) for op in ops], OP_COLUMNS, output)


@operation.command("show")
@click.argument("op_id", type=int)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def operation_show(op_id: int, output: str) -> None:
    """One operation with its step, attempts and error."""
    from . import operations

    with session_scope() as session:
        try:
            op = operations.get_operation(session, op_id, user_id="", admin=True)
        except DomainError as exc:
            _fail(exc.message)
        _emit([_op_row(op)], OP_COLUMNS, output)


@operation.command("retry")
@click.argument("op_id", type=int)
def operation_retry(op_id: int) -> None:
    """Resume a FAILED operation at the step that failed."""
    from . import operations
    from .tasks import ops

    with session_scope() as session:
        try:
            op = operations.get_operation(session, op_id, user_id="", admin=True)
            operations.reopen(session, op)
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
        step = op.step
    ops.enqueue(op_id)
    click.echo(f"operation {op_id} resumed at step {step}")


@main.group()
def backend() -> None:
    """Ganeti clusters."""


BACKEND_COLUMNS = ["id", "clustername", "host", "port", "drained", "offline", "mfree", "mtotal", "dfree",
                   "dtotal", "ctotal", "pinst_cnt", "stats_updated_at", "offline_reason"]


@backend.command("update-status")
@click.argument("backend_id", type=int, required=False)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def backend_update_status(backend_id: int | None, output: str) -> None:
    """Refresh capacity from the cluster (one bulk nodes call per backend)."""
    from sqlalchemy import select

    from . import backends as backends_mod
    from .models import Backend

    with session_scope() as session:
        query = select(Backend).order_by(Backend.id)
        if backend_id is not None:
            query = query.where(Backend.id == backend_id)
        rows = session.scalars(query).all()
        if backend_id is not None and not rows:
            _fail(f"backend {backend_id} does not exist")
        for row in rows:
            backends_mod.refresh_stats(session, row, backends_mod.cluster_client(row))
            session.commit()
        _emit([{c: getattr(r, c) for c in BACKEND_COLUMNS} for r in rows], BACKEND_COLUMNS, output)


@main.group()
def reconcile() -> None:
    """Find and fix disagreements between the database and the clusters."""


@reconcile.command("servers")
@click.option("--backend", "backend_id", type=int, help="Only this backend.")
@click.option("--fix-all", is_flag=True, help="Fix every kind of finding.")
@click.option("--fix-stale", is_flag=True)
@click.option("--fix-orphans", is_flag=True)
@click.option("--fix-state", is_flag=True)
@click.option("--fix-flavor", is_flag=True)
@click.option("--fix-nics", is_flag=True)
@click.option("--fix-build", is_flag=True)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def reconcile_servers_cmd(backend_id, fix_all, fix_stale, fix_orphans, fix_state, fix_flavor, fix_nics,
                          fix_build, output) -> None:
    """Check every server now; detect only unless told to fix."""
    from sqlalchemy import select

    from . import backends as backends_mod
    from . import reconciliation
    from .models import Backend
    from .settings import FIX_KINDS

    chosen = {"stale": fix_stale, "orphan": fix_orphans, "state": fix_state, "flavor": fix_flavor,
              "nics": fix_nics, "build": fix_build}
    fixes = frozenset(FIX_KINDS) if fix_all else frozenset(k for k, v in chosen.items() if v)
    with session_scope() as session:
        query = select(Backend).order_by(Backend.id)
        if backend_id is not None:
            query = query.where(Backend.id == backend_id)
        selected = session.scalars(query).all()
        if backend_id is not None and not selected:
            _fail(f"backend {backend_id} does not exist")
        run = reconciliation.reconcile(session, selected, backends_mod.cluster_client,
                                       reconciliation.Options(fixes=fixes), trigger="cli",
                                       lock=reconciliation.redis_lock)
        rows = [{"kind": f.kind, "server": f.server_id, "backend": f.backend_id, "instance": f.instance,
                 "seen": json.dumps(f.details, default=str), "fixed": f.fixed, "fix": f.fix} for f in run.findings]
        _emit(rows, ["kind", "server", "backend", "instance", "seen", "fixed", "fix"], output)
        if output == "table":
            click.echo(f"run {run.id}: {run.servers_checked} servers checked, {len(rows)} findings, "
                       f"skipped: {run.backends_skipped or 'none'}")


# -- shared helpers for the catalog and server commands ---------------------------

OUTPUT = click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _bool(value: str, key: str) -> bool:
    if value.lower() in TRUE | FALSE:
        return value.lower() in TRUE
    _fail(f"--filter-by {key}: expected true or false, got {value!r}")


def _int(value: str, key: str) -> int:
    if not value.isdigit() or len(value) > 10:
        _fail(f"--filter-by {key}: expected a number, got {value!r}")
    return int(value)


def filter_by_option(keys: dict[str, str]):
    """snf-manage's `--filter-by key=value,...`; keys maps each key to str, int or bool."""
    help_text = "Only rows matching key=value,... (keys: " + ", ".join(keys) + ")."
    return click.option("--filter-by", "filter_by", default="", metavar="KEY=VALUE,...", help=help_text)


def parse_filters(text: str, keys: dict[str, str]) -> dict:
    filters: dict = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            _fail(f"--filter-by: expected key=value, got {item!r}")
        if key not in keys:
            _fail(f"--filter-by: unknown key {key!r}; use one of {', '.join(keys)}")
        kind = keys[key]
        filters[key] = _int(value, key) if kind == "int" else _bool(value, key) if kind == "bool" else value
    return filters


def _csv(value: str | None, cast=str, what: str = "value") -> list | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        _fail(f"{what}: give at least one value")
    try:
        return [cast(v) for v in items]
    except ValueError:
        _fail(f"{what}: {value!r} is not a comma-separated list of {'numbers' if cast is int else 'names'}")


def _rows(objects, columns: list[str]) -> list[dict]:
    return [{c: getattr(o, c) for c in columns} for o in objects]


def _show(row: dict, output: str) -> None:
    """One object: `key  value` lines for people, a JSON object for scripts."""
    if output == "json":
        click.echo(json.dumps(row, default=str, indent=2))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        click.echo(f"{key.ljust(width)}  {'-' if value is None else value}")


# -- backends -----------------------------------------------------------------------

BACKEND_LIST_COLUMNS = BACKEND_COLUMNS[:6] + ["disk_templates"] + BACKEND_COLUMNS[6:]
BACKEND_FILTERS = {"clustername": "str", "host": "str", "drained": "bool", "offline": "bool"}


@backend.command("add")
@click.option("--host", required=True, help="The cluster's RAPI host.")
@click.option("--port", type=click.IntRange(1, 65535), default=5080, show_default=True)
@click.option("--scheme", type=click.Choice(["http", "https"]), default="https", show_default=True)
@click.option("--username", required=True, help="RAPI user.")
@click.option("--password", required=True, prompt=True, hide_input=True, help="RAPI password (prompted).")
@click.option("--clustername", help="Default: the name the cluster's /2/info gives.")
@click.option("--verify-tls/--no-verify-tls", default=True, show_default=True)
@click.option("--drained/--undrained", default=True, show_default=True,
              help="A new backend is drained unless told otherwise, as Synnefo adds them.")
@click.option("--disk-templates", help="Allowed disk templates, comma-separated (default: the cluster's).")
@OUTPUT
def backend_add(host, port, scheme, username, password, clustername, verify_tls, drained, disk_templates,
                output) -> None:
    """Add a Ganeti cluster, checked by one /2/info call with its credentials."""
    from . import catalog

    with session_scope() as session:
        row = catalog.add_backend(session, host=host, port=port, scheme=scheme, username=username,
                                  password=password, clustername=clustername, verify_tls=verify_tls,
                                  drained=drained, disk_templates=_csv(disk_templates, what="--disk-templates"))
        session.commit()
        _show({c: getattr(row, c) for c in BACKEND_LIST_COLUMNS}, output)


@backend.command("list")
@filter_by_option(BACKEND_FILTERS)
@OUTPUT
def backend_list(filter_by, output) -> None:
    """Backends with their capacity; never their credentials."""
    from . import catalog

    filters = parse_filters(filter_by, BACKEND_FILTERS)
    with session_scope() as session:
        _emit(_rows(catalog.list_backends(session, **filters), BACKEND_LIST_COLUMNS), BACKEND_LIST_COLUMNS, output)


@backend.command("modify")
@click.argument("backend_id", type=int)
@click.option("--clustername")
@click.option("--host")
@click.option("--port", type=click.IntRange(1, 65535))
@click.option("--scheme", type=click.Choice(["http", "https"]))
@click.option("--username")
@click.option("--password", help="New RAPI password (checked with /2/info before it is saved).")
@click.option("--verify-tls/--no-verify-tls", default=None)
@click.option("--drained/--undrained", default=None, help="Drain: no new servers are placed here.")
@click.option("--offline/--online", default=None)
@click.option("--disk-templates", help="Allowed disk templates, comma-separated.")
@OUTPUT
def backend_modify(backend_id, clustername, host, port, scheme, username, password, verify_tls, drained, offline,
                   disk_templates, output) -> None:
    """Drain, set offline, rename, restrict templates, or change the connection and credentials."""
    from . import catalog

    changes = dict(clustername=clustername, host=host, port=port, scheme=scheme, username=username,
                   password=password, verify_tls=verify_tls, drained=drained, offline=offline,
                   disk_templates=_csv(disk_templates, what="--disk-templates"))
    if all(v is None for v in changes.values()):
        _fail("nothing to modify: give at least one option (see --help)")
    with session_scope() as session:
        row = catalog.modify_backend(session, catalog.get_backend(session, backend_id), **changes)
        session.commit()
        _show({c: getattr(row, c) for c in BACKEND_LIST_COLUMNS}, output)


@backend.command("remove")
@click.argument("backend_id", type=int)
def backend_remove(backend_id: int) -> None:
    """Remove a backend; refused while servers that are not deleted live on it."""
    from . import catalog

    with session_scope() as session:
        catalog.remove_backend(session, catalog.get_backend(session, backend_id))
        session.commit()
    click.echo(f"backend {backend_id} removed")


# -- flavors ------------------------------------------------------------------------

FLAVOR_COLUMNS = ["id", "name", "cpu", "ram", "disk", "disk_template", "deleted"]
FLAVOR_FILTERS = {"name": "str", "cpu": "int", "ram": "int", "disk": "int", "disk_template": "str",
                  "deleted": "bool"}


@main.group()
def flavor() -> None:
    """Flavors: CPUs, RAM, disk and disk template."""


@flavor.command("create")
@click.option("--cpus", required=True, help="CPU counts, comma-separated: 1,2,4")
@click.option("--rams", required=True, help="RAM sizes in MiB, comma-separated: 1024,2048")
@click.option("--disks", required=True, help="Disk sizes in GiB, comma-separated: 10,20")
@click.option("--disk-templates", default="plain", show_default=True, help="Comma-separated: plain,drbd")
@click.option("--name", help="Only for a single flavor (default: C<cpu>R<ram>D<disk><template>).")
@OUTPUT
def flavor_create(cpus, rams, disks, disk_templates, name, output) -> None:
    """Create the cartesian product of the lists, as snf-manage flavor-create does."""
    from . import catalog

    values = dict(cpu=_csv(cpus, int, "--cpus"), ram=_csv(rams, int, "--rams"), disk=_csv(disks, int, "--disks"))
    for key, low, high in (("cpu", 1, 1024), ("ram", 64, 16 * 1024 * 1024), ("disk", 1, 1024 * 1024)):
        bad = [v for v in values[key] if not low <= v <= high]
        if bad:
            _fail(f"--{key}s: {bad} out of range {low}..{high}")
    with session_scope() as session:
        created = catalog.create_flavors(session, name=name,
                                         disk_template=_csv(disk_templates, what="--disk-templates"), **values)
        session.commit()
        _emit(_rows(created, FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


@flavor.command("list")
@click.option("--deleted", is_flag=True, help="Include deleted flavors.")
@filter_by_option(FLAVOR_FILTERS)
@OUTPUT
def flavor_list(deleted, filter_by, output) -> None:
    """Flavors that can be chosen (with --deleted: all of them)."""
    from . import catalog

    filters = parse_filters(filter_by, FLAVOR_FILTERS)
    filters.setdefault("deleted", None if deleted else False)
    with session_scope() as session:
        _emit(_rows(catalog.list_flavors(session, **filters), FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


@flavor.command("modify")
@click.argument("flavor_id", type=int)
@click.option("--deleted/--undeleted", default=None, help="Soft delete (servers keep it) or restore.")
@OUTPUT
def flavor_modify(flavor_id, deleted, output) -> None:
    """Delete (softly: existing servers keep it, new ones cannot choose it) or restore a flavor."""
    from . import catalog

    if deleted is None:
        _fail("nothing to modify: give --deleted or --undeleted")
    with session_scope() as session:
        row = catalog.set_flavor_deleted(session, catalog.get_flavor(session, flavor_id), deleted)
        session.commit()
        _emit(_rows([row], FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


# -- images -------------------------------------------------------------------------

IMAGE_COLUMNS = ["id", "name", "location", "disk_format", "os", "public", "owner", "properties"]
IMAGE_FILTERS = {"name": "str", "owner": "str", "public": "bool", "os": "str"}


def _image_row(image) -> dict:
    from . import catalog

    return {"id": image.id, "name": image.name, "location": image.location,
            "disk_format": catalog.image_disk_format(image), "os": image.os, "public": image.public,
            "owner": image.owner, "properties": catalog.public_properties(image)}


@main.group()
def image() -> None:
    """Images servers are built from."""


@image.command("register")
@click.option("--name", required=True)
@click.option("--location", required=True, help="What snf-image fetches (img_id).")
@click.option("--disk-format", type=click.Choice(["diskdump", "extdump", "ntfsdump"]), default="diskdump",
              show_default=True)
@click.option("--os", "os_type", default="snf-image+default", show_default=True, help="Ganeti OS provider.")
@click.option("--public", is_flag=True, help="Visible to every user.")
@click.option("--owner", default="admin", show_default=True, help="The user the image belongs to.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Free-form, repeatable: --property OSFAMILY=linux --property ROOT_PARTITION=1")
@OUTPUT
def image_register(name, location, disk_format, os_type, public, owner, properties, output) -> None:
    """Register an image."""
    from . import catalog

    props = {}
    for item in properties:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--property: expected KEY=VALUE, got {item!r}")
        props[key.strip()] = value.strip()
    with session_scope() as session:
        row = catalog.register_image(session, owner=owner, admin=True, name=name, location=location,
                                     disk_format=disk_format, os=os_type, public=public, properties=props)
        session.commit()
        _show(_image_row(row), output)


@image.command("list")
@filter_by_option(IMAGE_FILTERS)
@OUTPUT
def image_list(filter_by, output) -> None:
    """Every registered image."""
    from . import catalog

    filters = parse_filters(filter_by, IMAGE_FILTERS)
    with session_scope() as session:
        rows = [_image_row(i) for i in catalog.list_images(session, user_id="", admin=True, **filters)]
        _emit(rows, IMAGE_COLUMNS, output)


@image.command("show")
@click.argument("image_id", type=int)
@OUTPUT
def image_show(image_id, output) -> None:
    """One image with its properties."""
    from . import catalog

    with session_scope() as session:
        _show(_image_row(catalog.get_image(session, image_id, user_id="", admin=True)), output)


# -- servers ------------------------------------------------------------------------

SERVER_COLUMNS = ["id", "name", "user_id", "status", "flavor_id", "image_id", "backend_id", "suspended",
                  "backend_job_status", "created_at"]
SERVER_FILTERS = {"status": "str", "user": "str", "user_id": "str", "backend": "int", "backend_id": "int",
                  "flavor": "int", "flavor_id": "int", "image": "int", "image_id": "int", "name": "str"}


def _server_row(server) -> dict:
    from .state import api_status

    row = {c: getattr(server, c, None) for c in SERVER_COLUMNS}
    row["status"] = api_status(server)
    return row


def _server_detail(server) -> dict:
    row = _server_row(server)
    for key in ("operstate", "task", "deleted", "build_percentage", "nics", "backend_job_id", "backend_opcode",
                "backend_log_msg", "backend_time", "updated_at", "last_reconciled_at"):
        row[key] = getattr(server, key)
    return row


@main.group()
def server() -> None:
    """Virtual machines."""


@server.command("create")
@click.option("--user", "user_id", required=True, help="The owner.")
@click.option("--name", required=True)
@click.option("--flavor", "flavor_id", type=int, required=True)
@click.option("--image", "image_id", type=int, required=True)
@click.option("--backend", "backend_id", type=int, help="Place it on this backend.")
@click.option("--password", help="The VM's password (default: generated); only in Redis, behind a one-time URL.")
@click.option("--wait", is_flag=True, help="Follow the operation to its end with a progress bar.")
@click.option("--timeout", type=click.FloatRange(1), default=900, show_default=True, help="Seconds --wait waits.")
@OUTPUT
def server_create(user_id, name, flavor_id, image_id, backend_id, password, wait, timeout, output) -> None:
    """Create a server for a user: the row and its operation are committed, then the chain is enqueued."""
    from . import servers, vmconfig
    from .tasks import ops

    settings = get_settings()
    with session_scope() as session:
        servers.usable_flavor(session, flavor_id)
        servers.visible_image(session, image_id, user_id, admin=True)
        store = vmconfig.ConfigStore.from_url(settings.redis_url, settings.vm_config_ttl_s)
        config = {"password": password or vmconfig.generate_password(), "config": {"hostname": name}}
        base = settings.public_api_url.rstrip("/")
        user_url, installer_url = (f"{base}/api/v1/config/{store.put(config)}" for _ in range(2))
        row, op = servers.request_create(session, user_id=user_id, name=name, flavor_id=flavor_id,
                                         image_id=image_id, admin=True, backend_id=backend_id,
                                         config_url=installer_url)
        session.commit()
        server_id, op_id = row.id, op.id
        shown = {**_server_row(row), "operation_id": op_id, "config_url": user_url}
    ops.enqueue(op_id)
    if not wait:
        _show(shown, output)
        return
    op = _follow(op_id, timeout)
    with session_scope() as session:
        from .models import Server

        shown = {**_server_row(session.get(Server, server_id)), "operation_id": op_id, "config_url": user_url,
                 "operation_status": op["status"], "error": op["error"]}
    _show(shown, output)
    if op["status"] != "SUCCEEDED":
        _fail(f"operation {op_id} {op['status']}: {op['error'] or 'see orchestrator operation show'}")


# How far along an operation is, by its step, for the progress bar.
STEP_PROGRESS = {"allocate": 5, "submit": 20, "poll": 30, "finalize": 95, "done": 100}


def _follow(op_id: int, timeout: float, interval: float = 0.25) -> dict:
    """Poll the operation (and its server's build progress) until it ends."""
    import time

    from .models import Operation

    deadline = time.monotonic() + timeout
    shown = 0
    # On stderr, so that --output json stays parseable on stdout.
    with click.progressbar(length=100, label=f"operation {op_id}", file=sys.stderr, show_eta=False) as bar:
        while True:
            with session_scope() as session:
                op = session.get(Operation, op_id)
                state = {"status": op.status, "step": op.step, "error": op.error}
                done = STEP_PROGRESS.get(op.step, 0)
                if op.step == "poll" and op.server is not None:
                    done = 30 + int(op.server.build_percentage * 0.6)
                if op.is_finished:
                    done = 100
            if done > shown:
                bar.update(done - shown)
                shown = done
            if state["status"] in ("SUCCEEDED", "FAILED"):
                return state
            if time.monotonic() > deadline:
                _fail(f"operation {op_id} still {state['status']} at step {state['step']} after {timeout:g}s")
            time.sleep(interval)


@server.command("list")
@filter_by_option(SERVER_FILTERS)
@click.option("--deleted", is_flag=True, help="Include deleted servers.")
@click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True)
@OUTPUT
def server_list(filter_by, deleted, limit, output) -> None:
    """Servers by id: --filter-by status=ACTIVE,user=alice,backend=1,flavor=2,name=web1"""
    from . import servers

    filters = parse_filters(filter_by, SERVER_FILTERS)
    query = {"status": filters.get("status"), "owner": filters.get("user", filters.get("user_id")),
             "backend_id": filters.get("backend", filters.get("backend_id")),
             "flavor_id": filters.get("flavor", filters.get("flavor_id")),
             "image_id": filters.get("image", filters.get("image_id")), "name": filters.get("name")}
    if query["status"] is not None:
        query["status"] = query["status"].upper()
        if query["status"] not in servers.API_STATUSES:
            _fail(f"--filter-by status: one of {', '.join(servers.API_STATUSES)}")
    with session_scope() as session:
        rows = servers.search_servers(session, user_id="", admin=True, deleted=deleted, limit=limit, **query)
        _emit([_server_row(r) for r in rows], SERVER_COLUMNS, output)


@server.command("show")
@click.argument("server_id", type=int)
@OUTPUT
def server_show(server_id, output) -> None:
    """One server, as the database knows it."""
    from . import servers

    with session_scope() as session:
        _show(_server_detail(servers.get_server(session, server_id, user_id="", admin=True)), output)


@server.command("inspect")
@click.argument("server_id", type=int)
@click.option("--jobs", type=click.IntRange(1, 100), default=10, show_default=True)
@OUTPUT
def server_inspect(server_id, jobs, output) -> None:
    """The database row beside the live instance on its cluster, its jobs and last operations."""
    from . import backends as backends_mod
    from . import inspect, servers

    with session_scope() as session:
        row = servers.get_server(session, server_id, user_id="", admin=True)
        report = inspect.inspect_server(session, row, backends_mod.cluster_client, jobs=jobs)
        report["server"] = _server_detail(row)
        report["operations"] = [_op_row(op) for op in report["operations"]]
    if output == "json":
        click.echo(json.dumps(report, default=str, indent=2))
        return
    click.echo("== database")
    _show(report["server"], "table")
    backend_name = report["backend"]["clustername"] if report["backend"] else "-"
    click.echo(f"\n== instance {report['instance_name']} on {backend_name}")
    if report["instance"] is not None:
        keys = ("status", "admin_state", "oper_state", "pnode", "snodes", "disk_template", "beparams",
                "disk.sizes", "nic.ips", "nic.macs", "nic.networks.names", "os", "tags", "mtime")
        _show({k: report["instance"].get(k) for k in keys}, "table")
    if report["cluster_error"]:
        click.echo(f"cluster: {report['cluster_error']}")
    click.echo("\n== jobs on the cluster")
    _emit([{**j, "summary": " ".join(j.get("summary") or [])} for j in report["jobs"]],
          ["id", "status", "summary", "received_ts", "end_ts"], "table")
    click.echo("\n== operations")
    _emit(report["operations"], OP_COLUMNS, "table")


@server.command("modify")
@click.argument("server_id", type=int)
@click.option("--suspended/--unsuspended", default=None, help="A suspended server refuses its user's actions.")
@click.option("--name")
@OUTPUT
def server_modify(server_id, suspended, name, output) -> None:
    """Suspend, unsuspend or rename a server."""
    from . import servers

    if suspended is None and name is None:
        _fail("nothing to modify: give --suspended, --unsuspended or --name")
    if name is not None and not name.strip():
        _fail("--name must not be empty")
    with session_scope() as session:
        row = servers.get_server(session, server_id, user_id="", admin=True)
        servers.modify_server(session, row, user_id=auth.ADMIN_USER, admin=True, name=name, suspended=suspended)
        session.commit()
        _show(_server_row(row), output)


@server.command("import")
@click.option("--backend", "backend_id", type=int, required=True, help="The backend the instance is on.")
@click.option("--instance", "instance_name", required=True,
              help="Its Ganeti name, which must be BACKEND_PREFIX_ID<free server id> (e.g. snf-1042).")
@click.option("--user", "user_id", required=True, help="The owner.")
@click.option("--flavor", "flavor_id", type=int, help="Default: the flavor matching the instance.")
@click.option("--image", "image_id", type=int, help="Default: the image at the instance's osparams img_id.")
@click.option("--name", help="Default: the instance name.")
@OUTPUT
def server_import(backend_id, instance_name, user_id, flavor_id, image_id, name, output) -> None:
    """Adopt an existing Ganeti instance (as snf-manage server-import), without touching it.

    The server takes the id in the instance's name; an instance with any other name must be
    renamed on the cluster first (gnt-instance rename), which the error message spells out.
    """
    from . import backends as backends_mod
    from . import catalog, inspect

    with session_scope() as session:
        backend_row = catalog.get_backend(session, backend_id)
        row, op = inspect.import_server(session, backend_row, instance_name, user_id=user_id,
                                        client=backends_mod.cluster_client(backend_row), flavor_id=flavor_id,
                                        image_id=image_id, name=name, by=auth.ADMIN_USER)
        session.commit()
        _show({**_server_row(row), "operation_id": op.id}, output)


if __name__ == "__main__":  # pragma: no cover
    main()
