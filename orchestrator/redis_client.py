"""One Redis client per process for locks, counters and one-time configs (REDIS_URL)."""
from __future__ import annotations

import functools

import redis

from .settings import get_settings


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def get_redis() -> redis.Redis:
    return _client(get_settings().redis_url)
