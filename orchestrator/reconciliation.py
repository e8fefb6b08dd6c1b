"""Server reconciliation: compare each backend's instances with the database, record
every disagreement, and fix the kinds asked for.

One bulk instances call per backend per run, whatever the number of servers (a BUILD
server whose create looks stuck costs one extra job lookup). Fixes go through the state
function as if Ganeti had reported the matching job, as Synnefo does.

A backend's pass has two phases, so no database write lock is held during a RAPI call:

1. read: the bulk instances call, the batch's servers (only the columns compared), the
   operations in flight; compare, record findings in memory, submit orphan removals;
2. write: re-read every server to fix under a row lock (SQLite: the database write lock),
   fix it only if it did not change meanwhile, insert the findings, mark the batch
   checked, commit.

Staggering (Synnefo's README.deploy): with `Options(interval_min=...)` each run checks
about num_servers / RECONCILIATION_MIN * interval servers per backend, the least recently
checked first, so every server is checked within RECONCILIATION_MIN.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from .models import IN_FLIGHT, Backend, Finding, Flavor, Operation, OperState, ReconciliationRun, Server, utcnow
from .rapi import JOB_FINAL_STATUSES, RapiClient, RapiError, RapiNotFound, job_error
from .settings import FIX_KINDS as KINDS  # noqa: F401  (re-exported: the fix switches)
from .settings import get_settings
from .state import OP_CREATE, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP, JobReport, apply_job_report

log = logging.getLogger(__name__)

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
    fixes: frozenset[str] = frozenset()
    limit: int | None = None  # servers per backend in this run; None: all
    interval_min: float | None = None  # staggered: limit from RECONCILIATION_MIN and this interval
    grace_s: float = STALE_GRACE_S
    now: dt.datetime = field(default_factory=utcnow)


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


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite drops the zone
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _instance_nics(inst: dict[str, Any]) -> list[dict[str, Any]]:
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


def _job_time(job: dict[str, Any]) -> float | None:
    """Ganeti's end time of a job ([seconds, microseconds]) as a float."""
    value = job.get("end_ts")
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0] + value[1] / 1e6
    return float(value) if isinstance(value, (int, float)) else None


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


def _begin_write(session: Session) -> None:
    """PostgreSQL serializes writers of a server with row locks (FOR UPDATE); SQLite ignores
    those, so take its write lock before re-reading what will be fixed."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


Fix = Callable[[Server, dict[str, Any]], None]


class BackendReconciler:
    """One pass over one backend; `run_once` returns how many servers it checked."""

    def __init__(self, session: Session, run: ReconciliationRun, backend: Backend, client: RapiClient,
                 options: Options, flavors: dict[int, FlavorFigures] | None = None):
        self.session, self.run, self.backend, self.client, self.opts = session, run, backend, client, options
        self.backend_id = backend.id
        self.prefix = get_settings().backend_prefix_id
        self.flavors = flavors if flavors is not None else load_flavors(session)
        self.findings: list[dict[str, Any]] = []
        self.to_fix: list[tuple[dict[str, Any], Any, Fix]] = []
        self.fetched_at = options.now
        self.report_ts = options.now.timestamp()
        now = _aware(options.now)
        self.cutoff = now - dt.timedelta(seconds=options.grace_s)
        self.cutoff_naive = self.cutoff.astimezone(dt.timezone.utc).replace(tzinfo=None)  # SQLite's

    # -- bookkeeping ----------------------------------------------------------------------
    def finding(self, kind: str, server_id: int | None, instance: str | None, details: dict[str, Any]) -> dict:
        row = {"run_id": self.run.id, "kind": kind, "backend_id": self.backend_id, "server_id": server_id,
               "instance": instance, "details": details, "fixed": False, "fix": None}
        self.findings.append(row)
        return row

    @staticmethod
    def fixed(row: dict[str, Any], how: str) -> None:
        row["fixed"], row["fix"] = True, how

    def server_id(self, name: str) -> int | None:
        if name.startswith(self.prefix) and name[len(self.prefix):].isdigit():
            return int(name[len(self.prefix):])
        return None

    def recent(self, updated_at: dt.datetime | None) -> bool:
        """Changed within the grace period before this run started (or since)."""
        if updated_at is None:
            return False
        return updated_at > (self.cutoff_naive if updated_at.tzinfo is None else self.cutoff)

    def name(self, server_id: int) -> str:
        return f"{self.prefix}{server_id}"

    # -- the pass ------------------------------------------------------------------------
    def run_once(self, fetched: tuple[list[dict[str, Any]], dt.datetime] | None = None) -> int:
        """`fetched`: this backend's bulk answer and its time, when it was read ahead."""
        instances, self.fetched_at = fetched if fetched is not None else fetch_instances(self.client)
        self.report_ts = self.fetched_at.timestamp()
        by_id: dict[int, dict[str, Any]] = {}
        for inst in instances:
            sid = self.server_id(inst.get("name") or "")
            if sid is not None:
                by_id[sid] = inst
        del instances
        # Operations in flight first: one that ends between the two reads then shows in the
        # rows (changed just now, or deleted), never as a row that looks idle and out of date.
        busy = self.in_flight()
        rows = self.load_batch()
        for row in rows:
            if row.id in busy:
                continue  # an operation is moving it: its chain or events will settle it
            self.check_server(row, by_id.get(row.id))
        self.check_orphans(by_id)
        self.write(rows)
        return len(rows)

    def load_batch(self) -> list:
        query = select(*COLUMNS).where(Server.backend_id == self.backend_id, Server.deleted.is_(False))
        limit = self.opts.limit
        if limit is None and self.opts.interval_min is not None:
            total = self.session.scalar(select(func.count(Server.id)).where(
                Server.backend_id == self.backend_id, Server.deleted.is_(False)))
            limit = batch_size(total or 0, get_settings().reconciliation_min, self.opts.interval_min)
        if limit is not None:
            query = query.order_by(Server.last_reconciled_at.is_not(None), Server.last_reconciled_at,
                                   Server.id).limit(limit)
        return self.session.execute(query).all()

    def in_flight(self) -> set[int]:
        return set(self.session.scalars(
            select(Operation.server_id).join(Server, Server.id == Operation.server_id)
            .where(Operation.status.in_(IN_FLIGHT), Server.backend_id == self.backend_id)))

    # -- checks (read phase: nothing is written to the database here) ---------------------
    def check_server(self, row, inst: dict[str, Any] | None) -> None:
        if row.operstate == OperState.BUILD.value:
            self.check_build(row, inst)
            return
        if row.operstate == OperState.DESTROYED.value:
            return
        if inst is None:
            self.check_stale(row)
            return
        self.check_state(row, inst)
        self.check_flavor(row, inst)
        self.check_nics(row, inst)

    def check_stale(self, row) -> None:
        if row.operstate == OperState.ERROR.value:
            return  # a failed build: it stays ERROR, without an instance, until its owner deletes it
        if self.recent(row.updated_at):
            return  # e.g. a create that finished after the instances were read
        found = self.finding("stale", row.id, self.name(row.id),
                             {"db_operstate": row.operstate, "cluster": "absent"})
        if "stale" in self.opts.fixes:
            self.to_fix.append((found, row, self.fix_stale))

    def fix_stale(self, server: Server, found: dict[str, Any]) -> None:
        report = JobReport(0, OP_REMOVE, "success", self.report_ts,
                           log_msg="reconciliation: the instance is gone from the cluster")
        if self.apply(server, report, found):
            self.fixed(found, "marked DESTROYED, as if a remove had succeeded")

    def check_state(self, row, inst: dict[str, Any]) -> None:
        if row.operstate not in (OperState.STARTED.value, OperState.STOPPED.value, OperState.ERROR.value):
            return
        actual = observed_operstate(inst)
        if actual is None or actual == row.operstate:
            return
        found = self.finding("state", row.id, inst["name"],
                             {"db_operstate": row.operstate, "cluster_status": inst.get("status"),
                              "cluster_operstate": actual})
        if "state" not in self.opts.fixes:
            return
        opcode = OP_STARTUP if actual == OperState.STARTED.value else OP_SHUTDOWN

        def fix(server: Server, found: dict[str, Any]) -> None:
            report = JobReport(0, opcode, "success", self.report_ts,
                               log_msg=f"reconciliation: the instance is {inst.get('status')}")
            if self.apply(server, report, found):
                self.fixed(found, f"operstate {actual}, as if {opcode} had succeeded")

        self.to_fix.append((found, row, fix))

    def check_flavor(self, row, inst: dict[str, Any]) -> None:
        beparams = inst.get("beparams") or {}
        ram = beparams.get("maxmem", beparams.get("memory"))
        cpu = beparams.get("vcpus")
        flavor = self.flavors.get(row.flavor_id)
        if ram is None or cpu is None or flavor is None:
            return
        ram, cpu = int(ram), int(cpu)
        if (ram, cpu) == (flavor.ram, flavor.cpu):
            return
        found = self.finding("flavor", row.id, inst["name"],
                             {"db": {"flavor_id": flavor.id, "ram": flavor.ram, "cpu": flavor.cpu},
                              "cluster": {"ram": ram, "cpu": cpu}})
        if "flavor" not in self.opts.fixes:
            return
        match = self.matching_flavor(ram, cpu, flavor)
        if match is None:
            found["fix"] = (f"left alone: no flavor has {cpu} CPUs, {ram} MiB, {flavor.disk} GiB "
                            f"{flavor.disk_template}")
            return

        def fix(server: Server, found: dict[str, Any]) -> None:
            report = JobReport(0, OP_SET_PARAMS, "success", self.report_ts, extra={"flavor_id": match.id},
                               log_msg="reconciliation: the instance's beparams changed")
            if self.apply(server, report, found):
                self.fixed(found, f"flavor {match.id} ({match.name})")

        self.to_fix.append((found, row, fix))

    def matching_flavor(self, ram: int, cpu: int, current: FlavorFigures) -> FlavorFigures | None:
        """Synnefo's rule: same disk and template, the cluster's memory and CPUs; a live
        flavor before a deleted one."""
        same = [f for f in self.flavors.values()
                if (f.ram, f.cpu, f.disk, f.disk_template) == (ram, cpu, current.disk, current.disk_template)]
        return min(same, key=lambda f: (f.deleted, f.id)) if same else None

    def check_nics(self, row, inst: dict[str, Any]) -> None:
        if self.recent(row.updated_at):
            return  # NICs still being set up get the grace period
        if nics_match(row.nics, inst):
            return
        actual = _instance_nics(inst)
        found = self.finding("nics", row.id, inst["name"], {"db": row.nics or [], "cluster": actual})
        if "nics" not in self.opts.fixes:
            return

        def fix(server: Server, found: dict[str, Any]) -> None:
            server.nics = actual
            server.nics_time = self.report_ts
            self.fixed(found, "NICs taken from the cluster")

        self.to_fix.append((found, row, fix))

    def check_build(self, row, inst: dict[str, Any] | None) -> None:
        """A BUILD server with nothing in flight: its create ended or vanished unnoticed."""
        job_id, job = row.backend_job_id, None
        if job_id is not None:
            try:
                job = self.client.job(job_id)
            except RapiNotFound:
                job = None
            except RapiError as exc:
                log.warning("backend=%s server=%s cannot read job %s: %s", self.backend_id, row.id, job_id,
                            exc.message)
                return  # cannot tell now; look again next time
        if job is not None and job.get("status") not in JOB_FINAL_STATUSES:
            return  # still running: the chain or the agent will see its end
        if job is None and self.recent(row.updated_at):
            return  # give a build whose job is not known the grace period
        status = job.get("status") if job is not None else None
        found = self.finding("build", row.id, self.name(row.id),
                             {"job_id": job_id, "job_status": status or "vanished",
                              "cluster": "present" if inst is not None else "absent"})
        if "build" not in self.opts.fixes:
            return
        if job is not None:
            error = None if status == "success" else job_error(job)
            report = JobReport(int(job_id), OP_CREATE, status, _job_time(job) or self.report_ts,
                               log_msg=error.message if error else None,
                               ecode=getattr(error, "ecode", None) if error else None)
        elif inst is not None:
            report = JobReport(int(job_id or 0), OP_CREATE, "success", self.report_ts,
                               log_msg="reconciliation: the create job is gone but the instance exists")
        else:
            report = JobReport(int(job_id or 0), OP_CREATE, "error", self.report_ts,
                               log_msg="reconciliation: the create job is gone and no instance exists")

        def fix(server: Server, found: dict[str, Any]) -> None:
            if self.apply(server, report, found):
                self.fixed(found, f"finished from the job's result ({report.status}): {server.operstate}")

        self.to_fix.append((found, row, fix))

    def check_orphans(self, by_id: dict[int, dict[str, Any]]) -> None:
        """Instances with the prefix and no live server on this backend. Removals are
        submitted here, in the read phase: they are cluster writes, not database ones."""
        if not by_id:
            return
        live = set(self.session.scalars(select(Server.id).where(Server.backend_id == self.backend_id,
                                                                 Server.deleted.is_(False))))
        candidates = sorted(set(by_id) - live)
        known: dict[int, Any] = {}
        for start in range(0, len(candidates), CHUNK):
            for r in self.session.execute(select(Server.id, Server.backend_id, Server.deleted, Server.updated_at)
                                          .where(Server.id.in_(candidates[start:start + CHUNK]))):
                known[r.id] = r
        for sid in candidates:
            row = known.get(sid)
            if row is not None and row.backend_id == self.backend_id and not row.deleted:
                continue  # created on this backend after the live ids were read
            if row is not None and self.recent(row.updated_at):
                continue  # destroyed (or moved) just now; the instance list may predate it
            inst = by_id[sid]
            db = "absent" if row is None else ("deleted" if row.deleted else f"on backend {row.backend_id}")
            found = self.finding("orphan", sid, inst["name"], {"cluster_status": inst.get("status"), "db": db})
            if "orphan" in self.opts.fixes:
                try:
                    job = self.client.delete_instance(inst["name"], reason="orchestrator:reconciliation")
                    self.fixed(found, f"remove submitted as job {job}")
                except RapiError as exc:
                    found["fix"] = f"remove failed: {exc.message}"

    # -- write phase ---------------------------------------------------------------------
    def apply(self, server: Server, report: JobReport, found: dict[str, Any]) -> bool:
        if apply_job_report(server, report):
            return True
        found["fix"] = "left alone: the server has a newer report from the cluster"
        return False

    def recheck(self, row) -> Server | None:
        """The server under a row lock, if nothing changed since it was compared."""
        server = self.session.get(Server, row.id, with_for_update={"of": Server}, populate_existing=True)
        if server is None or server.deleted or server.operstate != row.operstate:
            return None
        if _aware(server.updated_at) != _aware(row.updated_at):
            return None
        busy = self.session.scalar(select(Operation.id).where(Operation.server_id == row.id,
                                                              Operation.status.in_(IN_FLIGHT)).limit(1))
        return None if busy is not None else server

    def write(self, rows: list) -> None:
        if self.to_fix:
            _begin_write(self.session)
        by_server: dict[int, tuple[Any, list[tuple[dict[str, Any], Fix]]]] = {}
        for found, row, fix in self.to_fix:
            by_server.setdefault(row.id, (row, []))[1].append((found, fix))
        for row, fixes in by_server.values():
            server = self.recheck(row)  # once per server: its own fixes change updated_at
            for found, fix in fixes:
                if server is None:
                    found["fix"] = "left alone: the server changed while it was being checked"
                else:
                    fix(server, found)
        self.session.flush()
        if self.findings:
            self.session.execute(insert(Finding), self.findings)
        ids = [r.id for r in rows]
        for start in range(0, len(ids), CHUNK):
            # updated_at is kept: being looked at is not a change (and must not restart a grace period).
            self.session.execute(
                update(Server).where(Server.id.in_(ids[start:start + CHUNK]))
                .values(last_reconciled_at=self.opts.now, updated_at=Server.updated_at)
                .execution_options(synchronize_session=False))


def fetch_instances(client: RapiClient) -> tuple[list[dict[str, Any]], dt.datetime]:
    """The one bulk instances call, and when its answer came."""
    instances = client.instances()
    return instances, utcnow()


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
    checked: list[int] = []
    skipped: dict[str, str] = {}
    total = 0
    held: list = []
    todo = iter(list(backends))

    def begin(pool: ThreadPoolExecutor):
        """The next backend that can be checked: its lock taken, its bulk call started."""
        for backend in todo:
            if backend.offline:
                skipped[str(backend.id)] = f"offline: {backend.offline_reason or 'marked offline'}"
                continue
            guard = lock(backend) if lock else None
            if lock and guard is None:
                skipped[str(backend.id)] = "another reconciliation holds its lock"
                continue
            if guard is not None:
                held.append(guard)
            client = client_for(backend)
            return backend, backend.id, client, guard, pool.submit(fetch_instances, client)
        return None

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-read-ahead") as pool:
            current = begin(pool)
            while current is not None:
                following = begin(pool)
                backend, backend_id, client, guard, answer = current
                try:
                    fetched = answer.result()
                    total += BackendReconciler(session, run, backend, client, options, flavors).run_once(fetched)
                    checked.append(backend_id)
                except RapiError as exc:
                    session.rollback()
                    skipped[str(backend_id)] = f"cluster error: {exc.message}"
                    log.warning("reconciliation run=%s backend=%s skipped: %s", run.id, backend_id, exc.message)
                run.backends_checked, run.backends_skipped, run.servers_checked = list(checked), dict(skipped), total
                session.commit()
                if guard is not None:
                    held.remove(guard)
                    _release(guard)
                current = following
    finally:
        for guard in held:  # only after an unexpected error: never keep a backend locked
            _release(guard)
    run.backends_checked, run.backends_skipped, run.servers_checked = list(checked), dict(skipped), total
    run.finished_at = utcnow()
    session.commit()
    session.expire(run, ["findings"])  # inserted in bulk: load them when asked
    log.info("reconciliation run=%s trigger=%s checked=%s servers=%s skipped=%s",
             run.id, trigger, checked, total, skipped)
    return run


def _release(guard) -> None:
    try:
        guard.release()
    except Exception as exc:  # expired meanwhile (a run longer than the lock's TTL): nothing to free
        log.warning("reconciliation lock release: %s", exc)


def redis_lock(backend: Backend, ttl_s: int = 900):
    """The per-backend lock: two runs never overlap on one backend."""
    from .redis_client import get_redis

    lock = get_redis().lock(f"reconcile:backend:{backend.id}", timeout=ttl_s, blocking=False)
    return lock if lock.acquire() else None
