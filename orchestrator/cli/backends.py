"""`backend`: the Ganeti clusters, their credentials and their capacity."""
from __future__ import annotations

import click

from ..services import backends
from ..services.context import Context
from .output import OUTPUT, csv, emit, fail, filter_by_option, parse_filters, rows, show
from .runtime import pass_services

BACKEND_COLUMNS = ["id", "clustername", "host", "port", "drained", "offline", "mfree", "mtotal", "dfree",
                   "dtotal", "ctotal", "pinst_cnt", "stats_updated_at", "offline_reason"]
# Never the credentials.
BACKEND_LIST_COLUMNS = BACKEND_COLUMNS[:6] + ["disk_templates"] + BACKEND_COLUMNS[6:]
BACKEND_FILTERS = {"clustername": "str", "host": "str", "drained": "bool", "offline": "bool"}


@click.group()
def backend() -> None:
    """Ganeti clusters."""


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
@pass_services
def backend_add(services: Context, output: str, disk_templates: str | None, **fields) -> None:
    """Add a Ganeti cluster, checked by one /2/info call with its credentials."""
    templates = csv(disk_templates, what="--disk-templates")
    with services.session() as session:
        row = backends.add(services, session, disk_templates=templates, **fields)
        show(rows([row], BACKEND_LIST_COLUMNS)[0], output)


@backend.command("list")
@filter_by_option(BACKEND_FILTERS)
@OUTPUT
@pass_services
def backend_list(services: Context, filter_by: str, output: str) -> None:
    """Backends with their capacity; never their credentials."""
    filters = parse_filters(filter_by, BACKEND_FILTERS)
    with services.session() as session:
        emit(rows(backends.list_backends(services, session, **filters), BACKEND_LIST_COLUMNS),
             BACKEND_LIST_COLUMNS, output)


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
@pass_services
def backend_modify(services: Context, backend_id: int, output: str, disk_templates: str | None, **changes) -> None:
    """Drain, set offline, rename, restrict templates, or change the connection and credentials."""
    changes["disk_templates"] = csv(disk_templates, what="--disk-templates")
    if all(v is None for v in changes.values()):
        fail("nothing to modify: give at least one option (see --help)")
    with services.session() as session:
        row = backends.modify(services, session, backend_id, **changes)
        show(rows([row], BACKEND_LIST_COLUMNS)[0], output)


@backend.command("remove")
@click.argument("backend_id", type=int)
@pass_services
def backend_remove(services: Context, backend_id: int) -> None:
    """Remove a backend; refused while servers that are not deleted live on it."""
    with services.session() as session:
        backends.remove(services, session, backend_id)
    click.echo(f"backend {backend_id} removed")


@backend.command("rotate-credentials")
@pass_services
def backend_rotate_credentials(services: Context) -> None:
    """Reseal every stored RAPI password with the first key (after a new key was put first
    and every process restarted), so that the old key can be dropped."""
    with services.session() as session:
        count = backends.rotate_credentials(services, session)
    click.echo(f"{count} backend password(s) resealed with the first key of {services.credentials.source}")


@backend.command("update-status")
@click.argument("backend_id", type=int, required=False)
@OUTPUT
@pass_services
def backend_update_status(services: Context, backend_id: int | None, output: str) -> None:
    """Refresh capacity from the cluster (one bulk nodes call per backend)."""
    with services.session() as session:
        emit(rows(backends.refresh(services, session, backend_id), BACKEND_COLUMNS), BACKEND_COLUMNS, output)


GROUPS = (backend,)
