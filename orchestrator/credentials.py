"""RAPI passwords sealed at rest: the database holds Fernet tokens, the keys live elsewhere.

A dump or a copy of the database alone gives no cluster's password. The keys come from
CREDENTIALS_KEYS or else from the key file (made on first use, 0600); the first key seals,
every key opens, so keys rotate without downtime (docs/credentials.md). The services'
`Context` opens a backend's password to build its RAPI client, and a backend's modification
opens it to check a changed address: no other code sees a clear password, and none is
ever put into a message.
"""
from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import write_lock
from .errors import DomainError
from .models import Backend
from .settings import Settings

log = logging.getLogger(__name__)

# How every Fernet token starts (version 0x80, then a timestamp whose high bytes are zero
# until 2106): what tells a sealed value from a clear one written before sealing.
SEALED_PREFIX = "gAAAAA"


class CredentialsError(DomainError):
    """The keys are missing or malformed, or a stored password opens with none of them: the
    deployment's to fix (keys, key file), never the caller's."""

    status = 500


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Credentials:
    """The deployment's keys: `seal` with the first, `unseal` and `reseal` with any."""

    def __init__(self, keys: Iterable[str], source: str = "the given keys"):
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise CredentialsError(f"no key in {source}")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:  # never say what the key was
                raise CredentialsError(f"key {position} of {source} is not a Fernet key (32 url-safe "
                                       "base64-encoded bytes, as Fernet.generate_key() makes)") from None
        self._fernet = MultiFernet(fernets)
        self.source = source
        self.count = len(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Credentials":
        """CREDENTIALS_KEYS when set, else the key file's keys (the file is made if missing)."""
        if settings.credentials_keys:
            return cls(settings.credentials_keys, "CREDENTIALS_KEYS")
        path = settings.credentials_key_file
        return cls(key_file_keys(path), f"the key file {path}")

    def __repr__(self) -> str:
        return f"Credentials({self.count} key(s) from {self.source})"

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def unseal(self, token: str, what: str) -> str:
        """The clear text of a sealed value; `what` names its owner in the error."""
        try:
            return self._fernet.decrypt(token.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise self._unreadable(token, what) from None

    def reseal(self, token: str, what: str) -> str:
        """The same value sealed anew with the first key (MultiFernet.rotate)."""
        try:
            return self._fernet.rotate(token.encode("utf-8")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise self._unreadable(token, what) from None

    def password(self, backend: Backend) -> str:
        """The backend's RAPI password, to hand to its client and nowhere else."""
        return self.unseal(backend.password, backend_label(backend))

    def _unreadable(self, token: str, what: str) -> CredentialsError:
        if not is_sealed(token):
            return CredentialsError(f"{what}: the stored RAPI password is not sealed; run `orchestrator db upgrade`, "
                                    "or `orchestrator backend rotate-credentials`, to seal it")
        return CredentialsError(f"{what}: the stored RAPI password opens with no key of {self.source}; "
                                "give the key it was sealed with (see docs/credentials.md)")


def backend_label(backend: Backend) -> str:
    return f"backend {backend.id} ({backend.clustername})"


def key_file_keys(path: Path) -> list[str]:
    """The key file's keys, newest first (one a line; blank lines and `#` comments skipped).

    A missing file is made with one new key, 0600, atomically: the key is written to a private
    temporary file which is then hard-linked to `path`, which fails if `path` exists, so two
    processes starting together keep one key and no reader ever sees a half-written file.
    """
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("credentials key file %s is readable by others (mode %o); chmod 600 it", path,
                    stat.S_IMODE(mode))
    keys = [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise CredentialsError(f"the key file {path} holds no key")
    return keys


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(scratch, path)
            log.info("credentials key file %s created", path)
        except FileExistsError:
            pass  # another process made it first: its key is the one
    finally:
        scratch.unlink(missing_ok=True)


def reseal_backends(session: Session, credentials: Credentials) -> int:
    """Reseal every stored RAPI password with the first key (and seal one still clear, as
    migration 0004 run offline leaves them), under the rows' locks so that a concurrent
    modification is not overwritten; returns how many (flushed, not committed)."""
    write_lock(session)
    backends = session.scalars(select(Backend).order_by(Backend.id).with_for_update()).all()
    for backend in backends:
        stored = backend.password
        backend.password = (credentials.reseal(stored, backend_label(backend)) if is_sealed(stored)
                            else credentials.seal(stored))
    session.flush()
    return len(backends)
