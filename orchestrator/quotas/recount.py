"""Usage counted again from the rows (as Synnefo's get_db_holdings), the differences from what
is recorded, and their fix (`orchestrator reconcile quotas [--fix]`).

Counted: every server not destroyed (its flavor; CPUs and RAM as started unless STOPPED),
every live private network, every live floating IP (`ip_addresses.floating_ip`); pending: the
reservations of the PENDING commissions. A PENDING commission whose operation has ended
(or is gone) is a leak: the fix resolves it as its operation ended.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..models import IN_FLIGHT, Flavor, IPAddress, Network, Operation, OperState, OpStatus, QuotaCommission, Server
from . import holdings
from .commission import ACCEPTED, PENDING, REJECTED, _resolve
from .resources import CPU, DISK, FLOATING_IP, NAMES, PRIVATE_NETWORK, RAM, TOTAL_CPU, TOTAL_RAM, VM


@dataclass(frozen=True)
class Difference:
    user_id: str
    resource: str
    recorded_usage: int
    counted_usage: int
    recorded_pending: int
    counted_pending: int


def _filtered(query, column, user_ids: list[str] | None):
    return query.where(column.in_(user_ids)) if user_ids is not None else query


def counted(session: Session, user_ids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """What each user's rows hold, resource by resource (zeros left out)."""
    ids = None if user_ids is None else list(user_ids)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    started = Server.operstate != OperState.STOPPED.value
    query = (select(Server.user_id, func.count(Server.id), func.sum(Flavor.cpu), func.sum(Flavor.ram),
                    func.sum(Flavor.disk), func.sum(case((started, Flavor.cpu), else_=0)),
                    func.sum(case((started, Flavor.ram), else_=0)))
             .join(Flavor, Flavor.id == Server.flavor_id)
             .where(Server.deleted.is_(False), Server.operstate != OperState.DESTROYED.value)
             .group_by(Server.user_id))
    for user, vms, cpu, ram, disk, started_cpu, started_ram in session.execute(_filtered(query, Server.user_id, ids)):
        out[user].update({VM: vms, TOTAL_CPU: cpu, TOTAL_RAM: ram, DISK: disk, CPU: started_cpu, RAM: started_ram})
    query = (select(Network.user_id, func.count(Network.id))
             .where(Network.deleted.is_(False), Network.public.is_(False), Network.user_id.is_not(None))
             .group_by(Network.user_id))
    for user, count in session.execute(_filtered(query, Network.user_id, ids)):
        out[user][PRIVATE_NETWORK] = count
    query = (select(IPAddress.user_id, func.count(IPAddress.id))
             .where(IPAddress.deleted.is_(False), IPAddress.floating_ip.is_(True)).group_by(IPAddress.user_id))
    for user, count in session.execute(_filtered(query, IPAddress.user_id, ids)):
        out[user][FLOATING_IP] = count
    return {user: {k: int(v or 0) for k, v in held.items() if v} for user, held in out.items()}


def reserved(session: Session, user_ids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """The reservations of the PENDING commissions whose operation is in flight (one whose
    operation ended is a leak, not a reservation), by user and resource."""
    ids = None if user_ids is None else list(user_ids)
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = _filtered(select(QuotaCommission.user_id, QuotaCommission.reserved)
                      .join(Operation, Operation.id == QuotaCommission.operation_id)
                      .where(QuotaCommission.state == PENDING, Operation.status.in_(IN_FLIGHT)),
                      QuotaCommission.user_id, ids)
    for user, amounts in session.execute(query):
        for name, amount in (amounts or {}).items():
            out[user][name] += int(amount)
    return {user: dict(v) for user, v in out.items()}


def leaked(session: Session) -> list[tuple[QuotaCommission, str]]:
    """PENDING commissions whose operation has ended or is gone, and the state each ends in."""
    rows = session.execute(select(QuotaCommission, Operation.status)
                           .outerjoin(Operation, Operation.id == QuotaCommission.operation_id)
                           .where(QuotaCommission.state == PENDING)).all()
    return [(c, ACCEPTED if status == OpStatus.SUCCEEDED.value else REJECTED) for c, status in rows
            if status is None or status in (OpStatus.SUCCEEDED.value, OpStatus.FAILED.value)]


def differences(session: Session, user_ids: Iterable[str] | None = None) -> list[Difference]:
    """Every (user, resource) whose recorded usage or pending is not what is counted."""
    ids = None if user_ids is None else sorted(set(user_ids))
    counts, pending = counted(session, ids), reserved(session, ids)
    recorded = holdings.quotas_of(session, ids, {})
    users = ids if ids is not None else sorted(set(recorded) | set(counts) | set(pending))
    out = []
    for user in users:
        shown = {q.resource: q for q in recorded.get(user, [])}
        for name in NAMES:
            q = shown.get(name)
            usage, pend = (q.usage, q.pending) if q is not None else (0, 0)
            want_usage, want_pending = counts.get(user, {}).get(name, 0), pending.get(user, {}).get(name, 0)
            if (usage, pend) != (want_usage, want_pending):
                out.append(Difference(user, name, usage, want_usage, pend, want_pending))
    return out


def _snapshot(session: Session) -> None:
    """On PostgreSQL one snapshot for the whole fix of a user (REPEATABLE READ): what is counted
    and what is folded are then the same moment's."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def fix(session: Session, user_ids: Iterable[str] | None = None) -> list[Difference]:
    """Resolve the leaked commissions, then set every user's recorded usage and pending to what
    is counted (each user in a transaction of its own, under the user's lock). The
    differences found (before the fix)."""
    for commission, state in leaked(session):
        _resolve(session, [commission], state)
    session.commit()
    found = differences(session, user_ids)
    session.commit()
    for user in sorted({d.user_id for d in found}):
        _snapshot(session)
        rows = holdings.lock(session, user)
        counts, pending = counted(session, [user]).get(user, {}), reserved(session, [user]).get(user, {})
        for name in NAMES:
            rows[name].usage, rows[name].pending = counts.get(name, 0), pending.get(name, 0)
        session.commit()
    return found
