"""Event tasks sent by node agents with `send_task` by name.

Each event ends with one outcome (applied, duplicate, stale, unknown, foreign, invalid,
failed), counted in Redis (`events:counts`, field `<kind>:<outcome>`) and logged in one
line. Nothing retries forever: a malformed event, or one for an instance that is not
ours, is dropped at once; a database error is retried a few times with backoff, then
the event is counted as failed (reconciliation repairs what it would have changed).
"""
from __future__ import annotations

import logging
import random
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from celery import shared_task

from .. import agents, events
from ..wire import EVENT_BATCH_TASK, event_name
from . import delays

log = logging.getLogger(__name__)

DB_RETRIES = 5          # a locked or restarting database
NOT_YET_RETRIES = 20    # an operation's submit step about to record its job id
NOT_YET_COUNTDOWN = 0.25
COUNTS_KEY = "events:counts"


def _count(ctx, kind: str, outcome: str) -> None:
    """Outcome counts in Redis (events:counts), shown by operators' tools."""
    try:
        ctx.redis.hincrby(COUNTS_KEY, f"{kind}:{outcome}", 1)
    except Exception:  # counting must never fail an event
        log.debug("could not count %s %s", kind, outcome)


class _Later(Exception):
    """The event cannot be applied yet (its operation's job id, a busy database): again in
    `countdown` seconds."""

    def __init__(self, countdown: float):
        super().__init__(countdown)
        self.countdown = countdown


APPLY = {"op_status": events.apply_op_status, "build_progress": events.apply_build_progress,
         "nic_info": events.apply_nic_info}


def _apply_one(ctx, kind: str, event: Any, attempts: int) -> str:
    """Apply one event in a transaction of its own; its outcome, or _Later. `attempts`: how
    many times this event was tried before."""
    name = event_name(kind, event)
    settings = ctx.settings
    fn = APPLY.get(kind)
    if isinstance(event, dict):  # its cluster's agent is alive: the chain polls there rarely
        agents.seen(ctx.redis, event.get("cluster"))
    try:
        if fn is None:
            raise events.InvalidEvent(f"unknown event kind {kind!r}")
        with ctx.session() as session:
            if kind == "op_status":
                outcome = fn(session, event, settings.backend_prefix_id, wait_for_chain=attempts < NOT_YET_RETRIES)
            else:
                outcome = fn(session, event, settings.backend_prefix_id)
    except events.InvalidEvent as exc:
        outcome = events.INVALID
        log.warning("event %s id=%s invalid, dropped: %s", kind, name, exc)
    except events.NotYet as exc:
        log.info("event %s id=%s waits for its operation: %s", kind, name, exc)
        raise _Later(NOT_YET_COUNTDOWN) from None
    except (OperationalError, DBAPIError) as exc:
        if attempts < DB_RETRIES:
            countdown = random.uniform(0.05, min(5.0, 0.2 * 2 ** attempts))
            log.info("event %s id=%s database busy (%s), retry %s/%s in %.2fs", kind, name,
                     type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                     attempts + 1, DB_RETRIES, countdown)
            raise _Later(countdown) from None
        outcome = "failed"
        log.error("event %s id=%s failed after %s attempts: %s", kind, name, attempts + 1, exc)
    except Exception:
        outcome = "failed"  # a bug: say so, never loop on it
        log.exception("event %s id=%s failed", kind, name)
    _count(ctx, kind, outcome)
    instance = event.get("instance") if isinstance(event, dict) else None
    network = event.get("network") if isinstance(event, dict) else None  # a network job's report
    log.info("event %s id=%s instance=%s outcome=%s%s", kind, name, instance, outcome,
             f" network={network}" if network is not None else "")
    return outcome


def _apply(task, kind: str, event: Any) -> str:
    try:
        return _apply_one(task.app.context, kind, event, task.request.retries or 0)
    except _Later as later:
        raise task.retry(countdown=delays.countdown(later.countdown, task.app.context.settings),
                         max_retries=None) from None


@shared_task(name=EVENT_BATCH_TASK, bind=True, ignore_result=True)
def batch(self, items: list, head_attempts: int = 0) -> list[str]:
    """Events an agent sent together, applied in its order, each in a transaction of its own
    (one bad event costs only itself). One that must wait sends the rest, from it on, again
    later as one task: nothing after it overtakes it, nothing before it is applied twice.
    `head_attempts`: how many times the first of `items` was tried before."""
    if not isinstance(items, list):
        _count(self.app.context, "batch", events.INVALID)
        log.warning("event batch invalid, dropped: not a list")
        return []
    outcomes = []
    for index, item in enumerate(items):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            _count(self.app.context, "batch", events.INVALID)
            log.warning("event batch item %d invalid, dropped: not a [kind, event] pair", index)
            outcomes.append(events.INVALID)
            continue
        try:
            outcomes.append(_apply_one(self.app.context, item[0], item[1], head_attempts if index == 0 else 0))
        except _Later as later:
            raise self.retry(args=[items[index:], head_attempts + 1 if index == 0 else 1],
                             countdown=delays.countdown(later.countdown, self.app.context.settings),
                             max_retries=None) from None
    return outcomes


@shared_task(name="orchestrator.events.op_status", bind=True, ignore_result=True)
def op_status(self, event: dict[str, Any]) -> str:
    return _apply(self, "op_status", event)


@shared_task(name="orchestrator.events.build_progress", bind=True, ignore_result=True)
def build_progress(self, event: dict[str, Any]) -> str:
    return _apply(self, "build_progress", event)


@shared_task(name="orchestrator.events.nic_info", bind=True, ignore_result=True)
def nic_info(self, event: dict[str, Any]) -> str:
    return _apply(self, "nic_info", event)
