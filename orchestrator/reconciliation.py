"""Server reconciliation: compare each backend's instances with the database, record
every disagreement, and fix the kinds asked for.

One bulk instances call per backend per run, whatever the number of servers. Fixes go
through the state function as if Ganeti had reported the matching job, as Synnefo does.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import IN_FLIGHT, Backend, Finding, Flavor, Operation, OperState, ReconciliationRun, Server, utcnow
from .rapi import RapiClient, RapiError, RapiNotFound, job_error
from .settings import get_settings
from .state import OP_CREATE, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP, JobReport, apply_job_report

log = logging.getLogger(__name__)

from .settings import FIX_KINDS as KINDS  # noqa: E402
STALE_GRACE_S = 120.0  # as Synnefo's: things still building get two minutes


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


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _instance_nics(inst: dict[str, Any]) -> list[dict[str, Any]]:
    ips, macs = inst.get("nic.ips") or [], inst.get("nic.macs") or []
    networks = inst.get("nic.networks.names") or inst.get("nic.networks") or []
    count = max(len(ips), len(macs), len(networks))
    pad = lambda seq, i: seq[i] if i < len(seq) else None  # noqa: E731
    return [{"index": i, "ip": pad(ips, i), "mac": pad(macs, i), "network": pad(networks, i)} for i in range(count)]


class BackendReconciler:
    def __init__(self, session: Session, run: ReconciliationRun, backend: Backend, client: RapiClient,
                 options: Options):
        self.session, self.run, self.backend, self.client, self.opts = session, run, backend, client, options
        self.prefix = get_settings().backend_prefix_id
        self.now_ts = options.now.timestamp()

    def finding(self, kind: str, server_id: int | None, instance: str | None, details: dict[str, Any]) -> Finding:
        row = Finding(run=self.run, kind=kind, backend_id=self.backend.id, server_id=server_id,
                      instance=instance, details=details)
        self.session.add(row)
        return row

    def fixed(self, row: Finding, how: str) -> None:
        row.fixed, row.fix = True, how

    def server_id(self, name: str) -> int | None:
        if name.startswith(self.prefix) and name[len(self.prefix):].isdigit():
            return int(name[len(self.prefix):])
        return None

    def run_once(self) -> int:
        instances = self.client.instances()  # the one bulk call
        by_id = {sid: inst for inst in instances if (sid := self.server_id(inst["name"])) is not None}
        query = (select(Server).where(Server.backend_id == self.backend.id, Server.deleted.is_(False))
                 .order_by(Server.last_reconciled_at.is_not(None), Server.last_reconciled_at, Server.id))
        limit = self.opts.limit
        if limit is None and self.opts.interval_min is not None:
            total = self.session.scalar(select(func.count(Server.id)).where(
                Server.backend_id == self.backend.id, Server.deleted.is_(False)))
            limit = batch_size(total, get_settings().reconciliation_min, self.opts.interval_min)
        if limit is not None:
            query = query.limit(limit)
        servers = self.session.scalars(query).all()
        busy = set(self.session.scalars(
            select(Operation.server_id).where(Operation.status.in_(IN_FLIGHT),
                                              Operation.server_id.in_([s.id for s in servers]))))
        for server in servers:
            server.last_reconciled_at = self.opts.now
            if server.id in busy:
                continue  # an operation is moving it; look again next time
            self.check_server(server, by_id.get(server.id))
        self.check_orphans(by_id)
        return len(servers)

    def check_server(self, server: Server, inst: dict[str, Any] | None) -> None:
        if server.operstate == OperState.BUILD.value:
            self.check_build(server, inst)
            return
        if inst is None:
            if server.operstate == OperState.DESTROYED.value:
                return
            updated = _aware(server.updated_at) or self.opts.now
            if (self.opts.now - updated).total_seconds() < self.opts.grace_s:
                return
            row = self.finding("stale", server.id, server.instance_name(self.prefix),
                               {"db_operstate": server.operstate, "cluster": "absent"})
            if "stale" in self.opts.fixes:
                apply_job_report(server, JobReport(0, OP_REMOVE, "success", self.now_ts))
                self.fixed(row, "marked DESTROYED, as if a remove had succeeded")
            return
        self.check_state(server, inst)
        self.check_flavor(server, inst)
        self.check_nics(server, inst)

    def check_state(self, server: Server, inst: dict[str, Any]) -> None:
        if server.operstate not in (OperState.STARTED.value, OperState.STOPPED.value, OperState.ERROR.value):
            return
        actual = instance_operstate(inst)
        if actual == server.operstate:
            return
        row = self.finding("state", server.id, inst["name"],
                           {"db_operstate": server.operstate, "cluster_status": inst.get("status")})
        if "state" in self.opts.fixes:
            opcode = OP_STARTUP if actual == OperState.STARTED.value else OP_SHUTDOWN
            apply_job_report(server, JobReport(0, opcode, "success", self.now_ts))
            self.fixed(row, f"operstate {actual}, as if {opcode} had succeeded")

    def check_flavor(self, server: Server, inst: dict[str, Any]) -> None:
        beparams = inst.get("beparams") or {}
        ram, cpu = beparams.get("maxmem") or beparams.get("memory"), beparams.get("vcpus")
        flavor = server.flavor
        if ram is None or cpu is None or (int(ram), int(cpu)) == (flavor.ram, flavor.cpu):
            return
        row = self.finding("flavor", server.id, inst["name"],
                           {"db": {"ram": flavor.ram, "cpu": flavor.cpu}, "cluster": {"ram": ram, "cpu": cpu}})
        if "flavor" not in self.opts.fixes:
            return
        match = self.session.scalars(select(Flavor).where(
            Flavor.ram == int(ram), Flavor.cpu == int(cpu), Flavor.disk == flavor.disk,
            Flavor.disk_template == flavor.disk_template)).first()
        if match is None:
            row.fix = "no flavor matches the cluster's figures; left alone"
            return
        apply_job_report(server, JobReport(0, OP_SET_PARAMS, "success", self.now_ts, extra={"flavor_id": match.id}))
        self.fixed(row, f"flavor {match.id} ({match.name})")

    def check_nics(self, server: Server, inst: dict[str, Any]) -> None:
        actual = _instance_nics(inst)
        if actual == (server.nics or []):
            return
        row = self.finding("nics", server.id, inst["name"], {"db": server.nics or [], "cluster": actual})
        if "nics" in self.opts.fixes:
            server.nics = actual
            self.fixed(row, "NICs taken from the cluster")

    def check_build(self, server: Server, inst: dict[str, Any] | None) -> None:
        """A BUILD server with nothing in flight: its create ended or vanished unnoticed."""
        job_id = server.backend_job_id
        job = None
        if job_id is not None:
            try:
                job = self.client.job(job_id)
            except RapiNotFound:
                job = None
        if job is not None and job.get("status") not in ("success", "error", "canceled"):
            return  # still running: the chain or the agent will see its end
        row = self.finding("build", server.id, server.instance_name(self.prefix),
                           {"job_id": job_id, "job_status": job.get("status") if job else "vanished",
                            "cluster": "present" if inst else "absent"})
        if "build" not in self.opts.fixes:
            return
        if job is not None:
            error = None if job["status"] == "success" else job_error(job)
            report = JobReport(int(job_id), OP_CREATE, job["status"], self.now_ts,
                               log_msg=error.message if error else None)
        else:
            report = JobReport(int(job_id or 0), OP_CREATE, "success" if inst else "error", self.now_ts,
                               log_msg=None if inst else "the create job vanished and no instance exists")
        apply_job_report(server, report)
        self.fixed(row, f"finished from the job's result: {server.operstate}")

    def check_orphans(self, by_id: dict[int, dict[str, Any]]) -> None:
        if not by_id:
            return
        known: set[int] = set()
        ids = list(by_id)
        for start in range(0, len(ids), 5000):
            known |= set(self.session.scalars(select(Server.id).where(
                Server.id.in_(ids[start:start + 5000]), Server.deleted.is_(False),
                Server.backend_id == self.backend.id)))
        for sid in sorted(set(ids) - known):
            inst = by_id[sid]
            row = self.finding("orphan", sid, inst["name"], {"cluster_status": inst.get("status")})
            if "orphan" in self.opts.fixes:
                try:
                    job = self.client.delete_instance(inst["name"], reason="orchestrator:reconciliation")
                    self.fixed(row, f"remove submitted as job {job}")
                except RapiError as exc:
                    row.fix = f"remove failed: {exc.message}"


def reconcile(session: Session, backends: Iterable[Backend], client_for, options: Options,
              *, trigger: str = "beat", lock=None) -> ReconciliationRun:
    """One run over `backends`; `lock(backend)` returns a context manager or None when busy."""
    run = ReconciliationRun(trigger=trigger, fixes=sorted(options.fixes), started_at=options.now)
    session.add(run)
    session.flush()
    checked, skipped, total = [], {}, 0
    for backend in backends:
        if backend.offline:
            skipped[str(backend.id)] = "offline"
            continue
        guard = lock(backend) if lock else None
        if lock and guard is None:
            skipped[str(backend.id)] = "another reconciliation holds its lock"
            continue
        try:
            total += BackendReconciler(session, run, backend, client_for(backend), options).run_once()
            checked.append(backend.id)
        except RapiError as exc:
            skipped[str(backend.id)] = f"cluster error: {exc.message}"
        finally:
            if guard is not None:
                guard.release()
        session.flush()
    run.backends_checked, run.backends_skipped, run.servers_checked = checked, skipped, total
    run.finished_at = utcnow()
    session.commit()
    return run


def redis_lock(backend: Backend, ttl_s: int = 900):
    """The per-backend lock: two runs never overlap on one backend."""
    from .redis_client import get_redis

    lock = get_redis().lock(f"reconcile:backend:{backend.id}", timeout=ttl_s, blocking=False)
    return lock if lock.acquire() else None
