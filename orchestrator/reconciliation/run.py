"""A run over many backends: locks, read-ahead of the next bulk call, the run's record."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from ..models import Backend, ReconciliationRun, utcnow
from ..credentials import CredentialsError
from ..rapi import RapiError
from .backend import BackendReconciler, fetch_instances
from .rules import Options, load_flavors

log = logging.getLogger(__name__)


def reconcile(session: Session, backends: Iterable[Backend], client_for, options: Options,
              *, trigger: str = "beat", lock=None) -> ReconciliationRun:
    """One run over `backends`; `lock(backend)` returns a held lock (with `release()`) or
    None when another run holds it.

    Each backend's results are committed as it finishes, so the run is visible (unfinished)
    while it goes and no transaction spans the fleet. The next backend's bulk call is read
    ahead (under that backend's lock) on a thread while this one is compared, so the
    clusters' time to answer overlaps the orchestrator's own work."""
    run = ReconciliationRun(trigger=trigger, fixes=sorted(options.fixes), started_at=options.now,
                            backends_checked=[], backends_skipped={}, servers_checked=0)
    session.add(run)
    session.commit()
    flavors = load_flavors(session)

    def check_one(backend: Backend, client, fetched) -> int:
        return BackendReconciler(session, run, backend, client, options, flavors).run_once(fetched)

    pass_ = over_backends(session, run, backends, client_for, fetch_instances, check_one, lock)
    log.info("reconciliation run=%s trigger=%s checked=%s servers=%s skipped=%s",
             run.id, trigger, pass_.checked, pass_.total, pass_.skipped)
    return run


def over_backends(session: Session, run: ReconciliationRun, backends: Iterable[Backend], client_for,
                  fetch: Callable[[Any], Any], check_one: Callable[[Backend, Any, Any], int], lock) -> "_Pass":
    """Check each backend that can be (online, its lock taken, its client made) with
    `check_one(backend, client, fetch(client))`, the next backend's `fetch` read ahead on a
    thread; each backend's results committed as it finishes, then the run closed. Servers'
    and networks' runs share it."""
    pass_ = _Pass(session, run, list(backends), client_for, fetch, check_one, lock)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-read-ahead") as pool:
            current = pass_.begin(pool)
            while current is not None:
                following = pass_.begin(pool)
                pass_.check(*current)
                current = following
    finally:
        for guard in pass_.held:  # only after an unexpected error: never keep a backend locked
            _release(guard)
    pass_.record()
    run.finished_at = utcnow()
    session.commit()
    session.expire(run, ["findings"])  # inserted in bulk: load them when asked
    return pass_


class _Pass:
    """A run's progress over its backends: which were checked, skipped (and why), locked."""

    def __init__(self, session: Session, run: ReconciliationRun, backends: list[Backend], client_for,
                 fetch: Callable[[Any], Any], check_one: Callable[[Backend, Any, Any], int], lock):
        self.session, self.run, self.client_for, self.lock = session, run, client_for, lock
        self.fetch, self.check_one = fetch, check_one
        self.todo = iter(backends)
        self.checked: list[int] = []
        self.skipped: dict[str, str] = {}
        self.held: list = []
        self.total = 0

    def begin(self, pool: ThreadPoolExecutor):
        """The next backend that can be checked: its lock taken, its bulk call started."""
        for backend in self.todo:
            if backend.offline:
                self.skipped[str(backend.id)] = f"offline: {backend.offline_reason or 'marked offline'}"
                continue
            guard = self.lock(backend) if self.lock else None
            if self.lock and guard is None:
                self.skipped[str(backend.id)] = "another reconciliation holds its lock"
                continue
            if guard is not None:
                self.held.append(guard)
            try:
                client = self.client_for(backend)
            except CredentialsError as exc:  # the deployment's keys: the other backends still count
                self.skipped[str(backend.id)] = exc.message
                log.error("reconciliation run=%s backend=%s skipped: %s", self.run.id, backend.id, exc.message)
                if guard is not None:
                    self.held.remove(guard)
                    _release(guard)
                continue
            return backend, client, guard, pool.submit(self.fetch, client)
        return None

    def check(self, backend: Backend, client, guard, answer) -> None:
        """Compare (and fix) one backend with its bulk answer, commit, and free its lock."""
        backend_id = backend.id
        try:
            self.total += self.check_one(backend, client, answer.result())
            self.checked.append(backend_id)
        except RapiError as exc:
            self.session.rollback()
            self.skipped[str(backend_id)] = f"cluster error: {exc.message}"
            log.warning("reconciliation run=%s backend=%s skipped: %s", self.run.id, backend_id, exc.message)
        self.record()
        self.session.commit()
        if guard is not None:
            self.held.remove(guard)
            _release(guard)

    def record(self) -> None:
        self.run.backends_checked, self.run.backends_skipped = list(self.checked), dict(self.skipped)
        self.run.servers_checked = self.total


def _release(guard) -> None:
    try:
        guard.release()
    except Exception as exc:  # expired meanwhile (a run longer than the lock's TTL): nothing to free
        log.warning("reconciliation lock release: %s", exc)


def redis_lock(client, ttl_s: int = 900, key: str = "reconcile:backend:{id}") -> Callable[[Backend], Any]:
    """The per-backend lock on the Redis `client`: two runs never overlap on one backend.
    Networks' runs take their own (`key`), so they do not wait for the servers'."""
    def lock(backend: Backend):
        held = client.lock(key.format(id=backend.id), timeout=ttl_s, blocking=False)
        return held if held.acquire() else None
    return lock
