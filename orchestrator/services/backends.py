"""Backends (Ganeti clusters): adding, modifying, removing, reading, and refreshing their capacity."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import backends, catalog, credentials
from ..auth import ADMIN
from ..errors import Invalid
from ..models import Backend
from ..network import networks
from . import handover
from .context import Context

log = logging.getLogger(__name__)


def list_backends(ctx: Context, session: Session, **filters: Any) -> list[Backend]:
    return catalog.list_backends(session, **filters)


def get(ctx: Context, session: Session, backend_id: int) -> Backend:
    return catalog.get_backend(session, backend_id)


def add(ctx: Context, session: Session, **fields: Any) -> Backend:
    """Checked by one /2/info call with its credentials; drained unless told otherwise.

    As snf-manage backend-add does, every public network is put on it (a network_create
    operation each, committed with the backend, then handed over); while there are any, it
    is added drained whatever was asked, and stays so until they are ACTIVE there."""
    budget = {k: backends.check_budget(fields.pop(k, None), k) for k in BUDGET_FIELDS}  # before /2/info
    try:  # (no database write lock across add_backend's /2/info call: adding a backend is rare)
        backend = catalog.add_backend(session, ctx.settings, ctx.credentials, **fields)
        backends.set_budget(backend, **budget)
        placed = networks.place_public_networks(session, backend, ADMIN.user_id)
        if placed and not backend.drained:
            backend.drained = True
            log.info("backend=%s added drained: %d public network(s) to put on it first", backend.id, len(placed))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for op in placed:
        handover.run(ctx, op)
    return backend


def modify(ctx: Context, session: Session, backend_id: int, **changes: Any) -> Backend:
    """Undraining waits for the public networks put on the backend (Conflict naming `drained`).
    A drain may carry the operator's reason (`drained_reason`); undraining clears it."""
    reason = changes.pop("drained_reason", None)
    budget = budget_changes(changes)
    backend = catalog.get_backend(session, backend_id)
    was_drained = backend.drained
    _check_drained_reason(reason, changes.get("drained"), was_drained)
    if changes.get("drained") is False and backend.drained:
        networks.check_undrain(session, backend.id)
    backend = catalog.modify_backend(session, ctx.settings, ctx.credentials, backend, **changes)
    backends.set_budget(backend, **budget)
    if not backend.drained:
        backend.drained_reason = None
    elif reason is not None:
        backend.drained_reason = reason.strip()
    elif not was_drained:
        backend.drained_reason = None  # a new drain without a reason: no older reason stays
    session.commit()
    return backend


DRAINED_REASON_MAX = 255


def _check_drained_reason(reason: str | None, drained: bool | None, was_drained: bool) -> None:
    if reason is None:
        return
    if not isinstance(reason, str) or not reason.strip() or len(reason) > DRAINED_REASON_MAX:
        raise Invalid(f"a reason is 1 to {DRAINED_REASON_MAX} characters", field="drained_reason")
    if drained is False or (drained is None and not was_drained):
        raise Invalid("a reason goes with a drain: give drained true (or drain the backend first)",
                      field="drained_reason")


# A backend's RAPI request budget (orchestrator.rapi.budget), set beside what the catalog sets.
BUDGET_FIELDS = ("rate_per_s", "concurrency")


def budget_changes(changes: dict[str, Any]) -> dict[str, int | None]:
    """The request budget's part of a modify, taken out of `changes` and checked first: a
    value given is set; `reset_budget` names those put back to the deployment's default."""
    budget = {k: backends.check_budget(changes.pop(k), k) for k in BUDGET_FIELDS if changes.get(k) is not None}
    for k in BUDGET_FIELDS:
        changes.pop(k, None)
    for k in changes.pop("reset_budget", None) or ():
        if k not in BUDGET_FIELDS:
            raise Invalid(f"reset_budget names {k!r}; choose from {', '.join(BUDGET_FIELDS)}", field="reset_budget")
        budget[k] = None
    return budget


def remove(ctx: Context, session: Session, backend_id: int) -> None:
    catalog.remove_backend(session, catalog.get_backend(session, backend_id))
    session.commit()


def rotate_credentials(ctx: Context, session: Session) -> int:
    """Reseal every stored RAPI password with the first key, so that older keys can then be
    dropped (docs/credentials.md); how many were resealed."""
    count = credentials.reseal_backends(session, ctx.credentials)
    session.commit()
    return count


def refresh(ctx: Context, session: Session, backend_id: int | None = None) -> list[Backend]:
    """An operator's refresh, now: one bulk nodes call per backend (or the one given)."""
    rows = [catalog.get_backend(session, backend_id)] if backend_id is not None else \
        list(session.scalars(select(Backend).order_by(Backend.id)))
    for backend in rows:
        backends.refresh_stats(session, backend, ctx.cluster(backend))
        session.commit()
    return rows


def refresh_periodic(ctx: Context) -> dict[str, bool]:
    """The beat's refresh: which backends answered. An operator's offline backend is left
    alone; one offline for not answering is probed once, without retries."""
    answered: dict[str, bool] = {}
    with ctx.session() as session:
        for backend in session.scalars(select(Backend).order_by(Backend.id)):
            retries = backends.periodic_read_retries(backend)
            if retries is None:
                continue
            try:
                client = ctx.cluster(backend, read_retries=retries)
            except credentials.CredentialsError as exc:  # the deployment's keys: the other backends still refresh
                log.error("backend=%s not refreshed: %s", backend.id, exc.message)
                answered[backend.clustername] = False
                continue
            answered[backend.clustername] = backends.refresh_stats(session, backend, client)
            session.commit()
    return answered
