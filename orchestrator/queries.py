"""Filtered reads shared by the API and the CLI (snf-manage's --filter-by)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Operation

OPERATION_FILTERS = ("status", "kind", "server_id", "user_id", "backend_id")


def search_operations(
    session: Session, *, user_id: str, admin: bool, status: str | None = None, kind: str | None = None,
    server_id: int | None = None, owner: str | None = None, backend_id: int | None = None, limit: int = 100,
) -> list[Operation]:
    """Newest first. A user only ever gets their own; `owner` narrows an administrator's view.

    `backend_id` is an administrator's filter: which cluster ran what is not a user's to know.
    """
    query = select(Operation).order_by(Operation.id.desc()).limit(limit)
    if not admin:
        query = query.where(Operation.user_id == user_id)
    for column, value in ((Operation.status, status), (Operation.kind, kind), (Operation.server_id, server_id),
                          (Operation.user_id, owner), (Operation.backend_id, backend_id if admin else None)):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query))
