"""`reconcile`: an operator's reconciliation run, now."""
from __future__ import annotations

import json

import click

from ..services import reconciliation
from ..services.context import Context
from ..settings import FIX_KINDS, NETWORK_FIX_KINDS, POOL_FIX_KINDS
from .output import OUTPUT, emit, fail
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


NETWORK_COLUMNS = ["kind", "network", "backend", "instance", "seen", "fixed", "fix"]
POOL_COLUMNS = ["kind", "pool", "type", "network", "count", "values", "fixed", "fix"]
# Each --fix-* flag of `reconcile networks` and `reconcile pools`, and the fix it switches on.
NETWORK_FLAGS = {"fix_stale": "stale", "fix_orphans": "orphan", "fix_missing": "missing", "fix_groups": "groups",
                 "fix_state": "state", "fix_reserved": "reserved"}
POOL_FLAGS = {"fix_leaked": "leaked", "fix_unmarked": "unmarked"}
assert set(NETWORK_FLAGS.values()) == set(NETWORK_FIX_KINDS) and set(POOL_FLAGS.values()) == set(POOL_FIX_KINDS)


def _seen(details: dict) -> str:
    return json.dumps({k: v for k, v in details.items() if k != "network_id"}, default=str)


@reconcile.command("networks")
@click.option("--backend", "backend_id", type=int, help="Only this backend.")
@click.option("--fix-all", is_flag=True, help="Fix every kind of finding.")
@click.option("--fix-stale", is_flag=True, help="Rows of networks gone from Ganeti: DELETED.")
@click.option("--fix-orphans", is_flag=True, help="Ganeti networks of deleted or unknown networks: removed.")
@click.option("--fix-missing", is_flag=True, help="Networks missing on a backend: created again.")
@click.option("--fix-groups", is_flag=True, help="Node groups a network is not connected to: connected.")
@click.option("--fix-state", is_flag=True, help="Rows disagreeing with Ganeti: taken from the cluster.")
@click.option("--fix-reserved", is_flag=True, help="Ganeti's reserved addresses: reserved in the pool.")
@OUTPUT
@pass_services
def reconcile_networks_cmd(services: Context, backend_id: int | None, fix_all: bool, output: str,
                           **flags: bool) -> None:
    """Check every network on every online backend now; detect only unless told to fix."""
    fixes = frozenset(NETWORK_FIX_KINDS) if fix_all else frozenset(NETWORK_FLAGS[f] for f, on in flags.items() if on)
    with services.session() as session:
        run = reconciliation.run_networks(services, session, fixes=fixes, backend_id=backend_id, trigger="cli")
        found = [{"kind": f.kind, "network": (f.details or {}).get("network_id"), "backend": f.backend_id,
                  "instance": f.instance, "seen": _seen(f.details or {}), "fixed": f.fixed, "fix": f.fix}
                 for f in run.findings]
        emit(found, NETWORK_COLUMNS, output)
        if output == "table":
            click.echo(f"run {run.id}: {run.servers_checked} networks checked on backends "
                       f"{run.backends_checked or 'none'}, {len(found)} findings, "
                       f"skipped: {run.backends_skipped or 'none'}")


@reconcile.command("pools")
@click.option("--fix-all", is_flag=True, help="Fix every kind of finding.")
@click.option("--fix-leaked", is_flag=True, help="Values in use that nothing holds: returned to the pool.")
@click.option("--fix-unmarked", is_flag=True, help="Values held but marked free: marked in use.")
@OUTPUT
@pass_services
def reconcile_pools_cmd(services: Context, fix_all: bool, output: str, **flags: bool) -> None:
    """Check the bridge, MAC-prefix and address pools against what holds their values now."""
    fixes = frozenset(POOL_FIX_KINDS) if fix_all else frozenset(POOL_FLAGS[f] for f, on in flags.items() if on)
    with services.session() as session:
        run = reconciliation.run_pools(services, session, fixes=fixes, trigger="cli")
        if run is None:
            fail("another pool reconciliation is running: try again when it ends")
        found = [{"kind": f.kind, "pool": f.details.get("pool_id"), "type": f.details.get("type"),
                  "network": f.details.get("network_id"), "count": f.details.get("count"),
                  "values": ",".join(f.details.get("values") or []), "fixed": f.fixed, "fix": f.fix}
                 for f in run.findings]
        emit(found, POOL_COLUMNS, output)
        if output == "table":
            click.echo(f"run {run.id}: {run.servers_checked} pools checked, {len(found)} findings")



QUOTA_COLUMNS = ["user", "resource", "recorded_usage", "counted_usage", "recorded_pending", "counted_pending"]


@reconcile.command("quotas")
@click.option("--fix", is_flag=True, help="Set recorded usage to the recount, and resolve leaked reservations.")
@OUTPUT
@pass_services
def reconcile_quotas_cmd(services: Context, fix: bool, output: str) -> None:
    """Recount every user's usage from the rows and print where the records differ (docs/quotas.md)."""
    from ..services import quotas

    with services.session() as session:
        found = quotas.reconcile(services, session, fix=fix)
    emit([{"user": d.user_id, "resource": d.resource, "recorded_usage": d.recorded_usage,
           "counted_usage": d.counted_usage, "recorded_pending": d.recorded_pending,
           "counted_pending": d.counted_pending} for d in found], QUOTA_COLUMNS, output)
    if output == "table":
        click.echo(f"{len(found)} difference(s){', fixed' if fix and found else ''}")


GROUPS = (reconcile,)
