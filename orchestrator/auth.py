"""API tokens: shown once, stored as a SHA-256 hash, revocable."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .validation import check_name
from .errors import Invalid, NotFound
from .models import Token, utcnow

# Who ORCHESTRATOR_ADMIN_TOKEN (and the operator's CLI) acts as. No token is ever made for
# it, so no user can take the name and see what the administrators own.
ADMIN_USER = "admin"


@dataclass(frozen=True)
class Principal:
    user_id: str
    admin: bool


# Who the admin token acts as, and the operator's tools (the CLI, Flower's retry).
ADMIN = Principal(ADMIN_USER, True)

def _bytes(text: str) -> bytes:
    """Any text as bytes (lone surrogates too): tokens are compared and hashed as bytes."""
    return text.encode("utf-8", "surrogatepass")


def hash_token(token: str) -> str:
    return hashlib.sha256(_bytes(token)).hexdigest()


def is_reserved(user_id: str) -> bool:
    """The administrators' identity, however it is spelt (case, width, blanks around it)."""
    return unicodedata.normalize("NFKC", user_id).strip().casefold() == ADMIN_USER.casefold()


def check_user_id(user_id: Any, field: str = "user_id") -> str:
    """A user id follows the name rules (validation.check_name)."""
    return check_name(user_id, field)


def authenticate(session: Session, token: str, admin_token: str) -> Principal | None:
    """ORCHESTRATOR_ADMIN_TOKEN (`admin_token`) acts as the administrator; others by their hash.

    Any text is compared as bytes, so a token outside ASCII is simply unknown. A user token
    made for the administrators' identity before it was reserved is refused: it would act
    as them (the other spellings is_reserved refuses are only distinct names, left alone)."""
    if not token:
        return None
    if hmac.compare_digest(_bytes(token), _bytes(admin_token)):
        return ADMIN
    row = live_token(session, token)
    if row is None or (row.user_id == ADMIN_USER and not row.admin):
        return None
    return Principal(row.user_id, row.admin)


def live_token(session: Session, token: str, now: dt.datetime | None = None) -> Token | None:
    """The row of a token neither revoked nor expired, nor issued from one revoked; else None."""
    row = session.scalars(
        select(Token).where(Token.token_hash == hash_token(token), Token.revoked.is_(False))
    ).first()
    return row if is_live(session, row, now) else None


def is_live(session: Session, row: Token | None, now: dt.datetime | None = None) -> bool:
    """A token row that still acts: not revoked, not expired, not issued from a revoked one
    (what a bearer token, a console session and a stream ticket all check)."""
    if row is None or row.revoked:
        return False
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return False
    if row.parent_id is not None:
        parent = session.get(Token, row.parent_id)
        if parent is None or parent.revoked:
            return False
    return True


def create_expiring_token(session: Session, who: Principal, *, expires_at: dt.datetime,
                          parent_id: int | None) -> tuple[Token, str]:
    """A short-lived token acting as `who` until `expires_at` (a Keystone token), issued from
    the long-lived token `parent_id` (None: the admin token). Expired rows are deleted here,
    so they do not pile up with every client's sign-in. The row and the token itself."""
    session.execute(delete(Token).where(Token.expires_at.is_not(None), Token.expires_at <= utcnow()))
    token = secrets.token_urlsafe(32)
    row = Token(user_id=who.user_id, token_hash=hash_token(token), admin=who.admin, expires_at=expires_at,
                parent_id=parent_id)
    session.add(row)
    session.flush()
    return row, token


def create_token(session: Session, user_id: str, *, admin: bool = False) -> tuple[Token, str]:
    """Returns the row and the token itself, which is never stored. The user id follows the
    name rules, and is never the administrators' own identity (ADMIN_USER)."""
    check_user_id(user_id)
    if is_reserved(user_id):
        raise Invalid(f"{ADMIN_USER!r} is reserved: it is the identity of ORCHESTRATOR_ADMIN_TOKEN; "
                      "choose another user id", field="user_id")
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
