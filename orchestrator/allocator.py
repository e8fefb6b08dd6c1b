"""Backend allocation, Synnefo's default strategy, shaped as small filters and a weigher.

Filters drop backends that cannot take the VM; the weigher scores the rest and the
lowest score wins. The winner's free figures are reserved at once, so allocations
made between two stats refreshes see each other.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Backend, Flavor

# A backend is full when the vCPU ratio (instances+1)*4/cpus reaches this.
MAX_VCPU_RATIO = 3.0


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


BackendFilter = Callable[[Backend, Demand], bool]


def is_usable(backend: Backend, _demand: Demand) -> bool:
    return not backend.offline and not backend.drained


def allows_template(backend: Backend, demand: Demand) -> bool:
    """Allowed by the operator and enabled on the cluster; an empty list is not known yet."""
    return all(not templates or demand.disk_template in templates
               for templates in (backend.disk_templates, backend.cluster_disk_templates))


def vcpu_ratio(backend: Backend) -> float:
    return (backend.pinst_cnt + 1) * 4 / (3 * backend.ctotal) if backend.ctotal else float("inf")


def has_room(backend: Backend, demand: Demand) -> bool:
    return (
        backend.mfree > demand.ram_mib
        and backend.dfree > demand.disk_mib
        and (backend.pinst_cnt + 1) * 4 / max(backend.ctotal, 1) < MAX_VCPU_RATIO
    )


def score(backend: Backend) -> float:
    """Lower is better: 0.5·cpu_ratio + 0.5·(mem_ratio + disk_ratio)."""
    mem_ratio = 1 - backend.mfree / backend.mtotal if backend.mtotal else 1.0
    disk_ratio = 1 - backend.dfree / backend.dtotal if backend.dtotal else 1.0
    return 0.5 * vcpu_ratio(backend) + 0.5 * (mem_ratio + disk_ratio)


def candidates(backends: Iterable[Backend], demand: Demand, *, fallback: bool = True) -> list[Backend]:
    """Usable backends allowing the template; those with room, or (with `fallback`) all of
    them if none has: Synnefo's answer to figures that may be stale."""
    usable = [b for b in backends if is_usable(b, demand) and allows_template(b, demand)]
    fitting = [b for b in usable if has_room(b, demand)]
    return fitting or (usable if fallback else [])


def rank(backends: Sequence[Backend]) -> list[Backend]:
    return sorted(backends, key=lambda b: (score(b), b.id))


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
             fresh: Callable[[Backend], bool] | None = None) -> Backend:
    """Choose a backend for a VM of `flavor` and reserve room on it (not committed).

    A pinned backend (BACKEND_PER_USER, or an admin's choice) is taken whatever its
    drained state, as Synnefo does, but never when offline. When every usable backend's
    figures are `fresh`, none having room means no room: the create fails here with a
    message saying so, instead of sending Ganeti a job bound to fail.
    """
    demand = Demand.of(flavor)
    if pinned_backend_id is not None:
        backend = session.get(Backend, pinned_backend_id, with_for_update=True)
        if backend is None:
            raise NoBackendAvailable(f"backend {pinned_backend_id} does not exist")
        if backend.offline:
            raise NoBackendAvailable(f"backend {backend.clustername} is offline")
        chosen = backend
    else:
        backends = session.scalars(select(Backend).order_by(Backend.id).with_for_update()).all()
        usable = [b for b in backends if is_usable(b, demand) and allows_template(b, demand)]
        if not usable:
            raise NoBackendAvailable(
                f"no backend available for disk template {demand.disk_template}: "
                "all are offline, drained or do not allow it"
            )
        all_fresh = fresh is not None and all(fresh(b) for b in usable)
        ranked = rank(candidates(usable, demand, fallback=not all_fresh))
        if not ranked:
            raise NoBackendAvailable(
                f"none has {demand.ram_mib} MiB of memory, {demand.disk_mib} MiB of disk "
                "and a vCPU to spare"
            )
        chosen = ranked[0]
    reserve(session, chosen, demand)
    return chosen
