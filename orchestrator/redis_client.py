"""One Redis client per URL per process, for locks, counters and one-time configs (REDIS_URL)."""
from __future__ import annotations

import functools

import redis


@functools.lru_cache(maxsize=4)
def get_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
