"""One-time configuration URLs: a VM's password lives only here, in Redis, with a TTL.

The password is never written to the database or a log. Two one-time entries are
made per create, each readable once: one for the user (its URL is returned by the API)
and one for the OS installer. The installer's key is a credential nobody else may hold,
so it is kept only here, addressed by its operation (`vmconfig:installer:<op_id>`): the
submit step reads it into Ganeti's `osparams_secret` (passed to the OS scripts, never
stored in the cluster's config nor shown), and it is spent when the create ends.
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
_INSTALLER = "vmconfig:installer:{}"  # a create operation's id -> its installer's key
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


def hostname_label(name: str) -> str:
    """The RFC 1123 label a name folds to (accents to ASCII, anything else a hyphen, at most
    63); empty when nothing is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:HOSTNAME_MAX].rstrip("-")


def hostname_for(name: str, server_id: int | None = None) -> str:
    """The VM's hostname from its name (`hostname_label`); `vm-<id>` (or `vm`) when nothing
    is left."""
    return hostname_label(name) or (f"vm-{server_id}" if server_id is not None else "vm")


def config_url(public_api_url: str, key: str) -> str:
    """Where the configuration stored under `key` is read once (api/views/operations.py)."""
    return f"{public_api_url.rstrip('/')}/api/v1/config/{key}"


def installer_osparams(configs: "ConfigStore", op_id: int, public_api_url: str) -> dict[str, str]:
    """The secret OS parameters of a create's submit: its installer's one-time URL.

    Without the entry (expired, Redis lost or down) the create is sent without it, so the
    VM is still built; one warning says so (never with a key)."""
    try:
        key = configs.installer_key(op_id)
        why = "its entry expired, was lost, or was spent when an earlier attempt ended"
    except redis.RedisError as exc:
        key, why = None, f"Redis did not answer ({type(exc).__name__})"
    if key is None:
        log.warning("op=%s create submitted without the installer's one-time config: %s", op_id, why)
        return {}
    return {"config_url": config_url(public_api_url, key)}


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

    def put_installer(self, op_id: int, config: dict[str, Any], key: str | None = None) -> str:
        """The installer's entry and its operation's pointer to it, together (MULTI/EXEC)."""
        key = key or self.new_key()
        pipe = self.client.pipeline(transaction=True)
        pipe.set(_KEY.format(key), json.dumps(config), ex=self.ttl_s)
        pipe.set(_INSTALLER.format(op_id), key, ex=self.ttl_s)
        pipe.execute()
        return key

    def put_create(self, config: dict[str, Any], user_key: str, installer_key: str) -> None:
        """A create's two entries (the user's and the installer's) in one MULTI/EXEC, stored
        before its operation is written: Redis is then no part of the database's write
        section (SQLite's one writer, the owner's quota row on PostgreSQL). The installer's
        entry is found by its operation once `point_installer` has named it."""
        raw = json.dumps(config)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(_KEY.format(user_key), raw, ex=self.ttl_s)
        pipe.set(_KEY.format(installer_key), raw, ex=self.ttl_s)
        pipe.execute()

    def point_installer(self, op_id: int, installer_key: str) -> bool:
        """A committed create's pointer to its installer's entry; best effort: without it the
        create is submitted without the one-time config (`installer_osparams`), as when Redis
        lost the entry, and the entry ends with its TTL."""
        try:
            self.client.set(_INSTALLER.format(op_id), installer_key, ex=self.ttl_s)
        except redis.RedisError as exc:
            log.warning("op=%s: could not point to the installer's one-time config (%s); the create goes on "
                        "without it", op_id, type(exc).__name__)
            return False
        return True

    def installer_key(self, op_id: int) -> str | None:
        raw = self.client.get(_INSTALLER.format(op_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    def installers(self) -> list[tuple[int, int]]:
        """(operation id, seconds since it was put) of every installer entry not spent yet."""
        names = list(self.client.scan_iter(match=_INSTALLER.format("*"), count=1000))
        if not names:
            return []
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.ttl(name)
        found = []
        for name, ttl in zip(names, pipe.execute()):
            op_id = (name.decode() if isinstance(name, bytes) else name).rsplit(":", 1)[1]
            if op_id.isdigit() and ttl is not None and ttl >= 0:  # -2: gone meanwhile
                found.append((int(op_id), max(0, self.ttl_s - ttl)))
        return found

    def spend_installers(self, *op_ids: int) -> int:
        """Delete the installer entries of these operations, pointer and configuration in one
        DEL; best effort (a sweep tries again, their TTL ends them anyway). How many were spent."""
        if not op_ids:
            return 0
        try:
            pipe = self.client.pipeline(transaction=False)
            for op_id in op_ids:
                pipe.get(_INSTALLER.format(op_id))
            keys = pipe.execute()
            names = [_INSTALLER.format(op_id) for op_id in op_ids]
            names += [_KEY.format(key.decode() if isinstance(key, bytes) else key) for key in keys if key]
            self.client.delete(*names)
        except redis.RedisError as exc:
            log.warning("could not spend %d installer config(s), they expire in at most %ss: %s", len(op_ids),
                        self.ttl_s, type(exc).__name__)
            return 0
        return sum(1 for key in keys if key)

    def discard(self, *keys: str) -> None:
        """Take back entries whose create failed; best effort (their TTL ends them anyway)."""
        names = [_KEY.format(key) for key in keys]
        if not names:
            return
        try:
            self.client.delete(*names)
        except redis.RedisError as exc:
            log.warning("could not discard %d one-time config(s), they expire in %ss: %s", len(names), self.ttl_s,
                        type(exc).__name__)

    def pop(self, key: str) -> dict[str, Any] | None:
        """Read once: GETDEL is atomic, so two readers never both get it."""
        raw = self.client.getdel(_KEY.format(key))
        return json.loads(raw) if raw else None
