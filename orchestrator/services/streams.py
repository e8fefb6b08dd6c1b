"""Live streams of a server's state: who may open one, what it shows, when it ends.

The streams process (api/streams.py) and the API's own fallback route are adapters over
these; a stream's content is always read from the database (servers.live_state), whatever
woke it."""
from __future__ import annotations

from typing import Any

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


def snapshot(ctx: Context, server_id: int) -> tuple[dict[str, Any], bool]:
    """What the stream shows now, and whether the server may still change."""
    with ctx.session() as session:
        return servers.live_state(ctx, session, server_id)


def finished(state: dict[str, Any], moving: bool, until: str) -> bool:
    if until == "deleted":
        return state["status"] == "DELETED" and not moving
    return not moving
