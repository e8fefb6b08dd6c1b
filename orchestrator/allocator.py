"""Backend allocation, Synnefo's default strategy, run through the pluggable scheduler.

The scheduler's filters drop backends that cannot take the VM; its weighers score the
rest and the lowest score wins (see orchestrator/scheduler). The winner's free figures
are reserved at once, so allocations made between two stats refreshes see each other.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Backend, Flavor
from .scheduler import (DEFAULT_FILTERS, DEFAULT_WEIGHERS, FILTERS, WEIGHERS, Filter, Weigher,
                        load, passing, split, total)
from .scheduler.filters import MAX_VCPU_RATIO, has_room  # noqa: F401  (kept for callers)


class NoBackendAvailable(Exception):
    """No backend can take the server; the message says why, for the user."""


@dataclass(frozen=True)
class Demand:
    """What one VM takes from a backend, in the units Ganeti reports (MiB)."""

    ram_mib: int
    disk_mib: int
    disk_template: str

    @classmethod
    def of(cls, flavor: Flavor) -> "Demand":
        disk = flavor.disk * 1024
        if flavor.disk_template == "drbd":
            disk *= 2  # a primary and a secondary copy
        return cls(flavor.ram, disk, flavor.disk_template)


def candidates(backends: Iterable[Backend], demand: Demand, *, fallback: bool = True,
               filters: Sequence[Filter] | None = None) -> list[Backend]:
    """Backends passing every filter, or (with `fallback`) those passing the hard ones if
    none does: Synnefo's answer to figures that may be stale."""
    hard, relaxable = split(filters or load(DEFAULT_FILTERS, FILTERS))
    return _fitting(passing(backends, demand, hard), demand, relaxable, fallback=fallback)


def _fitting(usable: list[Backend], demand: Demand, relaxable: Sequence[Filter], *,
             fallback: bool) -> list[Backend]:
    return passing(usable, demand, relaxable) or (usable if fallback else [])


def rank(backends: Iterable[Backend], weighers: Sequence[Weigher] | None = None) -> list[Backend]:
    """Best first; ties go to the oldest backend, so the order is stable."""
    rules = weighers or load(DEFAULT_WEIGHERS, WEIGHERS)
    return sorted(backends, key=lambda b: (total(b, rules), b.id))


def score(backend: Backend) -> float:
    """The default score, lower is better: 0.5·cpu_ratio + 0.5·(mem_ratio + disk_ratio)."""
    return total(backend, load(DEFAULT_WEIGHERS, WEIGHERS))


def reserve(session: Session, backend: Backend, demand: Demand) -> None:
    """Take the VM's share of the backend until the next stats refresh.

    A relative UPDATE, so two allocators racing on one backend both count.
    """
    session.execute(
        update(Backend)
        .where(Backend.id == backend.id)
        .values(
            mfree=Backend.mfree - demand.ram_mib,
            dfree=Backend.dfree - demand.disk_mib,
            pinst_cnt=Backend.pinst_cnt + 1,
        )
    )


def allocate(session: Session, flavor: Flavor, *, pinned_backend_id: int | None = None,
             fresh: Callable[[Backend], bool] | None = None,
             filters: Sequence[str] | None = None,
             weighers: Sequence[str] | None = None, within: Collection[int] | None = None) -> Backend:
    """Choose a backend for a VM of `flavor` and reserve room on it (not committed).

    `filters` and `weighers` name the scheduler's rules (None or empty: the defaults);
    they are resolved first, so a bad name raises ValueError even for a pinned backend.
    A pinned backend (BACKEND_PER_USER, or an admin's choice) bypasses them and is taken
    whatever its drained state, as Synnefo does, but never when offline. `within`: the only
    backends that may take it (those holding the public networks of its NICs), pinned or not.
    """
    demand = Demand.of(flavor)
    rules = load(filters or DEFAULT_FILTERS, FILTERS)
    weights = load(weighers or DEFAULT_WEIGHERS, WEIGHERS)
    if pinned_backend_id is not None:
        chosen = _pinned(session, pinned_backend_id)
        if within is not None and chosen.id not in within:
            raise NoBackendAvailable(f"backend {chosen.clustername} does not hold the server's public networks")
    else:
        backends = session.scalars(select(Backend).order_by(Backend.id).with_for_update()).all()
        if within is not None:
            backends = [b for b in backends if b.id in within]
            if not backends:
                raise NoBackendAvailable("no backend holds every public network the server's NICs are on")
        chosen = _choose(backends, demand, fresh, rules, weights)
    reserve(session, chosen, demand)
    return chosen


def _pinned(session: Session, backend_id: int) -> Backend:
    backend = session.get(Backend, backend_id, with_for_update=True)
    if backend is None:
        raise NoBackendAvailable(f"backend {backend_id} does not exist")
    if backend.offline:
        raise NoBackendAvailable(f"backend {backend.clustername} is offline")
    return backend


def _choose(backends: Sequence[Backend], demand: Demand, fresh: Callable[[Backend], bool] | None,
            rules: Sequence[Filter], weights: Sequence[Weigher]) -> Backend:
    """The best backend passing the filters. When every usable backend's figures are
    `fresh`, none having room means no room: the create fails here with a message saying
    so, instead of sending Ganeti a job bound to fail."""
    hard, relaxable = split(rules)
    usable = passing(backends, demand, hard)
    if not usable:
        raise NoBackendAvailable(
            f"no backend available for disk template {demand.disk_template}: "
            "all are offline, drained or do not allow it"
        )
    all_fresh = fresh is not None and all(fresh(b) for b in usable)
    ranked = rank(_fitting(usable, demand, relaxable, fallback=not all_fresh), weights)
    if not ranked:
        raise NoBackendAvailable(
            f"none has {demand.ram_mib} MiB of memory, {demand.disk_mib} MiB of disk "
            "and a vCPU to spare"
        )
    return ranked[0]
