"""Live streams of a server's state: who may open one, what it shows, when it ends.

The streams process (api/streams.py) and the API's own fallback route are adapters over
these; a stream's content is always read from the database (servers.live_state), whatever
woke it."""
from __future__ import annotations

from typing import Any

from .. import auth
from ..auth import Principal
from ..errors import Invalid
from . import servers, tokens
from .context import Context

# idle: the stream ends when nothing is in flight (a script waiting for its action);
# deleted: it follows the server through every operation until it is deleted (a console).
UNTIL = ("idle", "deleted")


def check_until(until: str | None) -> str:
    until = until or "idle"
    if until not in UNTIL:
        raise Invalid(f"must be one of {', '.join(UNTIL)}", field="until")
    return until


def authorize(ctx: Context, token: str, server_id: int) -> Principal | None:
    """The caller of a stream, or None for a token that is no one's; NotFound when the server
    is not theirs to see (as every other read of it answers)."""
    with ctx.session() as session:
        who = tokens.authenticate(ctx, session, token)
        if who is not None:
            servers.get(ctx, session, who, server_id)
        return who


# -- stream tickets: EventSource cannot send an Authorization header ------------------------

TICKET_TTL_S = 60  # long enough to open (and reopen) one stream, short enough to be no token
_TICKET_SALT = "orchestrator stream ticket v1"


def _ticket_signer(ctx: Context):
    """Signed with a key every web and streams process derives from the same settings
    (CONSOLE_SECRET_KEY, else an HMAC of the admin token: never the token itself)."""
    import hashlib
    import hmac

    from itsdangerous import URLSafeTimedSerializer

    settings = ctx.settings
    key = settings.console_secret_key or hmac.new(settings.admin_token.encode(), b"stream tickets",
                                                  hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt=_TICKET_SALT)


def issue_ticket(ctx: Context, who: Principal, token_id: int | None, server_id: int) -> str:
    """A ticket to open one server's stream for TICKET_TTL_S, as `who` (signed in with the
    token row `token_id`; None: the deployment's admin token). It names the token, not a
    copy of its rights: the streams process checks the token again on every use."""
    return _ticket_signer(ctx).dumps({"u": who.user_id, "t": token_id, "s": int(server_id)})


def authorize_ticket(ctx: Context, ticket: str, server_id: int) -> Principal | None:
    """Who a ticket acts as, for this server's stream only, or None (forged, expired, for
    another server, or its token revoked since); NotFound when the server is not theirs to
    see, as for a bearer token (authorize)."""
    from itsdangerous import BadData

    from ..models import Token

    try:
        claims = _ticket_signer(ctx).loads(ticket, max_age=TICKET_TTL_S)
    except BadData:
        return None
    if not isinstance(claims, dict) or claims.get("s") != server_id:
        return None
    with ctx.session() as session:
        token_id = claims.get("t")
        if token_id is None:
            who = Principal(user_id=str(claims.get("u")), admin=True)
        else:
            row = session.get(Token, token_id)
            if not auth.is_live(session, row) or row.user_id != claims.get("u"):
                return None
            who = Principal(user_id=row.user_id, admin=bool(row.admin))
        servers.get(ctx, session, who, server_id)
        return who


def snapshot(ctx: Context, server_id: int) -> tuple[dict[str, Any], bool]:
    """What the stream shows now, and whether the server may still change."""
    with ctx.session() as session:
        return servers.live_state(ctx, session, server_id)


def finished(state: dict[str, Any], moving: bool, until: str) -> bool:
    if until == "deleted":
        return state["status"] == "DELETED" and not moving
    return not moving
