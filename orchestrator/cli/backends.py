"""`backend`: the Ganeti clusters, their credentials and their capacity."""
from __future__ import annotations

import click

from .. import backends as budgets
from ..services import backends
from ..services.context import Context
from .output import OUTPUT, csv, emit, fail, filter_by_option, parse_filters, rows, show
from .runtime import pass_services

BACKEND_COLUMNS = ["id", "clustername", "host", "port", "drained", "offline", "mfree", "mtotal", "dfree",
                   "dtotal", "ctotal", "pinst_cnt", "stats_updated_at", "offline_reason",
                   "drained_reason"]
# Never the credentials.
BACKEND_LIST_COLUMNS = BACKEND_COLUMNS[:6] + ["disk_templates"] + BACKEND_COLUMNS[6:]
BACKEND_FILTERS = {"clustername": "str", "host": "str", "drained": "bool", "offline": "bool"}
# The request budget (docs/rate-limits.md), as it applies: the backend's own, or the default.
BUDGET_COLUMNS = ["rate_per_s", "concurrency"]


class BudgetValue(click.ParamType):
    """A budget figure: a whole number from 0 (no limit), or `default` (the deployment's)."""

    name = "N|default"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "default":
            return value
        text = str(value).strip().lower()
        if text == "default":
            return text
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is not a whole number (0: no limit) or 'default'", param, ctx)
        if number < 0:
            self.fail(f"{number} is negative: give 0 (no limit) or more, or 'default'", param, ctx)
        if number > budgets.BUDGET_MAX:
            self.fail(f"{number} is more than {budgets.BUDGET_MAX}", param, ctx)
        return number


def budget_options(fn):
    fn = click.option("--concurrency", type=BudgetValue(),
                      help="RAPI requests in flight at once here, every worker together (0: no limit; "
                           "default: RAPI_CONCURRENCY).")(fn)
    return click.option("--rate-per-s", "rate_per_s", type=BudgetValue(),
                        help="RAPI requests per second here, every worker together (0: no limit; "
                             "default: RAPI_RATE_PER_S).")(fn)


def budget_view(row: dict, backend, settings) -> dict:
    """`row` with the budget that applies: the backend's own figure, or `N (default)`."""
    own = {"rate_per_s": backend.rate_per_s, "concurrency": backend.concurrency}
    default = {"rate_per_s": settings.rapi_rate_per_s, "concurrency": settings.rapi_concurrency}
    for key in BUDGET_COLUMNS:
        row[key] = own[key] if own[key] is not None else f"{default[key]} (default)"
    return row


def budget_rows(objects, columns: list[str], settings) -> list[dict]:
    return [budget_view(row, backend, settings) for row, backend in zip(rows(objects, columns), objects)]


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
@budget_options
@OUTPUT
@pass_services
def backend_add(services: Context, output: str, disk_templates: str | None, **fields) -> None:
    """Add a Ganeti cluster, checked by one /2/info call with its credentials."""
    templates = csv(disk_templates, what="--disk-templates")
    for key in BUDGET_COLUMNS:
        if fields[key] == "default":
            fields[key] = None
    with services.session() as session:
        row = backends.add(services, session, disk_templates=templates, **fields)
        show(budget_rows([row], BACKEND_LIST_COLUMNS + BUDGET_COLUMNS, services.settings)[0], output)


@backend.command("list")
@filter_by_option(BACKEND_FILTERS)
@OUTPUT
@pass_services
def backend_list(services: Context, filter_by: str, output: str) -> None:
    """Backends with their capacity; never their credentials."""
    filters = parse_filters(filter_by, BACKEND_FILTERS)
    columns = BACKEND_LIST_COLUMNS + BUDGET_COLUMNS
    with services.session() as session:
        emit(budget_rows(backends.list_backends(services, session, **filters), columns, services.settings),
             columns, output)


@backend.command("show")
@click.argument("backend_id", type=int)
@OUTPUT
@pass_services
def backend_show(services: Context, backend_id: int, output: str) -> None:
    """One backend: its capacity, state and RAPI request budget; never its credentials."""
    with services.session() as session:
        row = backends.get(services, session, backend_id)
        show(budget_rows([row], BACKEND_LIST_COLUMNS + BUDGET_COLUMNS, services.settings)[0], output)


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
@click.option("--reason", "drained_reason", help="Why it is drained (with --drained); --undrained clears it.")
@click.option("--offline/--online", default=None)
@click.option("--disk-templates", help="Allowed disk templates, comma-separated.")
@budget_options
@OUTPUT
@pass_services
def backend_modify(services: Context, backend_id: int, output: str, disk_templates: str | None, **changes) -> None:
    """Drain, set offline, rename, restrict templates, set the RAPI request budget (`default`:
    the deployment's), or change the connection and credentials."""
    changes["disk_templates"] = csv(disk_templates, what="--disk-templates")
    if all(v is None for v in changes.values()):
        fail("nothing to modify: give at least one option (see --help)")
    reset = [key for key in BUDGET_COLUMNS if changes[key] == "default"]
    for key in reset:
        changes[key] = None
    with services.session() as session:
        row = backends.modify(services, session, backend_id, reset_budget=reset, **changes)
        show(budget_rows([row], BACKEND_LIST_COLUMNS + BUDGET_COLUMNS, services.settings)[0], output)


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
