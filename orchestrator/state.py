"""The one function that moves a server's state from a Ganeti job report.

The chain's poll step, agent events, reconciliation fixes and operators all come
through `apply_job_report`, as in Synnefo's backend logic, so the rules live here only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .ganeti import FINAL_JOB_STATUSES, OP_CREATE, OP_REBOOT, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP
from .models import OperState, Server

log = logging.getLogger(__name__)


# Operstate after a successful opcode; opcodes absent here leave it alone.
SUCCESS_OPERSTATE = {
    OP_CREATE: OperState.STARTED,
    OP_STARTUP: OperState.STARTED,
    OP_REBOOT: OperState.STARTED,
    OP_SHUTDOWN: OperState.STOPPED,
    OP_REMOVE: OperState.DESTROYED,
}

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
    """What Ganeti said about one opcode of one job, at Ganeti's time `timestamp`."""

    job_id: int
    opcode: str
    status: str
    timestamp: float
    log_msg: str | None = None
    ecode: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_JOB_STATUSES


def apply_job_report(server: Server, report: JobReport) -> bool:
    """Apply `report` to `server`; returns False when the report is older and ignored.

    Only jobs that set the operstate advance the server's backend time, so a late error
    from an older job can never undo a newer state (e.g. resurrect a removed server), and a
    resize (which leaves the operstate alone) cannot hide an earlier shutdown reported late.
    """
    if server.backend_time is not None and report.timestamp < server.backend_time:
        log.info(
            "server=%s job=%s ignoring %s %s older than backend time",
            server.id, report.job_id, report.opcode, report.status,
        )
        return False

    server.backend_job_id = report.job_id
    server.backend_job_status = report.status
    server.backend_opcode = report.opcode
    if report.log_msg is not None:
        server.backend_log_msg = report.log_msg
    if not report.is_final:
        return True

    if report.status == "success":
        new_state = SUCCESS_OPERSTATE.get(report.opcode)
        if new_state is not None:
            server.operstate = new_state.value
            server.backend_time = report.timestamp
        if report.opcode == OP_CREATE:
            server.build_percentage = 100
        if report.opcode == OP_SET_PARAMS and report.extra.get("flavor_id"):
            server.flavor_id = int(report.extra["flavor_id"])
        if new_state is OperState.DESTROYED:
            server.deleted = True
    elif report.opcode == OP_CREATE:
        server.operstate = OperState.ERROR.value
    elif report.opcode == OP_REMOVE and report.ecode == "unknown_entity":
        # Removing what the cluster no longer has: the server is gone all the same.
        server.operstate = OperState.DESTROYED.value
        server.deleted = True
        server.backend_time = report.timestamp
    log.info(
        "server=%s job=%s %s %s -> operstate %s",
        server.id, report.job_id, report.opcode, report.status, server.operstate,
    )
    return True
