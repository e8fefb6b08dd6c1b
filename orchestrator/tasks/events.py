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
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from celery import shared_task

from .. import events
from ..wire import event_name
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


def _apply(task, kind: str, fn: Callable[..., str], event: Any) -> str:
    name = event_name(kind, event)
    retries = task.request.retries or 0
    ctx = task.app.context
    settings = ctx.settings
    try:
        with ctx.session() as session:
            if kind == "op_status":
                outcome = fn(session, event, settings.backend_prefix_id, wait_for_chain=retries < NOT_YET_RETRIES)
            else:
                outcome = fn(session, event, settings.backend_prefix_id)
    except events.InvalidEvent as exc:
        outcome = events.INVALID
        log.warning("event %s id=%s invalid, dropped: %s", kind, name, exc)
    except events.NotYet as exc:
        log.info("event %s id=%s waits for its operation: %s", kind, name, exc)
        raise task.retry(countdown=delays.countdown(NOT_YET_COUNTDOWN, settings), max_retries=None)
    except (OperationalError, DBAPIError) as exc:
        if retries < DB_RETRIES:
            countdown = random.uniform(0.05, min(5.0, 0.2 * 2 ** retries))
            log.info("event %s id=%s database busy (%s), retry %s/%s in %.2fs", kind, name,
                     type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                     retries + 1, DB_RETRIES, countdown)
            raise task.retry(countdown=delays.countdown(countdown, settings), max_retries=None)
        outcome = "failed"
        log.error("event %s id=%s failed after %s attempts: %s", kind, name, retries + 1, exc)
    except Exception:
        outcome = "failed"  # a bug: say so, never loop on it
        log.exception("event %s id=%s failed", kind, name)
    _count(ctx, kind, outcome)
    instance = event.get("instance") if isinstance(event, dict) else None
    network = event.get("network") if isinstance(event, dict) else None  # a network job's report
    log.info("event %s id=%s instance=%s outcome=%s%s", kind, name, instance, outcome,
             f" network={network}" if network is not None else "")
    return outcome


@shared_task(name="orchestrator.events.op_status", bind=True, ignore_result=True)
def op_status(self, event: dict[str, Any]) -> str:
    return _apply(self, "op_status", events.apply_op_status, event)


@shared_task(name="orchestrator.events.build_progress", bind=True, ignore_result=True)
def build_progress(self, event: dict[str, Any]) -> str:
    return _apply(self, "build_progress", events.apply_build_progress, event)


@shared_task(name="orchestrator.events.nic_info", bind=True, ignore_result=True)
def nic_info(self, event: dict[str, Any]) -> str:
    return _apply(self, "nic_info", events.apply_nic_info, event)
