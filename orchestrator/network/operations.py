"""The network kinds of operation: a network's Ganeti network on one backend.

An operation is about a server or about a network on one backend (`Operation.network_id`,
`backend_id`); `orchestrator.steps` hands the network kinds here, through the same chain
(allocate → submit → poll → finalize) and the same durable rule: each step loads its
operation under its lock, returns at once when its step is done, does its external thing,
and commits. The claim, the replay marker, the deadline, the cancel and the retry are the
server operations' own (`steps._claim_write`, `steps._stopped_before_sending`,
`deadlines`, `operations.reopen`).

`network_create` (one per network and backend): OP_NETWORK_ADD (`Network.ganeti_name`, the
IPv4 subnet's CIDR and gateway, the IPv6 subnet's when it has one, `Network.ganeti_mac_prefix`, the operation's reason as its
reason and tag), then OP_NETWORK_CONNECT for every node group of the cluster with the
network's mode and link, each depending on the add job (Ganeti's `depends`); then it polls
until every job has ended, and finalize applies their end to the backend's row through
the one state function for networks (`network.state.apply_network_report`).

What a submit sends is planned from what the cluster has (`_plan`): the network itself (a
read), so that a retry after a failed connect adds no second network, and, on a replay (a
write may have reached Ganeti but not the database), the jobs carrying the attempt's reason,
so that nothing is sent twice. Jobs are recorded in `params["jobs"]` as
[{"job_id", "opcode", "group"}], each committed as soon as it is sent.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import deadlines
from .. import steps as core
from ..crashpoints import crash_point
from ..ganeti import (FINAL_JOB_STATUSES, JOB_VANISHED, OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT,
                      OP_NETWORK_REMOVE, carries_reason, ganeti_time)
from ..models import Backend, BackendNetwork, Network, Operation, OpStatus, Step, Subnet, utcnow
from ..rapi import RapiClient, RapiError, RapiNotFound, RapiUnavailable
from ..state import JobReport
from .state import apply_network_report

if TYPE_CHECKING:
    from ..services.context import Context

log = logging.getLogger(__name__)

NETWORK_CREATE = "network_create"
NETWORK_REMOVE = "network_remove"
KINDS = frozenset({NETWORK_CREATE, NETWORK_REMOVE})
# The opcode whose success ends each kind (reported when the cluster shows it done already).
LAST_OPCODE = {NETWORK_CREATE: OP_NETWORK_CONNECT, NETWORK_REMOVE: OP_NETWORK_REMOVE}
JOBS = "jobs"  # params: the jobs an attempt sent, in order (the add first)
CARRY = "carried_jobs"  # params: jobs of a failed attempt, still running when it was retried


def backend_row(session: Session, op: Operation) -> BackendNetwork | None:
    return session.scalars(select(BackendNetwork).where(BackendNetwork.network_id == op.network_id,
                                                        BackendNetwork.backend_id == op.backend_id)).one_or_none()


def lock_network(session: Session, network_id: int) -> Network:
    """The network under its row lock, with its backends' rows as committed now: a state that
    depends on every backend's row is computed by one transaction at a time (two backends'
    finalizes at once would each see the other's row still PENDING)."""
    network = session.scalars(select(Network).where(Network.id == network_id).with_for_update(of=Network)
                              .execution_options(populate_existing=True)).one()
    session.scalars(select(BackendNetwork).where(BackendNetwork.network_id == network_id)
                    .execution_options(populate_existing=True)).all()
    session.expire(network, ["backend_networks"])
    return network


def _apply(session: Session, op: Operation, report: JobReport, *, when=lambda row: True) -> None:
    """Apply `report` to the operation's backend row, through the one state function, under
    the network's lock (taken after the operation's: the order every network step keeps)."""
    lock_network(session, op.network_id)
    row = backend_row(session, op)
    if row is not None and when(row):
        apply_network_report(row, report)


def new_create(network: Network, backend: Backend, user_id: str) -> tuple[BackendNetwork, Operation]:
    """The backend's row (PENDING) and the operation that puts the network there, to be added
    in the transaction that writes the network. It starts at submit: its backend is chosen."""
    row = BackendNetwork(network=network, backend_id=backend.id, state="PENDING")
    return row, create_operation(network, backend.id, user_id)


def create_operation(network: Network, backend_id: int, user_id: str) -> Operation:
    """A network_create operation for a backend whose row exists or is written beside it."""
    return Operation(kind=NETWORK_CREATE, network=network, backend_id=backend_id, user_id=user_id,
                     status=OpStatus.PENDING.value, step=Step.SUBMIT.value, params={})


def new_remove(network: Network, backend_id: int, user_id: str) -> Operation:
    """The operation that takes the network off one backend: OP_NETWORK_DISCONNECT from every
    group it is connected to, then OP_NETWORK_REMOVE depending on the disconnects."""
    return Operation(kind=NETWORK_REMOVE, network=network, backend_id=backend_id, user_id=user_id,
                     status=OpStatus.PENDING.value, step=Step.SUBMIT.value, params={})


def failed(session: Session, op: Operation, message: str) -> None:
    """What `steps.fail` does to a network operation's target: a create that failed leaves
    the backend's network in ERROR (unless a job's end said otherwise already)."""
    if op.kind == NETWORK_CREATE:
        _apply(session, op, JobReport.local(OP_NETWORK_ADD, "error", log_msg=message),
               when=lambda row: row.state == "PENDING")


def reopened(session: Session, op: Operation) -> None:
    """A retried operation (operations.reopen): a create's backend network is PENDING again.

    One that failed while its jobs ran resumes polling them, unless one of them is known to
    have ended otherwise than in success (a connect its cancel canceled): then it goes back
    to submit, which plans from the cluster, and the jobs of the failed attempt that had not
    ended are carried over (`CARRY`), so that the new attempt waits for them (and depends on
    an add still running) instead of sending them again. Going back to submit, the attempt's
    own jobs are forgotten."""
    jobs = op.params.get(JOBS) or []
    unfinished = [{k: j[k] for k in ("job_id", "opcode", "group")} for j in jobs
                  if j.get("status") not in FINAL_JOB_STATUSES]
    if op.step == Step.POLL.value and any(j.get("status") in FINAL_JOB_STATUSES and j.get("status") != "success"
                                          for j in jobs):
        op.step = Step.SUBMIT.value
        op.job_id = op.job_status = None
        op.submit_started_at = None
        op.params = {**op.params, CARRY: unfinished}
    elif op.step == Step.SUBMIT.value and unfinished:  # it failed while sending: what it sent may still run
        op.params = {**op.params, CARRY: unfinished}
    if op.step in (Step.ALLOCATE.value, Step.SUBMIT.value):
        op.params = {k: v for k, v in op.params.items() if k not in (JOBS, "job_result")}
    if op.kind == NETWORK_CREATE:
        _apply(session, op, JobReport.local(OP_NETWORK_ADD, "queued"))


# -- allocate: nothing to choose --------------------------------------------------------------

def allocate(session: Session, op_id: int, ctx: Context) -> None:
    op = core._load_for_write(session, op_id)
    if not core._at(op, Step.ALLOCATE):
        session.commit()
        return
    if not core._stopped_before_sending(session, op, ctx):
        op.step = Step.SUBMIT.value
    session.commit()


# -- submit -----------------------------------------------------------------------------------

@dataclass
class Plan:
    """What the cluster has of an attempt, and what is left to send."""

    found: list[dict[str, Any]] = field(default_factory=list)  # jobs of the attempt, as recorded
    add: bool = False  # the add is to be sent
    add_job: int | None = None  # the add job the connects depend on (None: the network exists)
    groups: list[str] = field(default_factory=list)  # the groups left to connect (or disconnect)
    remove: bool = False  # the remove is to be sent (after the disconnects)

    @property
    def complete(self) -> bool:
        return not self.add and not self.groups and not self.remove


def _target(session: Session, op: Operation, ctx: Context) -> tuple[Network, Subnet | None, Backend, str]:
    network = session.get(Network, op.network_id)
    subnet = next((s for s in network.subnets if s.ip_version == 4 and not s.deleted), None)
    backend = session.get(Backend, op.backend_id)
    return network, subnet, backend, network.ganeti_name(ctx.settings.backend_prefix_id)


def _existing(client: RapiClient, name: str) -> tuple[dict | None, list[str]]:
    """The Ganeti network `name` (None: absent) and the groups it is connected to."""
    try:
        existing = client.network(name)
    except RapiNotFound:
        return None, []
    return existing, [entry[0] for entry in existing.get("group_list") or [] if entry]


def _plan(client: RapiClient, op: Operation, name: str, *, replay: bool) -> Plan:
    """Read (no lock held) what the cluster has: the network and its groups, the node groups,
    and on a replay the jobs carrying the attempt's reason."""
    if op.kind == NETWORK_REMOVE:
        return _plan_remove(client, op, name, replay=replay)
    plan = Plan()
    existing, connected = _existing(client, name)
    groups = [g["name"] if isinstance(g, dict) else str(g) for g in client.groups(bulk=False)]
    jobs = _attempt_jobs(client, op, replay=replay)
    adds = [j["job_id"] for j in jobs if j["opcode"] == OP_NETWORK_ADD]
    connects = {j["group"]: j["job_id"] for j in jobs if j["opcode"] == OP_NETWORK_CONNECT}
    if adds:
        plan.add_job = max(adds)
        plan.found.append({"job_id": plan.add_job, "opcode": OP_NETWORK_ADD, "group": None})
    plan.add = existing is None and not adds
    for group in groups:
        if group in connects:
            plan.found.append({"job_id": connects[group], "opcode": OP_NETWORK_CONNECT, "group": group})
        elif group not in connected:
            plan.groups.append(group)
    return plan


def _plan_remove(client: RapiClient, op: Operation, name: str, *, replay: bool) -> Plan:
    """A remove: a disconnect for every group the network is connected to (and has none of the
    attempt's already), then the remove, unless the network is gone or its remove was sent."""
    plan = Plan()
    existing, connected = _existing(client, name)
    jobs = _attempt_jobs(client, op, replay=replay)
    disconnects = {j["group"]: j["job_id"] for j in jobs if j["opcode"] == OP_NETWORK_DISCONNECT}
    removes = [j["job_id"] for j in jobs if j["opcode"] == OP_NETWORK_REMOVE]
    for group, job_id in disconnects.items():
        plan.found.append({"job_id": job_id, "opcode": OP_NETWORK_DISCONNECT, "group": group})
    plan.groups = [g for g in connected if g not in disconnects]
    if removes:
        plan.found.append({"job_id": max(removes), "opcode": OP_NETWORK_REMOVE, "group": None})
    plan.remove = existing is not None and not removes
    return plan


def _attempt_jobs(client: RapiClient, op: Operation, *, replay: bool) -> list[dict[str, Any]]:
    """The jobs the attempt waits for already, by id: those a failed attempt left that have
    not ended otherwise than in success (`CARRY`, each read), and on a replay those carrying
    the attempt's reason (one bulk read)."""
    found = {j["job_id"]: dict(j) for j in op.params.get(CARRY) or [] if _carried_alive(client, j)}
    if replay:
        for job in client.jobs():
            if carries_reason(job, op.reason):
                found[int(job["id"])] = {"job_id": int(job["id"]), "opcode": _opcode(job), "group": _group(job)}
    return [found[k] for k in sorted(found)]


def _carried_alive(client: RapiClient, job: dict[str, Any]) -> bool:
    """A carried job still pending or succeeded; one that failed or is gone is sent anew."""
    try:
        status = client.job(job["job_id"]).get("status")
    except RapiNotFound:
        return False
    return status not in FINAL_JOB_STATUSES or status == "success"


def _opcode(job: dict) -> str | None:
    ops = job.get("ops") or []
    return ops[0].get("OP_ID") if ops and isinstance(ops[0], dict) else None


def _group(job: dict) -> str | None:
    ops = job.get("ops") or []
    return ops[0].get("group_name") if ops and isinstance(ops[0], dict) else None


def submit(session: Session, op_id: int, ctx: Context) -> core.Poll | None:
    """Send what the attempt still lacks on its cluster, once, however many chains run it.

    Poll.PENDING when another chain holds the claim to send (it is sending now, or it died
    and its lease runs out): the task comes back later rather than leave the operation to
    recovery, since a replay that found the add sent but not the connects must send those."""
    op = core._peek(session, op_id)
    if op is None or not core._at(op, Step.SUBMIT):
        return
    network, subnet, backend, name = _target(session, op, ctx)
    client = ctx.cluster(backend)
    replay = op.submit_started_at is not None
    if replay and _replay_found(session, op_id, client, name):
        return
    lease = dt.timedelta(seconds=core.SUBMIT_LEASE_TIMEOUTS * ctx.settings.rapi_timeout_s)
    op = core._claim_write(session, op_id, ctx, lease, lambda: _replay_found(session, op_id, client, name))
    if op is not None:
        _send_writes(session, op, ctx, client, name, replay=replay)
        return None
    op = core._peek(session, op_id)
    if core._at(op, Step.SUBMIT):  # the claim was another's (its lease may run out just now): come back
        return core.Poll.PENDING
    return None


def _replay_found(session: Session, op_id: int, client: RapiClient, name: str) -> bool:
    """On replay: True (and recorded, at poll) when the attempt's jobs are all there already."""
    op = core._peek(session, op_id)
    plan = _plan(client, op, name, replay=True)
    if not plan.complete:
        return False
    op = core._load_for_write(session, op_id)
    if core._at(op, Step.SUBMIT):
        op.submit_lease_until = None
        op.status = OpStatus.RUNNING.value
        _record_submitted(session, op, plan.found)
        log.info("op=%s network=%s backend=%s found its jobs on replay: %s", op.id, op.network_id,
                 op.backend_id, [j["job_id"] for j in plan.found])
    else:
        session.commit()
    return True


def _send_writes(session: Session, op: Operation, ctx: Context, client: RapiClient, name: str, *,
                 replay: bool) -> None:
    op_id, reason = op.id, op.reason
    network, subnet, _backend, _name = _target(session, op, ctx)
    if op.kind == NETWORK_REMOVE:
        plan = _plan(client, op, name, replay=replay)
        sent = list(plan.found)
        return _sending(session, op_id, sent,
                        lambda: _send_removal(session, op_id, reason, ctx, client, name, plan, sent))
    if subnet is None:
        op = core._load_for_write(session, op_id)
        core.fail(session, op, f"network {network.id} has no IPv4 subnet: Ganeti's network needs one")
        session.commit()
        return
    plan = _plan(client, op, name, replay=replay)
    sent = list(plan.found)

    def send() -> None:
        if plan.add:
            v6 = next((s for s in network.subnets if s.ip_version == 6 and not s.deleted), None)
            job = client.create_network(name, subnet.cidr, gateway=subnet.gateway,
                                        network6=v6.cidr if v6 else None, gateway6=v6.gateway if v6 else None,
                                        mac_prefix=network.ganeti_mac_prefix, tags=[reason], reason=reason)
            crash_point(ctx.settings, "submit.after_write", op_id)
            plan.add_job = job
            sent.insert(0, {"job_id": job, "opcode": OP_NETWORK_ADD, "group": None})
            _note_sent(session, op_id, sent)
        depends = [plan.add_job] if plan.add_job is not None else None
        for group in plan.groups:
            job = client.connect_network(name, group, network.mode, network.link, depends=depends, reason=reason)
            sent.append({"job_id": job, "opcode": OP_NETWORK_CONNECT, "group": group})
            _note_sent(session, op_id, sent)

    _sending(session, op_id, sent, send)


def _send_removal(session: Session, op_id: int, reason: str, ctx: Context, client: RapiClient, name: str,
                  plan: Plan, sent: list[dict[str, Any]]) -> None:
    """Disconnect every connected group, then delete the network, depending on the disconnects."""
    for index, group in enumerate(plan.groups):
        job = client.disconnect_network(name, group, reason=reason)
        if index == 0:
            crash_point(ctx.settings, "submit.after_write", op_id)
        sent.insert(len([j for j in sent if j["opcode"] == OP_NETWORK_DISCONNECT]),
                    {"job_id": job, "opcode": OP_NETWORK_DISCONNECT, "group": group})
        _note_sent(session, op_id, sent)
    if plan.remove:
        depends = [j["job_id"] for j in sent if j["opcode"] == OP_NETWORK_DISCONNECT] or None
        job = client.delete_network(name, depends=depends, reason=reason)
        if not plan.groups:
            crash_point(ctx.settings, "submit.after_write", op_id)
        sent.append({"job_id": job, "opcode": OP_NETWORK_REMOVE, "group": None})
        _note_sent(session, op_id, sent)


def _sending(session: Session, op_id: int, sent: list[dict[str, Any]], send: Callable[[], None]) -> None:
    """Run `send` (each write noted as it is sent), then record what was sent; a cluster's
    refusal fails the operation, an unavailable cluster is the step's to retry."""
    try:
        send()
    except RapiUnavailable:
        raise
    except RapiError as exc:
        op = core._load_for_write(session, op_id)
        if not op.is_finished:
            core.fail(session, op, f"the cluster refused the {op.kind}: {exc.message}")
        op.submit_lease_until = None
        session.commit()
        return
    op = core._load_for_write(session, op_id)
    op.submit_lease_until = None
    if not core._at(op, Step.SUBMIT):  # finished, or another chain's replay recorded the jobs
        session.commit()
        return
    _record_submitted(session, op, sent)
    log.info("op=%s network=%s backend=%s submitted %s", op.id, op.network_id, op.backend_id,
             [(j["opcode"], j["job_id"]) for j in sent])


def _note_sent(session: Session, op_id: int, sent: list[dict[str, Any]]) -> None:
    """Each job is durable as soon as it is sent (the claim is still this chain's)."""
    op = core._load_for_write(session, op_id)
    if core._at(op, Step.SUBMIT):
        op.params = {**op.params, JOBS: list(sent)}
    session.commit()


def _record_submitted(session: Session, op: Operation, jobs: list[dict[str, Any]]) -> None:
    op.error = None
    op.attempts = 0
    # The carried jobs are the attempt's own now (in JOBS): a later retry plans without them.
    op.params = {**{k: v for k, v in op.params.items() if k != CARRY}, JOBS: list(jobs)}
    if not jobs:  # the cluster shows it done already (connected to every group; or gone): it ran
        core.conclude(op, JobReport(0, LAST_OPCODE[op.kind], "success", utcnow().timestamp()))
    else:
        op.job_id = jobs[0]["job_id"]
        op.job_status = "queued"
        op.step = Step.POLL.value
        _apply(session, op, JobReport(op.job_id, jobs[0]["opcode"], "queued", 0.0))
    session.commit()


# -- poll -------------------------------------------------------------------------------------

def poll(session: Session, op_id: int, ctx: Context) -> core.Poll:
    """Read every job not known to have ended; once all have, hand over to finalize."""
    op = core._peek(session, op_id)
    if op is None or not core._at(op, Step.POLL):
        return core.Poll.DONE
    _network, _subnet, backend, name = _target(session, op, ctx)
    client = ctx.cluster(backend)
    jobs = [dict(j) for j in op.params.get(JOBS) or []]
    try:
        for job in jobs:
            if job.get("status") not in FINAL_JOB_STATUSES:
                job.update(_read(client, job, name))
    except RapiUnavailable:
        raise
    except RapiError as exc:
        op = core._load(session, op_id)
        if core._at(op, Step.POLL):
            core.fail(session, op, f"cannot follow the jobs of {op.kind}: {exc.message}")
            session.commit()
        return core.Poll.DONE
    pending = [j for j in jobs if j.get("status") not in FINAL_JOB_STATUSES]
    if pending and deadlines.is_past(op):
        return _stop_overdue(session, op_id, client, ctx, jobs, name)
    op = core._load(session, op_id)
    if not core._at(op, Step.POLL):
        return core.Poll.DONE
    deadlines.start_clock(op, ctx.settings)
    op.params = {**op.params, JOBS: jobs}
    if pending:
        op.job_id, op.job_status = pending[0]["job_id"], pending[0].get("status")
        op.attempts = 0
        session.commit()
        return core.Poll.PENDING
    core.conclude(op, _outcome(jobs, op.kind))
    crash_point(ctx.settings, "poll.before_commit", op.id)
    session.commit()
    return core.Poll.DONE


def _read(client: RapiClient, job: dict[str, Any], name: str) -> dict[str, Any]:
    """A job's status, end time and error; a job its cluster no longer knows counts as a
    success when the cluster shows what it did (the network, or its group connected)."""
    try:
        found = client.job(job["job_id"])
    except RapiNotFound as exc:
        return {"status": "success", "end_ts": utcnow().timestamp()} if _shows_done(client, job, name) else {
            "status": "error", "vanished": True, "error": f"cannot follow job {job['job_id']}: {exc.message}"}
    status = found.get("status")
    out: dict[str, Any] = {"status": status, "end_ts": ganeti_time(found.get("end_ts"))}
    if status in FINAL_JOB_STATUSES and status != "success":
        report = core._ended(job["job_id"], job["opcode"], found)
        out["error"], out["ecode"] = report.log_msg, report.ecode
    return out


def _shows_done(client: RapiClient, job: dict[str, Any], name: str) -> bool:
    existing, connected = _existing(client, name)
    if job["opcode"] == OP_NETWORK_REMOVE:
        return existing is None
    if job["opcode"] == OP_NETWORK_DISCONNECT:
        return job.get("group") not in connected
    if existing is None:
        return False
    return job["opcode"] == OP_NETWORK_ADD or job.get("group") in connected


def _outcome(jobs: list[dict[str, Any]], kind: str) -> JobReport:
    """The attempt's end: the first job (in the order sent) that did not succeed, or the
    success of its last opcode (the connects', the remove's) at the latest end time."""
    for job in jobs:
        if job.get("status") != "success":
            message = job.get("error") or f"job {job['job_id']} {job.get('status')}"
            return JobReport(job["job_id"], job["opcode"], job.get("status"), job.get("end_ts") or 0.0,
                             log_msg=message, ecode=job.get("ecode"))
    last = jobs[-1]
    return JobReport(last["job_id"], LAST_OPCODE[kind], "success",
                     max((j.get("end_ts") or 0.0) for j in jobs))


def _stop_overdue(session: Session, op_id: int, client: RapiClient, ctx: Context, jobs: list[dict[str, Any]],
                  name: str) -> core.Poll:
    """Past its deadline (or canceled) with jobs pending: cancel them on the cluster, as a
    server operation's poll does with its one job. A job Ganeti will not cancel (running)
    fails the operation now."""
    refused = []
    for job in jobs:
        if job.get("status") in FINAL_JOB_STATUSES:
            continue
        try:
            accepted, message = client.cancel_job(job["job_id"])
        except RapiUnavailable:
            raise
        except RapiError as exc:
            accepted, message = False, exc.message
        job.update(_read(client, job, name))
        if job.get("status") not in FINAL_JOB_STATUSES and not accepted and job.get("status") != "canceling":
            refused.append((job, message))
    op = core._load(session, op_id)
    if not core._at(op, Step.POLL):
        return core.Poll.DONE
    why = deadlines.why_stopped(op, ctx.settings)
    if deadlines.STOPPING not in op.params:
        op.params = {**op.params, deadlines.STOPPING: {"why": why, "job_status": op.job_status}}
    op.params = {**op.params, JOBS: jobs}
    pending = [j for j in jobs if j.get("status") not in FINAL_JOB_STATUSES]
    if not pending:
        core.conclude(op, _outcome(jobs, op.kind))
        session.commit()
        return core.Poll.DONE
    if not refused:
        op.job_status = pending[0].get("status")
        log.info("op=%s network=%s %s: canceling jobs %s", op.id, op.network_id, why, [j["job_id"] for j in pending])
        session.commit()
        return core.Poll.PENDING
    job, message = refused[0]
    core.fail(session, op, f"{why}: job {job['job_id']} is {job.get('status')} and Ganeti did not cancel it "
                           f"({message})")
    op.job_status = job.get("status")
    session.commit()
    return core.Poll.DONE


# -- finalize ---------------------------------------------------------------------------------

def finalize(session: Session, op_id: int, ctx: Context) -> None:
    op = core._load_for_write(session, op_id)  # SQLite's write lock first: a last removal locks pools
    if not core._at(op, Step.FINALIZE):
        session.commit()
        return
    # The backend's network and the operation's end, committed together.
    _apply(session, op, core.final_report(op))
    core.close_finalized(op)
    if op.kind == NETWORK_REMOVE and op.status == OpStatus.SUCCEEDED.value:
        _delete_when_gone(session, op)
    if any(j.get("vanished") for j in op.params.get(JOBS) or []):
        op.job_status = JOB_VANISHED
    crash_point(ctx.settings, "finalize.before_commit", op.id)
    session.commit()
    log.info("op=%s network=%s backend=%s %s finished %s", op.id, op.network_id, op.backend_id, op.kind, op.status)


def _delete_when_gone(session: Session, op: Operation) -> None:
    """The last removal that succeeded deletes the network: its subnets go, and its bridge
    and MAC prefix return to their pools (networks.delete_rows), in finalize's transaction."""
    from .networks import delete_rows

    network = lock_network(session, op.network_id)
    if network.deleted or any(r.state != "DELETED" for r in network.backend_networks):
        return
    delete_rows(session, network)
    log.info("op=%s network=%s removed from its last backend: deleted", op.id, network.id)
