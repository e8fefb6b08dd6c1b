"""API tokens: shown once, stored hashed, revocable; long-lived (the product's), or short-lived
(issued from one by the OpenStack identity API, ending OPENSTACK_TOKEN_TTL_S later)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .. import auth
from ..models import Token, utcnow
from .context import Context


def create(ctx: Context, session: Session, user_id: str, *, admin: bool = False) -> tuple[Token, str]:
    """The row and the token itself, which is never stored."""
    row, secret = auth.create_token(session, user_id.strip(), admin=admin)
    session.commit()
    return row, secret


def revoke(ctx: Context, session: Session, token_id: int) -> Token:
    row = auth.revoke_token(session, token_id)
    session.commit()
    return row


def authenticate(ctx: Context, session: Session, token: str) -> auth.Principal | None:
    """Who a bearer token acts as, or None (unknown or revoked)."""
    return auth.authenticate(session, token, ctx.settings.admin_token)


@dataclass(frozen=True)
class Issued:
    """A short-lived token: who it acts as, when it was issued and when it ends."""

    secret: str
    principal: auth.Principal
    issued_at: dt.datetime
    expires_at: dt.datetime | None  # None: a long-lived token


def issue_short_lived(ctx: Context, session: Session, secret: str) -> Issued | None:
    """A token that ends OPENSTACK_TOKEN_TTL_S from now, from a long-lived token (an application
    credential's secret), or a new one with the same end from a short-lived token (Keystone's
    `token` method never lengthens a token's life); None when `secret` is no live token.
    Revoking the long-lived token it came from ends it too."""
    who = authenticate(ctx, session, secret)
    if who is None:
        return None
    now = utcnow().replace(microsecond=0)
    row = auth.live_token(session, secret) if who is not auth.ADMIN else None
    if row is not None and row.expires_at is not None:
        expires_at, parent_id = row.expires_at, row.parent_id
    else:
        expires_at = now + dt.timedelta(seconds=ctx.settings.openstack_token_ttl_s)
        parent_id = row.id if row is not None else None
    _row, token = auth.create_expiring_token(session, who, expires_at=expires_at, parent_id=parent_id)
    session.commit()
    return Issued(token, who, now, expires_at)


def describe(ctx: Context, session: Session, secret: str) -> Issued | None:
    """A live token's principal and life (a long-lived one: issued at its creation, no end)."""
    who = authenticate(ctx, session, secret)
    if who is None:
        return None
    row = auth.live_token(session, secret) if who is not auth.ADMIN else None
    issued = row.created_at if row is not None else utcnow()
    return Issued(secret, who, issued, row.expires_at if row is not None else None)
