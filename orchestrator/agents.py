"""Which clusters have a node agent reporting now: a mark in Redis that each event refreshes.

While a cluster's agent sends events, they end its operations themselves
(orchestrator.events), so the chain polls that cluster's jobs as rarely as it may
(steps.next_poll_in) and spends its request budget on the users' actions instead.
"""
from __future__ import annotations

import logging
import time

import redis as redis_lib

log = logging.getLogger(__name__)

KEY = "orchestrator:agent-seen:{cluster}"
LIVE_S = 120  # an agent that sent nothing for this long is taken for gone
_REFRESH_S = LIVE_S / 4  # a process refreshes a cluster's mark at most this often
_marked: dict[str, float] = {}


def seen(redis: redis_lib.Redis, cluster) -> None:
    """An event came from `cluster`'s agent (never fails the event)."""
    if not isinstance(cluster, str) or not cluster:
        return
    now = time.monotonic()
    if now - _marked.get(cluster, -_REFRESH_S) < _REFRESH_S:
        return
    try:
        redis.set(KEY.format(cluster=cluster), 1, ex=LIVE_S)
        _marked[cluster] = now
    except redis_lib.RedisError as exc:
        log.debug("agent mark of cluster %s not set: %s", cluster, type(exc).__name__)


def live(redis: redis_lib.Redis, cluster: str | None) -> bool:
    """Whether `cluster`'s agent sent an event within LIVE_S (False when Redis cannot say)."""
    if not cluster:
        return False
    try:
        return bool(redis.exists(KEY.format(cluster=cluster)))
    except redis_lib.RedisError:
        return False
