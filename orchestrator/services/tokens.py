"""API tokens: shown once, stored hashed, revocable."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .. import auth
from ..models import Token
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
