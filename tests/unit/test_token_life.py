"""A short-lived token's life as every way in sees it: a bearer token, a stream ticket (and
so the console's live page), all through auth.is_live."""
from __future__ import annotations

import datetime as dt

import pytest

from orchestrator import auth
from orchestrator.models import Server, utcnow
from orchestrator.services import streams


@pytest.fixture
def ctx(tmp_path):
    from orchestrator import demo, migrate
    from orchestrator.db import session_scope
    from tests.conftest import context_for

    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    migrate.upgrade(url)
    with session_scope(url) as session:
        demo.seed(session, env={"SIM_CLUSTERS": "1"})
        session.add(Server(id=7, user_id="alice", name="web", flavor_id=1, image_id=1, nics=[]))
        session.commit()
    return context_for(url)


def _tokens(ctx, *, expires_in: float):
    """alice's long-lived token and a short-lived one issued from it."""
    with ctx.session() as session:
        parent, _ = auth.create_token(session, "alice")
        child, secret = auth.create_expiring_token(
            session, auth.Principal("alice", False), expires_at=utcnow() + dt.timedelta(seconds=expires_in),
            parent_id=parent.id)
        session.commit()
        return parent.id, child.id, secret


def test_a_ticket_of_a_live_short_lived_token_opens_its_owner_s_stream(ctx):
    _, child, secret = _tokens(ctx, expires_in=600)
    ticket = streams.issue_ticket(ctx, auth.Principal("alice", False), child, 7)
    assert streams.authorize_ticket(ctx, ticket, 7) == auth.Principal("alice", False)
    assert streams.authorize_ticket(ctx, ticket, 8) is None  # another server's stream: not with this ticket
    with ctx.session() as session:
        assert auth.authenticate(session, secret, ctx.settings.admin_token) == auth.Principal("alice", False)


def test_revoking_the_token_it_came_from_ends_a_short_lived_token_everywhere(ctx):
    parent, child, secret = _tokens(ctx, expires_in=600)
    ticket = streams.issue_ticket(ctx, auth.Principal("alice", False), child, 7)
    with ctx.session() as session:
        auth.revoke_token(session, parent)
        session.commit()
        assert auth.authenticate(session, secret, ctx.settings.admin_token) is None
    assert streams.authorize_ticket(ctx, ticket, 7) is None


def test_an_expired_token_acts_nowhere(ctx):
    _, child, secret = _tokens(ctx, expires_in=600)
    ticket = streams.issue_ticket(ctx, auth.Principal("alice", False), child, 7)
    later = utcnow() + dt.timedelta(seconds=601)
    with ctx.session() as session:
        row = session.get(auth.Token, child)
        assert auth.is_live(session, row) and not auth.is_live(session, row, now=later)
        row.expires_at = utcnow() - dt.timedelta(seconds=1)  # its end has come
        session.commit()
        assert auth.authenticate(session, secret, ctx.settings.admin_token) is None
    assert streams.authorize_ticket(ctx, ticket, 7) is None
