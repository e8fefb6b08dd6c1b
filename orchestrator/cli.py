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


if __name__ == "__main__":  # pragma: no cover
    main()
