"""Backend capacity: read the cluster's nodes and store the totals the allocator uses; and
each backend's RAPI request budget, as operators set it."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.orm import Session

from .errors import Invalid
from .models import Backend, utcnow
from .rapi import RapiClient, RapiError
from .rapi.budget import RapiThrottled

log = logging.getLogger(__name__)

# Consecutive failed refreshes after which a backend is marked offline.
OFFLINE_AFTER_FAILURES = 3
# How the reason of an offline mark set by refresh starts: only such a mark is lifted when
# the cluster answers again (an operator's offline stays until the operator lifts it).
AUTO_OFFLINE_PREFIX = "no answer"


def _offline_by_refresh(backend: Backend) -> bool:
    return bool(backend.offline_reason) and backend.offline_reason.startswith(AUTO_OFFLINE_PREFIX)


def node_totals(nodes: list[dict[str, Any]]) -> dict[str, int]:
    """Sum the capacity of nodes that can host instances now."""
    usable = [
        n for n in nodes
        if n.get("vm_capable", True) and not n.get("offline") and not n.get("drained")
    ]
    return {
        "mtotal": sum(int(n.get("mtotal") or 0) for n in usable),
        "mfree": sum(int(n.get("mfree") or 0) for n in usable),
        "dtotal": sum(int(n.get("dtotal") or 0) for n in usable),
        "dfree": sum(int(n.get("dfree") or 0) for n in usable),
        "ctotal": sum(int(n.get("ctotal") or 0) for n in usable),
        "pinst_cnt": sum(int(n.get("pinst_cnt") or 0) for n in nodes),
    }


def refresh_stats(session: Session, backend: Backend, client: RapiClient) -> bool:
    """One bulk nodes call (and one info call for the allowed disk templates).

    Returns whether the cluster answered; repeated failures mark it offline.
    """
    try:
        nodes = client.nodes()
        info = client.info()
    except RapiThrottled as exc:  # our own budget had no room: the cluster did not fail to answer
        log.info("backend=%s refresh put off: %s", backend.id, exc.message)
        return False
    except RapiError as exc:
        backend.consecutive_failures = (backend.consecutive_failures or 0) + 1
        log.warning("backend=%s refresh failed (%s in a row): %s", backend.id, backend.consecutive_failures,
                    exc.message)
        reason = f"{AUTO_OFFLINE_PREFIX} {backend.consecutive_failures} times in a row: {exc.message}"
        if backend.consecutive_failures >= OFFLINE_AFTER_FAILURES and not backend.offline:
            backend.offline = True
            backend.offline_reason = reason
            log.warning("backend=%s marked offline: %s", backend.id, reason)
        elif backend.offline and _offline_by_refresh(backend):
            backend.offline_reason = reason  # keep the count and the latest error current
        return False
    for key, value in node_totals(nodes).items():
        setattr(backend, key, value)
    templates = info.get("enabled_disk_templates") or (info.get("ipolicy") or {}).get("disk-templates")
    if templates:
        backend.cluster_disk_templates = list(templates)  # the operator's allowed list stays as set
    if backend.offline and _offline_by_refresh(backend):
        backend.offline = False  # offline because it did not answer, and now it does
        backend.offline_reason = None
        log.info("backend=%s back online", backend.id)
    backend.consecutive_failures = 0
    backend.stats_updated_at = utcnow()
    return True


def stats_are_stale(backend: Backend, refresh_min: float, now: dt.datetime | None = None) -> bool:
    """Older than BACKEND_REFRESH_MIN (`refresh_min`), or never read."""
    if backend.stats_updated_at is None:
        return True
    now = now or utcnow()
    return now - backend.stats_updated_at > dt.timedelta(minutes=refresh_min)


def periodic_read_retries(backend: Backend) -> int | None:
    """How many times the beat's refresh retries a read of `backend`, or None to leave it alone.

    An operator's offline backend is not contacted (the operator took it out); one marked
    offline because it did not answer is probed once, without retries, so a dead cluster
    costs the workers one quick attempt per period.
    """
    if backend.offline and not _offline_by_refresh(backend):
        return None
    return 0 if backend.offline else 3


# The highest request budget an operator may set (far above what any RAPI daemon serves: a
# larger number is a typo).
BUDGET_MAX = 100_000


def check_budget(value, what: str) -> int | None:
    """A backend's requests per second or in flight: an integer from 0 (no limit) to
    BUDGET_MAX, or None (the deployment's default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{what} must be a whole number (0: no limit)", field=what)
    if value < 0:
        raise Invalid(f"{what} must be 0 (no limit) or more, got {value}", field=what)
    if value > BUDGET_MAX:
        raise Invalid(f"{what} must be at most {BUDGET_MAX}, got {value}", field=what)
    return value


def set_budget(backend: Backend, **limits) -> None:
    """Set `rate_per_s` and/or `concurrency` (None in `limits`: back to the deployment's
    default; a name not given: left as it is). Every worker reads it at its next call."""
    for what in ("rate_per_s", "concurrency"):
        if what in limits:
            setattr(backend, what, check_budget(limits[what], what))
