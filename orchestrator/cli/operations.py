"""`operation`: the durable operations, read and retried."""
from __future__ import annotations

import click

from ..models import Operation
from ..services import operations
from ..services.context import Context
from .output import OUTPUT, emit, fail, filter_by_option, first, parse_filters
from .runtime import ADMIN, pass_services

OP_COLUMNS = ["id", "kind", "server_id", "network_id", "backend_id", "user_id", "status", "step", "job_id", "attempts", "error", "updated_at"]
OP_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]
OPERATION_FILTERS = {"status": "str", "kind": "str", "server": "int", "server_id": "int", "user": "str",
                     "user_id": "str", "backend": "int", "backend_id": "int"}


def op_row(op: Operation) -> dict:
    return {c: getattr(op, c) for c in OP_COLUMNS}


@click.group()
def operation() -> None:
    """Durable operations."""


def _query(status, kind, server_id, filter_by: str, limit: int) -> dict:
    """The options and --filter-by (which wins) as list_operations' filters."""
    filters = parse_filters(filter_by, OPERATION_FILTERS)
    status = filters.get("status", status)
    if status is not None and status.upper() not in OP_STATUSES:
        fail(f"--filter-by status: one of {', '.join(OP_STATUSES)}, not {status!r}")
    return {"status": status.upper() if status else None, "kind": filters.get("kind", kind),
            "server_id": first(filters, "server", "server_id", default=server_id),
            "owner": first(filters, "user", "user_id"), "backend_id": first(filters, "backend", "backend_id"),
            "limit": limit}


@operation.command("list")
@click.option("--status", type=click.Choice(OP_STATUSES))
@click.option("--kind")
@click.option("--server", "server_id", type=int)
@filter_by_option(OPERATION_FILTERS)
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@OUTPUT
@pass_services
def operation_list(services: Context, status, kind, server_id, filter_by, limit, output) -> None:
    """Operations, newest first: `--status FAILED` shows what needs attention."""
    query = _query(status, kind, server_id, filter_by, limit)
    with services.session() as session:
        emit([op_row(op) for op in operations.list_operations(services, session, ADMIN, **query)],
             OP_COLUMNS, output)


@operation.command("show")
@click.argument("op_id", type=int)
@OUTPUT
@pass_services
def operation_show(services: Context, op_id: int, output: str) -> None:
    """One operation with its step, attempts and error."""
    with services.session() as session:
        emit([op_row(operations.get(services, session, ADMIN, op_id))], OP_COLUMNS, output)


@operation.command("retry")
@click.argument("op_id", type=int)
@pass_services
def operation_retry(services: Context, op_id: int) -> None:
    """Resume a FAILED operation at the step that failed."""
    # A broker outage leaves it PENDING, committed: recovery re-drives it, so this still succeeds.
    with services.session() as session:
        step = operations.retry(services, session, ADMIN, op_id).step
    click.echo(f"operation {op_id} resumed at step {step}")


@operation.command("cancel")
@click.argument("op_id", type=int)
@pass_services
def operation_cancel(services: Context, op_id: int) -> None:
    """Stop an operation in flight: its Ganeti job is canceled, or it fails if not sent yet."""
    with services.session() as session:
        operations.cancel(services, session, ADMIN, op_id)
    click.echo(f"operation {op_id} is being canceled; `operation show {op_id}` tells when it has stopped")


GROUPS = (operation,)
