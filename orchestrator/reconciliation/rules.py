"""What reconciliation compares: rules on instances and servers, options and batch sizes."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Flavor, OperState, Server, utcnow
from ..settings import Settings

# As Synnefo's: what changed less than two minutes ago (a create that just finished, NICs
# still being set up, a destroy that just ended) does not count as drift yet.
STALE_GRACE_S = 120.0
# Ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 5000
# Instance statuses that mean "its node gives no data": whether it runs is unknown.
NO_DATA_STATUSES = frozenset({"ERROR_nodeoffline", "ERROR_nodedown"})
# The server columns reconciliation compares; whole rows (and their joins) are never loaded
# except for the few servers a fix changes.
COLUMNS = (Server.id, Server.operstate, Server.flavor_id, Server.nics, Server.updated_at, Server.backend_job_id)


@dataclass
class Options:
    prefix: str  # BACKEND_PREFIX_ID: instances named <prefix><server id> are ours
    reconciliation_min: float  # RECONCILIATION_MIN: staggered runs check every server within it
    fixes: frozenset[str] = frozenset()
    limit: int | None = None  # servers per backend in this run; None: all
    only: frozenset[int] | None = None  # these server ids alone (one finding's fix); None: every one
    interval_min: float | None = None  # staggered: limit from RECONCILIATION_MIN and this interval
    grace_s: float = STALE_GRACE_S
    now: dt.datetime = field(default_factory=utcnow)
    # Settings.deadline_s: for operations whose first step has not run (no deadline_at yet)
    deadline_s: Callable[[str], float] | None = None

    @classmethod
    def of(cls, settings: Settings, **overrides: Any) -> "Options":
        return cls(prefix=settings.backend_prefix_id, reconciliation_min=settings.reconciliation_min,
                   deadline_s=settings.deadline_s, **overrides)

    def deadline_of(self, op) -> dt.datetime | None:
        """An operation's deadline; one whose chain never ran counts from when it was
        written (or reopened)."""
        if op.deadline_at is not None or self.deadline_s is None or op.updated_at is None:
            return op.deadline_at
        return op.updated_at + dt.timedelta(seconds=self.deadline_s(op.kind))


def batch_size(total: int, reconciliation_min: float, interval_min: float) -> int:
    """Servers per run so that all are checked within RECONCILIATION_MIN (README.deploy)."""
    if total == 0:
        return 0
    return max(1, math.ceil(total * interval_min / reconciliation_min))


def instance_operstate(inst: dict[str, Any]) -> str:
    """Synnefo compares only whether the instance runs: STARTED or STOPPED."""
    running = inst.get("oper_state")
    if running is None:
        running = inst.get("status") in ("running", "ERROR_up")
    return OperState.STARTED.value if running else OperState.STOPPED.value


def observed_operstate(inst: dict[str, Any]) -> str | None:
    """Like `instance_operstate`, but None when the instance's node gives no data (offline
    or unreachable): a state nobody observed must not overwrite the database's."""
    if inst.get("oper_state") is None and inst.get("status") in NO_DATA_STATUSES:
        return None
    return instance_operstate(inst)


def instance_nics(inst: dict[str, Any]) -> list[dict[str, Any]]:
    """The instance's NICs from the bulk fields, in the shape the database keeps."""
    ips, macs = inst.get("nic.ips") or [], inst.get("nic.macs") or []
    networks = inst.get("nic.networks.names") or inst.get("nic.networks") or []
    count = max(len(ips), len(macs), len(networks))
    pad = lambda seq, i: seq[i] if i < len(seq) else None  # noqa: E731
    return [{"index": i, "ip": pad(ips, i), "mac": pad(macs, i), "network": pad(networks, i)} for i in range(count)]


def nics_match(db_nics: list[dict[str, Any]] | None, inst: dict[str, Any]) -> bool:
    """Same IPs, MACs and networks, NIC by NIC. A network may be recorded by name or UUID."""
    ips, macs = inst.get("nic.ips") or [], inst.get("nic.macs") or []
    names = inst.get("nic.networks.names") or inst.get("nic.networks") or []
    count = max(len(ips), len(macs), len(names))
    db = db_nics or []
    if len(db) != count:
        return False
    if count > 1:
        db = sorted(db, key=lambda n: n.get("index") or 0)
    uuids = inst.get("nic.networks") or []
    for i, mine in enumerate(db):
        ip = ips[i] if i < len(ips) else None
        mac = macs[i] if i < len(macs) else None
        name = names[i] if i < len(names) else None
        if mine.get("ip") != ip or (mine.get("mac") or "").lower() != (mac or "").lower():
            return False
        network = mine.get("network")
        if network != name and not (network and i < len(uuids) and network == uuids[i]):
            return False
    return True


@dataclass(frozen=True)
class FlavorFigures:
    id: int
    name: str
    cpu: int
    ram: int
    disk: int
    disk_template: str
    deleted: bool


def load_flavors(session: Session) -> dict[int, FlavorFigures]:
    rows = session.execute(select(Flavor.id, Flavor.name, Flavor.cpu, Flavor.ram, Flavor.disk,
                                  Flavor.disk_template, Flavor.deleted))
    return {r.id: FlavorFigures(*r) for r in rows}
