"""Weighers: one term each of a backend's score, `(backend) -> float`; lower is better.

The defaults split Synnefo's score, 0.5·cpu_ratio + 0.5·(mem_ratio + disk_ratio), in two
terms whose sum (starting from 0) is that score to the last bit, so ranking is unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Backend


def vcpu_ratio(backend: Backend) -> float:
    """Instances (and the new one) per vCPU over 3/4: a backend without CPUs is never picked."""
    return (backend.pinst_cnt + 1) * 4 / (3 * backend.ctotal) if backend.ctotal else float("inf")


def vcpu(backend: Backend) -> float:
    """Half the score: spread VMs over CPUs."""
    return 0.5 * vcpu_ratio(backend)


def mem_disk(backend: Backend) -> float:
    """The other half: the memory and disk in use, as fractions; unknown totals count as full."""
    mem_ratio = 1 - backend.mfree / backend.mtotal if backend.mtotal else 1.0
    disk_ratio = 1 - backend.dfree / backend.dtotal if backend.dtotal else 1.0
    return 0.5 * (mem_ratio + disk_ratio)
