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


@click.group()
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


@operation.command("list")
@click.option("--status", type=click.Choice(["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]))
@click.option("--kind")
@click.option("--server", "server_id", type=int)
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def operation_list(status, kind, server_id, limit, output) -> None:
    """Operations, newest first: `--status FAILED` shows what needs attention."""
    from . import operations

    with session_scope() as session:
        ops = operations.list_operations(session, user_id="", admin=True, status=status, kind=kind,
                                         server_id=server_id, limit=limit)
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


if __name__ == "__main__":  # pragma: no cover
    main()
