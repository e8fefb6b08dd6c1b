"""One pass over one backend, in two phases (read, then write under locks)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ..db import write_lock
from ..ganeti import FINAL_JOB_STATUSES, OP_CREATE, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP, ganeti_time
from ..models import IN_FLIGHT, Backend, Finding, Operation, OperState, ReconciliationRun, Server, utcnow
from ..rapi import RapiClient, RapiError, RapiNotFound, job_error
from ..state import JobReport, apply_job_report
from .rules import (CHUNK, COLUMNS, FlavorFigures, Options, batch_size, instance_nics, load_flavors, nics_match,
                    observed_operstate)

log = logging.getLogger(__name__)


Fix = Callable[[Server, dict[str, Any]], None]


class BackendReconciler:
    """One pass over one backend; `run_once` returns how many servers it checked."""

    def __init__(self, session: Session, run: ReconciliationRun, backend: Backend, client: RapiClient,
                 options: Options, flavors: dict[int, FlavorFigures] | None = None):
        self.session, self.run, self.backend, self.client, self.opts = session, run, backend, client, options
        self.backend_id = backend.id
        self.prefix = options.prefix
        self.flavors = flavors if flavors is not None else load_flavors(session)
        self.findings: list[dict[str, Any]] = []
        self.to_fix: list[tuple[dict[str, Any], Any, Fix]] = []
        self.fetched_at = options.now
        self.report_ts = options.now.timestamp()
        self.cutoff = options.now - dt.timedelta(seconds=options.grace_s)

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
        return Server.id_of_instance(name, self.prefix)

    def recent(self, updated_at: dt.datetime | None) -> bool:
        """Changed within the grace period before this run started (or since)."""
        if updated_at is None:
            return False
        return updated_at > self.cutoff

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
            if sid is not None and (self.opts.only is None or sid in self.opts.only):
                by_id[sid] = inst
        del instances
        # Operations in flight first: one that ends between the two reads then shows in the
        # rows (changed just now, or deleted), never as a row that looks idle and out of date.
        busy = self.in_flight()
        rows = self.load_batch()
        for row in rows:
            if row.id in busy:  # an operation is moving it: its chain or events will settle it
                self.check_overdue(row, busy[row.id], by_id.get(row.id))
                continue
            self.check_server(row, by_id.get(row.id))
        self.check_orphans(by_id)
        self.write(rows)
        return len(rows)

    def load_batch(self) -> list:
        query = select(*COLUMNS).where(Server.backend_id == self.backend_id, Server.deleted.is_(False))
        if self.opts.only is not None:
            query = query.where(Server.id.in_(sorted(self.opts.only)))
        limit = self.opts.limit
        if limit is None and self.opts.interval_min is not None:
            total = self.session.scalar(select(func.count(Server.id)).where(
                Server.backend_id == self.backend_id, Server.deleted.is_(False)))
            limit = batch_size(total or 0, self.opts.reconciliation_min, self.opts.interval_min)
        if limit is not None:
            query = query.order_by(Server.last_reconciled_at.is_not(None), Server.last_reconciled_at,
                                   Server.id).limit(limit)
        return self.session.execute(query).all()

    def in_flight(self) -> dict[int, Any]:
        """Server id → its operation in flight (the columns `check_overdue` reads)."""
        return {op.server_id: op for op in self.session.execute(
            select(Operation.server_id, Operation.id, Operation.kind, Operation.step, Operation.deadline_at,
                   Operation.updated_at, Operation.job_id, Operation.job_status)
            .join(Server, Server.id == Operation.server_id)
            .where(Operation.status.in_(IN_FLIGHT), Server.backend_id == self.backend_id))}

    def check_overdue(self, row, op, inst: dict[str, Any] | None) -> None:
        """Reported, not fixed: the operation's own chain cancels its job at the deadline, so
        a finding here means that chain is not running (recovery re-drives it) or the job
        is still being canceled."""
        deadline = self.opts.deadline_of(op)
        if deadline is None or deadline > self.opts.now:
            return
        self.finding("overdue", row.id, inst.get("name") if inst else self.name(row.id),
                     {"operation_id": op.id, "kind": op.kind, "step": op.step, "deadline_at": deadline.isoformat(),
                      "job_id": op.job_id, "job_status": op.job_status})

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
        actual = instance_nics(inst)
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
        if job is not None and job.get("status") not in FINAL_JOB_STATUSES:
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
            report = JobReport(int(job_id), OP_CREATE, status, ganeti_time(job.get("end_ts")) or self.report_ts,
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
        if server.updated_at != row.updated_at:
            return None
        busy = self.session.scalar(select(Operation.id).where(Operation.server_id == row.id,
                                                              Operation.status.in_(IN_FLIGHT)).limit(1))
        return None if busy is not None else server

    def write(self, rows: list) -> None:
        if self.to_fix:
            write_lock(self.session)
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
