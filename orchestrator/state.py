"""The one function that moves a server's state from a Ganeti job report.

The chain's poll and finalize steps, agent events, reconciliation fixes, retries and the
operators' paths all come through `apply_job_report`, as in Synnefo's backend logic, so the
rules live here only. What the orchestrator concludes without a Ganeti job (a create that
never reached a cluster, a destroy with nothing to remove, an import, a retried create) is a
report too, with no job id: it moves the state and the message, and leaves the record of
the cluster's last job alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .ganeti import FINAL_JOB_STATUSES, OP_CREATE, OP_REBOOT, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP
from .models import OperState, Server, utcnow
from .quotas import commission as quota

log = logging.getLogger(__name__)

# Operstate after a successful opcode; opcodes absent here leave it alone.
SUCCESS_OPERSTATE = {
    OP_CREATE: OperState.STARTED,
    OP_STARTUP: OperState.STARTED,
    OP_REBOOT: OperState.STARTED,
    OP_SHUTDOWN: OperState.STOPPED,
    OP_REMOVE: OperState.DESTROYED,
}

# A resize operation's parameter: whether it reverts a resize awaiting confirmation (False: a
# resize of its own, which then awaits one). Set by orchestrator.servers for every resize.
RESIZE_REVERT = "revert"

# API status shown for each operstate.
API_STATUS = {
    OperState.BUILD.value: "BUILD",
    OperState.STARTED.value: "ACTIVE",
    OperState.STOPPED.value: "STOPPED",
    OperState.ERROR.value: "ERROR",
    OperState.DESTROYED.value: "DELETED",
}


def api_status(server: Server) -> str:
    """The operstate's status, or REBOOT/RESIZE while such an action runs on a live server."""
    if server.task and server.operstate in (OperState.STARTED.value, OperState.STOPPED.value):
        return server.task
    return API_STATUS.get(server.operstate, "ERROR")


@dataclass(frozen=True)
class JobReport:
    """What Ganeti said about one opcode of one job, at Ganeti's time `timestamp`; a report
    with no `job_id` is the orchestrator's own conclusion (see the module's docstring)."""

    job_id: int | None
    opcode: str
    status: str
    timestamp: float
    log_msg: str | None = None
    ecode: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_JOB_STATUSES

    @classmethod
    def local(cls, opcode: str, status: str, log_msg: str | None = None) -> "JobReport":
        """The orchestrator's own report, now."""
        return cls(None, opcode, status, utcnow().timestamp(), log_msg=log_msg)


def apply_job_report(server: Server, report: JobReport, *, late: bool = False) -> bool:
    """Apply `report` to `server`; returns False when it is older than the state and ignored.

    Only jobs that set the operstate advance the server's backend time, so a late error
    from an older job can never undo a newer state (e.g. resurrect a removed server), and a
    resize (which leaves the operstate alone) cannot hide an earlier shutdown reported late.

    The report becomes the record of the server's last job (id, status, opcode, message),
    even when its state change is too old to count, unless it is `late`: the end of a job
    older than the one the server last heard of (an event that arrived out of order). A late
    report's effect on the state still counts by Ganeti's time, but the record of the newest
    job stays, and a destroyed server stays destroyed.

    What the server holds of its owner's quota follows its new state and flavor here, the one
    place both change (orchestrator.quotas.commission.follow).
    """
    before = quota.held_by(server)
    applied = _apply(server, report, late)
    quota.follow(server, before)
    return applied


def _apply(server: Server, report: JobReport, late: bool) -> bool:
    if not late:
        _record(server, report)
    if server.backend_time is not None and report.timestamp < server.backend_time:
        log.info("server=%s job=%s ignoring %s %s older than backend time",
                 server.id, report.job_id, report.opcode, report.status)
        return False
    if not report.is_final:
        if report.opcode == OP_CREATE and server.operstate == OperState.ERROR.value:
            server.operstate = OperState.BUILD.value  # a failed create queued again
        return True
    keep_destroyed = late and (server.deleted or server.operstate == OperState.DESTROYED.value)
    _apply_end(server, report, keep_destroyed)
    log.info("server=%s job=%s %s %s -> operstate %s",
             server.id, report.job_id, report.opcode, report.status, server.operstate)
    return True


def _record(server: Server, report: JobReport) -> None:
    if report.job_id is not None:
        server.backend_job_id = report.job_id
        server.backend_job_status = report.status
        server.backend_opcode = report.opcode
    if report.log_msg is not None:
        server.backend_log_msg = report.log_msg


def _apply_end(server: Server, report: JobReport, keep_destroyed: bool) -> None:
    """What a job that ended does to the server."""
    if report.status == "success":
        new_state = SUCCESS_OPERSTATE.get(report.opcode)
        if new_state is not None:
            server.backend_time = report.timestamp
            if not keep_destroyed:
                server.operstate = new_state.value
                server.deleted = server.deleted or new_state is OperState.DESTROYED
        if report.opcode == OP_CREATE:
            server.build_percentage = 100
        if report.opcode == OP_SET_PARAMS and report.extra.get("flavor_id"):
            previous, server.flavor_id = server.flavor_id, int(report.extra["flavor_id"])
            if RESIZE_REVERT in report.extra:  # a resize operation's (not a reconciliation's fix)
                # Resized: it awaits its user's confirmation, keeping the flavor a revert goes
                # back to; a revert's success ends the wait.
                server.resize_from_flavor_id = None if report.extra[RESIZE_REVERT] else previous
    elif report.opcode == OP_CREATE:
        if not keep_destroyed:
            server.operstate = OperState.ERROR.value
    elif report.opcode == OP_REMOVE and report.ecode == "unknown_entity":
        # Removing what the cluster no longer has: the server is gone all the same.
        server.operstate = OperState.DESTROYED.value
        server.deleted = True
        server.backend_time = report.timestamp
