"""`flavor`: CPUs, RAM, disk and disk template a server is built with."""
from __future__ import annotations

import click

from ..services import catalog
from ..services.context import Context
from .output import OUTPUT, csv, emit, fail, filter_by_option, parse_filters, rows
from .runtime import ADMIN, pass_services

FLAVOR_COLUMNS = ["id", "name", "cpu", "ram", "disk", "disk_template", "deleted"]
FLAVOR_FILTERS = {"name": "str", "cpu": "int", "ram": "int", "disk": "int", "disk_template": "str",
                  "deleted": "bool"}
# What --cpus, --rams (MiB) and --disks (GiB) accept.
FIGURE_RANGES = (("cpu", 1, 1024), ("ram", 64, 16 * 1024 * 1024), ("disk", 1, 1024 * 1024))


@click.group()
def flavor() -> None:
    """Flavors: CPUs, RAM, disk and disk template."""


def _figures(cpus: str, rams: str, disks: str) -> dict[str, list[int]]:
    """The three lists, each number within its range."""
    values = dict(cpu=csv(cpus, int, "--cpus"), ram=csv(rams, int, "--rams"), disk=csv(disks, int, "--disks"))
    for key, low, high in FIGURE_RANGES:
        bad = [v for v in values[key] if not low <= v <= high]
        if bad:
            fail(f"--{key}s: {bad} out of range {low}..{high}")
    return values


@flavor.command("create")
@click.option("--cpus", required=True, help="CPU counts, comma-separated: 1,2,4")
@click.option("--rams", required=True, help="RAM sizes in MiB, comma-separated: 1024,2048")
@click.option("--disks", required=True, help="Disk sizes in GiB, comma-separated: 10,20")
@click.option("--disk-templates", default="plain", show_default=True, help="Comma-separated: plain,drbd")
@click.option("--name", help="Only for a single flavor (default: C<cpu>R<ram>D<disk><template>).")
@OUTPUT
@pass_services
def flavor_create(services: Context, cpus, rams, disks, disk_templates, name, output) -> None:
    """Create the cartesian product of the lists, as snf-manage flavor-create does."""
    figures = _figures(cpus, rams, disks)
    templates = csv(disk_templates, what="--disk-templates")
    with services.session() as session:
        created = catalog.create_flavors(services, session, ADMIN, name=name, disk_template=templates, **figures)
        emit(rows(created, FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


@flavor.command("list")
@click.option("--deleted", is_flag=True, help="Include deleted flavors.")
@filter_by_option(FLAVOR_FILTERS)
@OUTPUT
@pass_services
def flavor_list(services: Context, deleted: bool, filter_by: str, output: str) -> None:
    """Flavors that can be chosen (with --deleted: all of them)."""
    filters = parse_filters(filter_by, FLAVOR_FILTERS)
    filters.setdefault("deleted", None if deleted else False)
    with services.session() as session:
        emit(rows(catalog.list_flavors(services, session, **filters), FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


@flavor.command("modify")
@click.argument("flavor_id", type=int)
@click.option("--deleted/--undeleted", default=None, help="Soft delete (servers keep it) or restore.")
@OUTPUT
@pass_services
def flavor_modify(services: Context, flavor_id: int, deleted: bool | None, output: str) -> None:
    """Delete (softly: existing servers keep it, new ones cannot choose it) or restore a flavor."""
    if deleted is None:
        fail("nothing to modify: give --deleted or --undeleted")
    with services.session() as session:
        row = catalog.set_flavor_deleted(services, session, ADMIN, flavor_id, deleted)
        emit(rows([row], FLAVOR_COLUMNS), FLAVOR_COLUMNS, output)


GROUPS = (flavor,)
