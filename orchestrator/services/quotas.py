"""Quotas: reading a user's limits and usage, setting limits (administrators), and recounting
usage from the rows (orchestrator.quotas, docs/quotas.md)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .. import auth, quotas
from ..auth import Principal
from ..errors import Forbidden
from ..quotas import recount
from .context import Context


@dataclass(frozen=True)
class UserQuotas:
    user_id: str
    quotas: list[quotas.Quota]


def _one(ctx: Context, session: Session, user_id: str) -> UserQuotas:
    return UserQuotas(user_id, quotas.quotas_of(session, [user_id], ctx.settings.quota_defaults)[user_id])


def get(ctx: Context, session: Session, who: Principal, user_id: str | None = None) -> UserQuotas:
    """The caller's quotas; an administrator's any user's (`user_id`). A user who never held
    anything has every usage 0 and the deployment's limits."""
    if user_id is None or user_id == who.user_id:
        return _one(ctx, session, who.user_id)
    if not who.admin:
        raise Forbidden("only administrators may read another user's quotas", field="user_id")
    auth.check_user_id(user_id, "user_id")
    return _one(ctx, session, user_id)


def list_users(ctx: Context, session: Session) -> list[UserQuotas]:
    """Administrators: every user with a holding, by id."""
    return [UserQuotas(user, rows) for user, rows in
            quotas.quotas_of(session, None, ctx.settings.quota_defaults).items()]


def set_limits(ctx: Context, session: Session, who: Principal, user_id: str,
               limits: Mapping[str, object]) -> UserQuotas:
    """Administrators: set some of a user's limits (an integer >= 0, "unlimited", or None for
    the deployment's default); an unknown resource or a negative limit is refused, naming the
    resource, with nothing changed. A limit below the usage is accepted: the usage shows over
    it and nothing grows until it falls below."""
    if not who.admin:
        raise Forbidden("only administrators may set quotas")
    auth.check_user_id(user_id, "user_id")
    try:
        quotas.set_limits(session, user_id, limits)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _one(ctx, session, user_id)


def reconcile(ctx: Context, session: Session, *, fix: bool = False) -> list[recount.Difference]:
    """Recorded usage against a recount from the rows; with `fix`, set to the recount (and
    leaked reservations resolved). The differences found."""
    if fix:
        return recount.fix(session)
    found = recount.differences(session)
    session.rollback()
    return found
