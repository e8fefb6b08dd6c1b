"""The allocator's pluggable rules, after OpenStack Nova's scheduler.

Filters drop backends, weighers score the rest (see their modules). Both are chosen by
name so a setting can change them: a short name from FILTERS / WEIGHERS, or the dotted
path of a plugin, "package.module:attr" or "package.module.attr". A class found there is
instantiated without arguments and its instances called.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import filters, weighers
from .filters import is_relaxable, relaxable

if TYPE_CHECKING:
    from ..allocator import Demand
    from ..models import Backend

Filter = Callable[["Backend", "Demand"], bool]
Weigher = Callable[["Backend"], float]

FILTERS: Mapping[str, Filter] = {
    "usable": filters.is_usable,
    "disk_template": filters.allows_template,
    "room": filters.has_room,
}
WEIGHERS: Mapping[str, Weigher] = {
    "vcpu": weighers.vcpu,
    "mem_disk": weighers.mem_disk,
}
DEFAULT_FILTERS: tuple[str, ...] = ("usable", "disk_template", "room")
DEFAULT_WEIGHERS: tuple[str, ...] = ("vcpu", "mem_disk")

__all__ = ["DEFAULT_FILTERS", "DEFAULT_WEIGHERS", "FILTERS", "WEIGHERS", "Filter", "Weigher",
           "check", "is_relaxable", "load", "passing", "relaxable", "split", "total"]


def _resolve(name: str, registry: Mapping[str, Any]) -> Any:
    if name in registry:
        return registry[name]
    module, sep, attr = name.partition(":") if ":" in name else name.rpartition(".")
    if not sep or not module or not attr:
        raise ValueError(f"unknown scheduler rule {name!r}: not one of {sorted(registry)} "
                         "nor a dotted path")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"unknown scheduler rule {name!r}: {exc}") from exc
    found = found() if isinstance(found, type) else found
    if not callable(found):
        raise ValueError(f"scheduler rule {name!r} is not callable")
    return found


def load(names: Sequence[str], registry: Mapping[str, Any]) -> list[Any]:
    """The rules named, in order; a name that resolves to nothing raises ValueError naming it,
    so a mistyped setting fails loudly instead of silently dropping a rule."""
    return [_resolve(name, registry) for name in names]


def split(rules: Iterable[Filter]) -> tuple[list[Filter], list[Filter]]:
    """(hard filters, relaxable ones): only the latter may be relaxed on stale figures."""
    rules = list(rules)
    return ([r for r in rules if not is_relaxable(r)], [r for r in rules if is_relaxable(r)])


def passing(backends: Iterable[Backend], demand: Demand, rules: Sequence[Filter]) -> list[Backend]:
    """The backends every rule accepts, in their given order."""
    return [b for b in backends if all(rule(b, demand) for rule in rules)]


def total(backend: Backend, rules: Sequence[Weigher]) -> float:
    """The backend's score: the sum of its weights, lower is better."""
    return sum((rule(backend) for rule in rules), 0.0)


def check(filter_names: Sequence[str], weigher_names: Sequence[str]) -> None:
    """Resolve SCHEDULER_FILTERS and SCHEDULER_WEIGHERS once when a process starts, so a
    mistyped name stops the worker at once instead of failing every create."""
    load(filter_names or DEFAULT_FILTERS, FILTERS)
    load(weigher_names or DEFAULT_WEIGHERS, WEIGHERS)
