"""Applying events from the node agents (Ganeti job queue, hooks, install progress).

Events arrive in any order and possibly twice; the state function's backend time
makes old and duplicate reports harmless. A final report also ends the operation
that follows the job, so the agent and the chain's poll step converge: whichever
sees the end first finalizes, the other finds it done.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import steps
from .models import IN_FLIGHT, Operation, OperState, Server, Step
from .settings import get_settings
from .state import JobReport, apply_job_report

log = logging.getLogger(__name__)


def server_for_instance(session: Session, instance: str | None) -> Server | None:
    """The server an instance name belongs to, or None for names without our prefix."""
    prefix = get_settings().backend_prefix_id
    if not instance or not instance.startswith(prefix):
        return None
    suffix = instance[len(prefix):]
    if not suffix.isdigit():
        return None
    return session.get(Server, int(suffix), with_for_update={"of": Server})


def apply_op_status(session: Session, event: dict[str, Any]) -> str:
    """Returns what happened: applied, stale, or unknown (not ours / not in the database)."""
    server = server_for_instance(session, event.get("instance"))
    if server is None:
        log.info("op_status for unknown instance %r (job %s) dropped", event.get("instance"), event.get("job_id"))
        return "unknown"
    report = JobReport(
        job_id=int(event["job_id"]),
        opcode=str(event["opcode"]),
        status=str(event["status"]),
        timestamp=float(event["timestamp"]),
        log_msg=event.get("log_msg"),
        ecode=event.get("ecode"),
    )
    op = session.scalars(
        select(Operation).where(Operation.server_id == server.id, Operation.job_id == report.job_id,
                                Operation.status.in_(IN_FLIGHT)).with_for_update(of=Operation)
    ).first()
    if op is not None:
        report = JobReport(**{**report.__dict__, "extra": op.params})
    applied = apply_job_report(server, report)
    if applied and report.is_final and op is not None and op.step in (Step.POLL.value, Step.FINALIZE.value):
        if op.step == Step.POLL.value:
            steps.conclude(op, report)
        steps.close_finalized(op)
        log.info("op=%s server=%s finished %s by event", op.id, server.id, op.status)
    session.commit()
    return "applied" if applied else "stale"


def apply_build_progress(session: Session, event: dict[str, Any]) -> str:
    server = server_for_instance(session, event.get("instance"))
    if server is None:
        return "unknown"
    if server.operstate != OperState.BUILD.value:
        return "stale"
    percentage = max(0, min(100, int(event.get("percentage", 0))))
    if percentage <= server.build_percentage:
        return "stale"  # progress only rises; a late or repeated message changes nothing
    server.build_percentage = percentage
    session.commit()
    return "applied"


def apply_nic_info(session: Session, event: dict[str, Any]) -> str:
    server = server_for_instance(session, event.get("instance"))
    if server is None:
        return "unknown"
    nics = [
        {"index": int(n.get("index", i)), "ip": n.get("ip"), "mac": n.get("mac"), "network": n.get("network")}
        for i, n in enumerate(event.get("nics") or [])
    ]
    if nics == (server.nics or []):
        return "stale"
    server.nics = nics
    session.commit()
    return "applied"
