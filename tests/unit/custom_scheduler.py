"""Scheduler plugins for the allocator tests, loaded by dotted name as a setting would."""
from __future__ import annotations

from orchestrator.allocator import Demand, score
from orchestrator.models import Backend
from orchestrator.scheduler import relaxable


def only_b(backend: Backend, _demand: Demand) -> bool:
    """A hard filter: only clusters whose name starts with "b"."""
    return backend.clustername.startswith("b")


def inverted(backend: Backend) -> float:
    """The default score negated: the fullest backend wins."""
    return -score(backend)


def refuse_all(_backend: Backend, _demand: Demand) -> bool:
    """A hard filter refusing all: never relaxed."""
    return False


@relaxable
def nothing_fits(_backend: Backend, _demand: Demand) -> bool:
    """A capacity filter refusing all: relaxed like `room` when figures are stale."""
    return False


class NotCallable:
    """Instantiated by the loader; its instances cannot be called, so loading must refuse it."""
