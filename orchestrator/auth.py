"""API tokens: shown once, stored as a SHA-256 hash, revocable."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NotFound
from .models import Token

ADMIN_USER = "admin"


@dataclass(frozen=True)
class Principal:
    user_id: str
    admin: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, token: str, admin_token: str) -> Principal | None:
    """ORCHESTRATOR_ADMIN_TOKEN (`admin_token`) acts as the administrator; others by their hash."""
    if not token:
        return None
    if hmac.compare_digest(token, admin_token):
        return Principal(ADMIN_USER, True)
    row = session.scalars(
        select(Token).where(Token.token_hash == hash_token(token), Token.revoked.is_(False))
    ).first()
    return Principal(row.user_id, row.admin) if row else None


def create_token(session: Session, user_id: str, *, admin: bool = False) -> tuple[Token, str]:
    """Returns the row and the token itself, which is never stored."""
    token = secrets.token_urlsafe(32)
    row = Token(user_id=user_id, token_hash=hash_token(token), admin=admin)
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_id: int) -> Token:
    row = session.get(Token, token_id)
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    row.revoked = True
    return row
