"""Server changes announced after their commit, so live streams are pushed, not polled.

Every session of a process's sessionmaker notes which existing servers its flushes touched
(the server's row, one of its operations, one of its ports) and, once the transaction has
committed, publishes their ids on one Redis channel. The streams process (api/streams.py)
listens and re-reads only the servers named; the database stays the source of truth, and a
lost announcement (Redis down, a bulk UPDATE no ORM object saw) only delays a stream until
its next periodic re-read. Publishing is best effort and never fails the commit.

A server created in the same transaction is not announced: nobody can be watching it yet,
and the create path stays free of the extra round trip.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import redis as redis_lib
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from .models import Operation, Port, Server

log = logging.getLogger(__name__)

CHANNEL = "orchestrator:servers:changed"
_KEY, _CREATED = "changed_servers", "created_servers"
_installed: dict[int, Callable[[], redis_lib.Redis]] = {}


def install(sessions: sessionmaker[Session], redis: Callable[[], redis_lib.Redis]) -> None:
    """Announce the commits of `sessions` through `redis()` (once per sessionmaker; a later
    call only replaces the Redis it publishes to)."""
    first = id(sessions) not in _installed
    _installed[id(sessions)] = redis
    if first:
        event.listen(sessions, "after_flush", _noted)
        event.listen(sessions, "after_commit", lambda session: _announce(session, _installed[id(sessions)]))
        event.listen(sessions, "after_rollback", _forget)


def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_CREATED, None)


def _noted(session: Session, _flush_context) -> None:
    created: set[int] = session.info.setdefault(_CREATED, set())
    created.update(obj.id for obj in session.new if isinstance(obj, Server))
    ids: set[int] = session.info.setdefault(_KEY, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Server):
            server_id = obj.id
        elif isinstance(obj, (Operation, Port)):
            server_id = obj.server_id
        else:
            continue
        if server_id is not None and server_id not in created:
            ids.add(server_id)


def _announce(session: Session, redis: Callable[[], redis_lib.Redis]) -> None:
    ids = session.info.pop(_KEY, None)
    session.info.pop(_CREATED, None)
    if not ids:
        return
    try:
        pipe = redis().pipeline(transaction=False)
        for server_id in sorted(ids):
            pipe.publish(CHANNEL, server_id)
        pipe.execute()
    except Exception as exc:  # a stream re-reads on its own soon; the commit stands
        log.debug("server changes %s not announced (%s: %s)", sorted(ids), type(exc).__name__, exc)
