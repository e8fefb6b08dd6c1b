"""Event tasks sent by node agents with `send_task` by name.

An event for an unknown instance is counted and dropped, never retried forever.
"""
from __future__ import annotations

import logging
from typing import Any

from .. import events
from ..celery_app import app
from ..db import session_scope

log = logging.getLogger(__name__)


def _count(kind: str, outcome: str) -> None:
    """Outcome counts in Redis (events:counts), shown by operators' tools."""
    try:
        from ..redis_client import get_redis

        get_redis().hincrby("events:counts", f"{kind}:{outcome}", 1)
    except Exception:  # counting must never fail an event
        log.debug("could not count %s %s", kind, outcome)


def _apply(kind: str, fn, event: dict[str, Any]) -> str:
    with session_scope() as session:
        outcome = fn(session, event)
    _count(kind, outcome)
    return outcome


@app.task(name="orchestrator.events.op_status")
def op_status(event: dict[str, Any]) -> str:
    return _apply("op_status", events.apply_op_status, event)


@app.task(name="orchestrator.events.build_progress")
def build_progress(event: dict[str, Any]) -> str:
    return _apply("build_progress", events.apply_build_progress, event)


@app.task(name="orchestrator.events.nic_info")
def nic_info(event: dict[str, Any]) -> str:
    return _apply("nic_info", events.apply_nic_info, event)
