"""`reconcile`: an operator's reconciliation run, now."""
from __future__ import annotations

import json

import click

from ..services import reconciliation
from ..services.context import Context
from ..settings import FIX_KINDS
from .output import OUTPUT, emit
from .runtime import pass_services

FINDING_COLUMNS = ["kind", "server", "backend", "instance", "seen", "fixed", "fix"]
# Each --fix-* flag and the finding kind it fixes.
FIX_FLAGS = {"fix_stale": "stale", "fix_orphans": "orphan", "fix_state": "state", "fix_flavor": "flavor",
             "fix_nics": "nics", "fix_build": "build"}


@click.group()
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
@OUTPUT
@pass_services
def reconcile_servers_cmd(services: Context, backend_id: int | None, fix_all: bool, output: str,
                          **flags: bool) -> None:
    """Check every server now; detect only unless told to fix."""
    fixes = frozenset(FIX_KINDS) if fix_all else frozenset(FIX_FLAGS[f] for f, on in flags.items() if on)
    with services.session() as session:
        run = reconciliation.run(services, session, fixes=fixes, backend_id=backend_id, staggered=False,
                                 trigger="cli")
        found = [{"kind": f.kind, "server": f.server_id, "backend": f.backend_id, "instance": f.instance,
                  "seen": json.dumps(f.details, default=str), "fixed": f.fixed, "fix": f.fix}
                 for f in run.findings]
        emit(found, FINDING_COLUMNS, output)
        if output == "table":
            click.echo(f"run {run.id}: {run.servers_checked} servers checked, {len(found)} findings, "
                       f"skipped: {run.backends_skipped or 'none'}")


GROUPS = (reconcile,)
