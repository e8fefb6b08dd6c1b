"""One-time configuration URLs: a VM's password lives only here, in Redis, with a TTL.

The password is never written to the database or a log. Two one-time entries are
made per create: one for the user (returned by the API) and one for the OS installer
(its URL goes to Ganeti in osparams), each readable once.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import unicodedata
import uuid
from typing import Any

import redis

from .errors import Invalid

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 3600
_KEY = "vmconfig:{}"
PASSWORD_LENGTH = (8, 128)
HOSTNAME_MAX = 63


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def check_password(password: Any) -> str:
    """A password the user chose: 8 to 128 printable characters (no control or format
    characters, no lone surrogates: the installer writes it into the VM as it is)."""
    low, high = PASSWORD_LENGTH
    if not isinstance(password, str) or not low <= len(password) <= high:
        raise Invalid(f"must be {low} to {high} characters", field="password")
    if not password.isprintable():
        raise Invalid("must be printable text: no control or format characters, no lone surrogates",
                      field="password")
    return password


def hostname_for(name: str, server_id: int | None = None) -> str:
    """The VM's hostname from its name: one RFC 1123 label (lowercase letters, digits and
    inner hyphens, at most 63), accents folded to ASCII, anything else a hyphen; `vm-<id>`
    (or `vm`) when nothing is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    label = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:HOSTNAME_MAX].rstrip("-")
    return label or (f"vm-{server_id}" if server_id is not None else "vm")


class ConfigStore:
    def __init__(self, client: redis.Redis, ttl_s: int = DEFAULT_TTL_S):
        self.client, self.ttl_s = client, ttl_s

    @classmethod
    def from_url(cls, url: str, ttl_s: int = DEFAULT_TTL_S) -> "ConfigStore":
        return cls(redis.Redis.from_url(url, socket_timeout=5), ttl_s)

    @staticmethod
    def new_key() -> str:
        """A key for `put`, chosen before anything is stored (its URL can be written first)."""
        return uuid.uuid4().hex

    def put(self, config: dict[str, Any], key: str | None = None) -> str:
        key = key or self.new_key()
        self.client.set(_KEY.format(key), json.dumps(config), ex=self.ttl_s)
        return key

    def discard(self, *keys: str) -> None:
        """Take back entries whose create failed; best effort (their TTL ends them anyway)."""
        if not keys:
            return
        try:
            self.client.delete(*(_KEY.format(key) for key in keys))
        except redis.RedisError as exc:
            log.warning("could not discard %d one-time config(s), they expire in %ss: %s", len(keys), self.ttl_s,
                        type(exc).__name__)

    def pop(self, key: str) -> dict[str, Any] | None:
        """Read once: GETDEL is atomic, so two readers never both get it."""
        raw = self.client.getdel(_KEY.format(key))
        return json.loads(raw) if raw else None
