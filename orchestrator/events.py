"""Applying events from the node agents (Ganeti job queue, hooks, install progress).

Events arrive in any order and possibly twice (several workers, redeliveries, an agent
that resends after a crash). They are applied so that the final state does not depend
on the order they arrived in:

- the record of the server's last job (job id, status, opcode, log message) moves only
  forward in Ganeti's order for one instance: the job serial, then the opcode's status
  progression (queued < waiting < running < canceling < final). An event behind it is
  ignored and counted as stale; the same report again is a duplicate and changes nothing;
- what a final report does to the state (operstate, backend time, flavor, deletion) is
  decided by the one state function, `state.apply_job_report`, whose backend time ignores
  a report older than the last success applied. A final report of an older job that
  arrives late still counts there (a success; or a failure while the build is undecided),
  but never moves the record of the last job back, and nothing resurrects a destroyed
  server;
- build progress only rises; NICs are replaced by the newest hook report, which also sets
  the index and state of the server's ports (`apply_nic_info`);
- an op_status of a network opcode (it names a `network`, and no instance) moves that
  network's row on the event's backend through the one state function for networks,
  `network.state.apply_network_report`, in the same job order (`apply_network_status`).

A final report about a server also ends the operation that follows the job, exactly as the
chain's finalize step does, so the agent and the chain's poll step converge: whichever sees
the end first finalizes, the other finds it done. A network operation is never ended by an
event: its jobs are several (an add, a connect per group), and its poll step decides their
outcome together.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, joinedload, lazyload

from . import steps
from .actions import ACTIONS
from .db import write_lock
from .models import IN_FLIGHT, Backend, BackendNetwork, Network, Operation, OperState, Port, PortState, Server, Step
from .ganeti import FINAL_JOB_STATUSES
from .network.operations import JOBS, lock_network
from .network.state import NETWORK_OPCODES, apply_network_report
from .state import JobReport, apply_job_report

log = logging.getLogger(__name__)

# Outcomes, counted per kind in Redis (events:counts) and logged one line per event.
APPLIED, DUPLICATE, STALE = "applied", "duplicate", "stale"
UNKNOWN, FOREIGN, INVALID = "unknown", "foreign", "invalid"

# Ganeti's order of an opcode's statuses.
STATUS_RANK = {"queued": 0, "waiting": 1, "running": 2, "canceling": 3, "success": 4, "error": 4, "canceled": 4}

# The columns an event can change; comparing them before and after says whether it did.
TRACKED = ("operstate", "backend_job_id", "backend_job_status", "backend_opcode", "backend_log_msg",
           "backend_time", "build_percentage", "flavor_id", "deleted", "nics", "task")


class InvalidEvent(ValueError):
    """The event lacks a field or carries a value of the wrong kind: never retried."""


class NotYet(Exception):
    """A final report for a server whose operation has not recorded its job id yet: applying
    it now would show the end of an operation that is still in flight. Try again shortly."""


def _locked_server(session: Session, server_id: int) -> Server | None:
    # The server's row locked, with its flavor (the quota follows what it holds) and its
    # backend (is the event from the server's cluster?) in the same statement: two fewer
    # round trips per event. Only the server's row is locked (FOR UPDATE OF servers).
    return session.get(Server, server_id, with_for_update={"of": Server}, populate_existing=True,
                       options=[joinedload(Server.flavor), joinedload(Server.backend), lazyload(Server.image)])


def _snapshot(server: Server) -> tuple:
    return tuple(getattr(server, name) for name in TRACKED)


def session_backend(server: Server) -> Backend | None:
    """The server's backend (one small query per session at most)."""
    if server.backend_id is None:
        return None
    from sqlalchemy.orm import object_session

    return object_session(server).get(Backend, server.backend_id)


def _foreign(server: Server, event: dict[str, Any]) -> bool:
    """An instance with our prefix on another cluster than the server's (another deployment
    sharing the prefix, or a leftover) is not ours."""
    cluster = event.get("cluster")
    if not cluster:
        return False
    backend = session_backend(server)
    return backend is None or backend.clustername != cluster


def _finite(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidEvent(f"{what} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise InvalidEvent(f"{what} is not finite: {value!r}")
    return number


def _require_dict(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEvent(f"an event is a JSON object, not {type(event).__name__}")
    return event


def parse_op_status(event: Any) -> tuple[JobReport, str]:
    """The JobReport an op_status event carries, and its job's overall status."""
    event = _require_dict(event)
    try:
        job_id = int(event["job_id"])
        opcode, status = event["opcode"], event["status"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"op_status needs job_id, opcode and status: {exc}") from None
    if not isinstance(opcode, str) or not opcode:
        raise InvalidEvent(f"opcode is not a name: {opcode!r}")
    if status not in STATUS_RANK:
        raise InvalidEvent(f"unknown job status {status!r}")
    job_status = event.get("job_status") or status
    if job_status not in STATUS_RANK:
        raise InvalidEvent(f"unknown job status {job_status!r}")
    log_msg, ecode = event.get("log_msg"), event.get("ecode")
    report = JobReport(job_id=job_id, opcode=opcode, status=status,
                       timestamp=_finite(event.get("timestamp"), "timestamp"),
                       log_msg=None if log_msg is None else str(log_msg),
                       ecode=ecode if isinstance(ecode, str) else None)
    return report, job_status


def _key(job_id: int | None, status: str | None) -> tuple[int, int]:
    return (-1 if job_id is None else job_id, STATUS_RANK.get(status or "", -1))


def apply_op_status(session: Session, event: dict[str, Any], prefix: str, wait_for_chain: bool = True) -> str:
    """Apply one opcode status report. Returns the outcome: applied, duplicate, stale,
    unknown (not our prefix, or not in the database) or foreign (another cluster's).

    Raises InvalidEvent for a malformed event, and NotYet (when `wait_for_chain`) for a
    final report that would end an operation which has not recorded its job id yet.
    """
    report, job_status = parse_op_status(event)
    if report.opcode in NETWORK_OPCODES and event.get("network") is not None:
        return apply_network_status(session, event, report, prefix)
    server_id = Server.id_of_instance(event.get("instance"), prefix)
    if server_id is None:
        log.info("op_status for instance %r (job %s) is not ours: dropped", event.get("instance"), report.job_id)
        return UNKNOWN
    write_lock(session)
    op = _operation_in_flight(session, server_id)  # lock order as in the chain: the operation, then the server
    server = _locked_server(session, server_id)
    if server is None:
        log.info("op_status for instance %r (job %s): no such server, dropped", event.get("instance"), report.job_id)
        return UNKNOWN
    if _foreign(server, event):
        log.warning("op_status for instance %r from cluster %r, but server %s lives on %r: dropped",
                    event.get("instance"), event.get("cluster"), server.id,
                    getattr(session_backend(server), "clustername", None))
        return FOREIGN
    op = _reported_operation(op, report, job_status, wait_for_chain)
    if op is not None:
        report = dataclasses.replace(report, extra={k: v for k, v in op.params.items() if k != "job_result"})
    before = _snapshot(server)
    event_key, server_key = _key(report.job_id, report.status), _key(server.backend_job_id, server.backend_job_status)
    if event_key >= server_key:
        # The newest report about this server: it becomes the record of its last job
        # (a report without a log message clears the previous job's).
        apply_job_report(server, dataclasses.replace(report, log_msg=report.log_msg or ""))
    elif report.is_final and (report.status == "success" or server.operstate == OperState.BUILD.value):
        apply_job_report(server, report, late=True)  # a late end of an older job: its state still counts
    ended = op is not None and _end_operation(op, server, report, job_status)
    if ended or _snapshot(server) != before:
        session.commit()
        return APPLIED
    return DUPLICATE if event_key == server_key else STALE


def _operation_in_flight(session: Session, server_id: int) -> Operation | None:
    return session.scalars(
        select(Operation).where(Operation.server_id == server_id, Operation.status.in_(IN_FLIGHT))
        .options(lazyload(Operation.server)).with_for_update(of=Operation)
        .execution_options(populate_existing=True)
    ).first()


def _reported_operation(op: Operation | None, report: JobReport, job_status: str,
                        wait_for_chain: bool) -> Operation | None:
    """The in-flight operation this report is about (its job), or None."""
    if op is None:
        return None
    if op.job_id is None:
        if (wait_for_chain and job_status in FINAL_JOB_STATUSES and op.step in (Step.ALLOCATE.value, Step.SUBMIT.value)
                and ACTIONS[op.kind].opcode == report.opcode):
            raise NotYet(f"server {op.server_id}: operation {op.id} has not recorded its job yet")
        return None
    return op if op.job_id == report.job_id else None


def _end_operation(op: Operation, server: Server, report: JobReport, job_status: str) -> bool:
    """What the chain's poll and finalize steps would do, in one commit; True when the job ended."""
    if job_status not in FINAL_JOB_STATUSES or op.step not in (Step.POLL.value, Step.FINALIZE.value):
        return False
    if op.step == Step.POLL.value:
        steps.conclude(op, dataclasses.replace(report, status=job_status, extra={}))
    apply_job_report(server, steps.final_report(op))
    steps.close_finalized(op)
    log.info("op=%s server=%s %s finished %s by event", op.id, server.id, op.kind, op.status)
    return True


# -- network jobs -------------------------------------------------------------------------------

def apply_network_status(session: Session, event: dict[str, Any], report: JobReport, prefix: str) -> str:
    """Apply one status report of a network opcode (`report`, parsed from `event`) to the row
    of the event's network on the event's backend (its `cluster`), under the network's lock,
    through the one state function for networks. Outcomes as for a server: unknown (not our
    prefix, or no such network), foreign (a cluster we do not know, or one that does not hold
    the network by our records), stale, duplicate, applied.

    The row's record of its last job moves only forward in Ganeti's job order (job id, then
    status), as a server's does; a success no newer (by Ganeti's time) than the row's backend
    time is already shown, and a report about a job of a network operation that has ended is
    stale: that operation's finalize applied the outcome of all its jobs together. The
    operation itself is left to its poll step."""
    name, cluster = event.get("network"), event.get("cluster")
    if not isinstance(name, str):
        raise InvalidEvent(f"network is not a name: {name!r}")
    if not isinstance(cluster, str) or not cluster:
        raise InvalidEvent("a network's op_status names its cluster")
    network_id = Network.id_of_ganeti_network(name, prefix)
    if network_id is None:
        log.info("op_status for network %r (job %s) is not ours: dropped", name, report.job_id)
        return UNKNOWN
    write_lock(session)
    try:
        network = lock_network(session, network_id)  # the lock every writer of its rows takes
    except NoResultFound:
        log.info("op_status for network %r (job %s): no such network, dropped", name, report.job_id)
        return UNKNOWN
    row = _backend_row(session, network, cluster)
    if row is None:
        log.warning("op_status for network %r from cluster %r, which does not hold it: dropped", name, cluster)
        return FOREIGN
    outcome = _network_report_order(session, row, report)
    if outcome is not None:
        return outcome
    apply_network_report(row, report)  # the newest job report: the row's record of its last job at least
    session.commit()
    return APPLIED


def _backend_row(session: Session, network: Network, cluster: str) -> BackendNetwork | None:
    """The network's row on the backend whose cluster is `cluster`, or None."""
    backend_id = session.scalar(select(Backend.id).where(Backend.clustername == cluster))
    return next((row for row in network.backend_networks if row.backend_id == backend_id), None)


def _network_report_order(session: Session, row: BackendNetwork, report: JobReport) -> str | None:
    """Duplicate or stale when `report` is not newer than what `row` shows; None to apply it."""
    event_key, row_key = _key(report.job_id, report.status), _key(row.job_id, row.job_status)
    if event_key == row_key:
        return DUPLICATE
    if event_key < row_key:
        return STALE
    if (report.status == "success" and row.backend_time is not None and report.timestamp <= row.backend_time
            or _job_of_ended_operation(session, row, report.job_id)):
        return STALE
    return None


def _job_of_ended_operation(session: Session, row: BackendNetwork, job_id: int) -> bool:
    ops = session.scalars(select(Operation).where(Operation.network_id == row.network_id,
                                                  Operation.backend_id == row.backend_id,
                                                  Operation.status.not_in(IN_FLIGHT))
                          .options(lazyload("*")))
    return any(job.get("job_id") == job_id for op in ops for job in (op.params or {}).get(JOBS) or [])


def _server_of(session: Session, event: dict[str, Any], prefix: str) -> tuple[Server | None, str | None]:
    """The event's server, row locked, or None and the outcome (unknown, foreign) that drops it."""
    server_id = Server.id_of_instance(event.get("instance"), prefix)
    if server_id is None:
        return None, UNKNOWN
    write_lock(session)
    server = _locked_server(session, server_id)
    if server is None:
        return None, UNKNOWN
    if _foreign(server, event):
        return None, FOREIGN
    return server, None


def apply_build_progress(session: Session, event: dict[str, Any], prefix: str) -> str:
    """Progress only rises: a late or repeated report changes nothing, and the create's
    success shows 100 whatever arrives after it."""
    event = _require_dict(event)
    percentage = int(_finite(event.get("percentage"), "percentage"))
    if not 0 <= percentage <= 100:
        raise InvalidEvent(f"percentage out of range: {percentage}")
    server, outcome = _server_of(session, event, prefix)
    if server is None:
        return outcome
    if percentage == server.build_percentage:
        return DUPLICATE
    if percentage < server.build_percentage:
        return STALE
    server.build_percentage = percentage
    session.commit()
    return APPLIED


def _nic(index: int, nic: Any) -> tuple[dict[str, Any], str | None]:
    """One reported NIC as the server shows it (index, IP, MAC, network), and its Ganeti name."""
    if not isinstance(nic, dict):
        raise InvalidEvent(f"a NIC is an object, not {type(nic).__name__}")
    try:
        position = int(nic.get("index", index))
    except (TypeError, ValueError):
        raise InvalidEvent(f"NIC index is not a number: {nic.get('index')!r}") from None
    text = lambda key: None if nic.get(key) in (None, "") else str(nic[key])  # noqa: E731
    return {"index": position, "ip": text("ip"), "mac": text("mac"), "network": text("network")}, text("name")


def _reported_nics(raw: Any) -> list[tuple[dict[str, Any], str | None]]:
    if not isinstance(raw, list):
        raise InvalidEvent("nic_info needs a list of nics")
    reported = sorted((_nic(i, n) for i, n in enumerate(raw)), key=lambda pair: pair[0]["index"])
    indices = [nic["index"] for nic, _name in reported]
    if len(set(indices)) != len(indices):
        raise InvalidEvent(f"two NICs with one index: {indices}")
    return reported


def apply_nic_info(session: Session, event: dict[str, Any], prefix: str) -> str:
    """The instance's NICs as its post hook saw them (IP, MAC, network, index, name): the
    server's `nics`, and its ports' index and state (`_update_ports`), unless a newer report
    (by Ganeti's time, `nics_time`) is shown already."""
    event = _require_dict(event)
    reported = _reported_nics(event.get("nics"))
    nics = [nic for nic, _name in reported]
    server, outcome = _server_of(session, event, prefix)
    if server is None:
        return outcome
    timestamp = _finite(event["timestamp"], "timestamp") if event.get("timestamp") is not None else None
    if timestamp is not None and server.nics_time is not None and timestamp < server.nics_time:
        return STALE  # a newer report is already shown
    ports_changed = _update_ports(session, server, reported, prefix)
    if nics == (server.nics or []) and not ports_changed:
        return DUPLICATE
    server.nics = nics
    if timestamp is not None:
        server.nics_time = timestamp
    session.commit()
    return APPLIED


def _port_state(server: Server) -> str | None:
    """A reported NIC's port is up when its server runs, down when it is stopped; in any other
    state (building, failed) the server's operation decides (`network.attach.settle`)."""
    return {OperState.STARTED.value: PortState.ACTIVE.value,
            OperState.STOPPED.value: PortState.DOWN.value}.get(server.operstate)


def _update_ports(session: Session, server: Server, reported: list[tuple[dict[str, Any], str | None]],
                  prefix: str) -> bool:
    """Give each reported NIC's port its index and state; True when a port changed.

    A NIC is matched to a live port by its Ganeti name `<prefix>nic-<id>` first, else by its
    MAC. Only a port of this server (and its owner) is taken: a NIC matching another's port is
    logged and ignored. A port of this server that the report no longer shows is left alone,
    and so is an index still held by such a port: removing a NIC's port, and renumbering the
    later ones, is the disconnect operation's (`network.attach.release`). The server's row is
    locked already; its ports are locked after it, in id order."""
    by_id, by_mac, mine = _locked_ports(session, server, reported, prefix)
    matched: dict[int, tuple[Port, int]] = {}
    for nic, name in reported:
        port = by_id.get(_port_id(name, prefix)) or by_mac.get((nic["mac"] or "").lower())
        if port is None or port.id in matched:
            continue  # not one of our ports (the cluster's default NIC, say)
        if port.server_id != server.id or port.user_id != server.user_id:
            log.warning("nic_info of server %s: NIC %s (%s, %s) is port %s of server %s, user %s: ignored",
                        server.id, nic["index"], name, nic["mac"], port.id, port.server_id, port.user_id)
            continue
        matched[port.id] = (port, nic["index"])
    held = {port.index for port in mine if port.id not in matched}
    targets = _free_targets(list(matched.values()), held)
    return _set_ports(session, [port for port, _index in matched.values()], targets, _port_state(server))


def _free_targets(matched: list[tuple[Port, int]], held: set[int | None]) -> dict[int, int]:
    """The new index of each matched port, except where that index is held (by a port the
    report no longer shows, or by a matched port that therefore cannot move): that port keeps
    its index until the disconnect renumbers."""
    targets = {port.id: index for port, index in matched}
    while True:
        staying = held | {port.index for port, _index in matched if port.id not in targets}
        blocked = {port_id for port_id, index in targets.items() if index in staying}
        if not blocked:
            return targets
        for port_id in blocked:
            del targets[port_id]


def _port_id(name: str | None, prefix: str) -> int | None:
    head = f"{prefix}nic-"
    if name is None or not name.startswith(head) or not name[len(head):].isdigit():
        return None
    return int(name[len(head):])


def _locked_ports(session: Session, server: Server, reported: list[tuple[dict[str, Any], str | None]],
                  prefix: str) -> tuple[dict[int, Port], dict[str, Port], list[Port]]:
    """The live ports the report names (by id, by MAC) and the server's own, row locked."""
    ids = {i for i in (_port_id(name, prefix) for _nic, name in reported) if i is not None}
    macs = {nic["mac"].lower() for nic, _name in reported if nic["mac"]}
    ports = session.scalars(
        select(Port).where(Port.deleted.is_(False),
                           or_(Port.server_id == server.id, Port.id.in_(ids), Port.mac.in_(macs)))
        .order_by(Port.id).with_for_update(of=Port).execution_options(populate_existing=True)
    ).all()
    return ({p.id: p for p in ports}, {p.mac.lower(): p for p in ports},
            [p for p in ports if p.server_id == server.id])


def _set_ports(session: Session, ports: list[Port], indices: dict[int, int], state: str | None) -> bool:
    """Set the ports' new indices (two flushes: a swap of two indices never meets the unique
    index on a server's live ports half done) and `state` (None: left alone)."""
    moving = [p for p in ports if p.id in indices and p.index != indices[p.id]]
    changed = bool(moving)
    if moving:
        for port in moving:
            port.index = None
        session.flush()
        for port in moving:
            port.index = indices[port.id]
    for port in ports:
        if state is not None and port.state != state:
            port.state, changed = state, True
    if changed:
        session.flush()
    return changed
