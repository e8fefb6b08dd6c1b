"""Filters: one rule each, `(backend, demand) -> bool`; a backend is kept when all pass.

A filter reading the capacity figures is marked `relaxable`: those figures are only as
fresh as the last stats refresh, so when none passes and some figures are stale, the
allocator relaxes these filters (Synnefo's fallback) instead of refusing the create.
A plugin marks one with @relaxable, or with a class attribute `relaxable = True`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..allocator import Demand
    from ..models import Backend

# A backend is full when the vCPU ratio (instances+1)*4/cpus reaches this.
MAX_VCPU_RATIO = 3.0

F = TypeVar("F")


def relaxable(rule: F) -> F:
    """Mark a filter as reading capacity figures that may be stale (see the module doc)."""
    rule.relaxable = True  # type: ignore[attr-defined]
    return rule


def is_relaxable(rule: object) -> bool:
    return bool(getattr(rule, "relaxable", False))


def is_usable(backend: Backend, _demand: Demand) -> bool:
    """Offline backends do not answer and drained ones take no new VMs."""
    return not backend.offline and not backend.drained


def allows_template(backend: Backend, demand: Demand) -> bool:
    """Allowed by the operator and enabled on the cluster; an empty list is not known yet."""
    return all(not templates or demand.disk_template in templates
               for templates in (backend.disk_templates, backend.cluster_disk_templates))


@relaxable
def has_room(backend: Backend, demand: Demand) -> bool:
    """More free memory and disk than the VM takes, and a vCPU ratio below the maximum."""
    return (
        backend.mfree > demand.ram_mib
        and backend.dfree > demand.disk_mib
        and (backend.pinst_cnt + 1) * 4 / max(backend.ctotal, 1) < MAX_VCPU_RATIO
    )
