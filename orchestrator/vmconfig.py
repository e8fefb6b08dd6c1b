"""One-time configuration URLs: a VM's password lives only here, in Redis, with a TTL.

The password is never written to the database or a log. Two one-time entries are
made per create: one for the user (returned by the API) and one for the OS installer
(its URL goes to Ganeti in osparams), each readable once.
"""
from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import redis

DEFAULT_TTL_S = 3600
_KEY = "vmconfig:{}"


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class ConfigStore:
    def __init__(self, client: redis.Redis, ttl_s: int = DEFAULT_TTL_S):
        self.client, self.ttl_s = client, ttl_s

    @classmethod
    def from_url(cls, url: str, ttl_s: int = DEFAULT_TTL_S) -> "ConfigStore":
        return cls(redis.Redis.from_url(url, socket_timeout=5), ttl_s)

    def put(self, config: dict[str, Any]) -> str:
        key = uuid.uuid4().hex
        self.client.set(_KEY.format(key), json.dumps(config), ex=self.ttl_s)
        return key

    def pop(self, key: str) -> dict[str, Any] | None:
        """Read once: GETDEL is atomic, so two readers never both get it."""
        raw = self.client.getdel(_KEY.format(key))
        return json.loads(raw) if raw else None
