"""The steps of an operation's chain, as plain functions that take a session.

Each step loads its operation, returns at once when its step is already done (so a
redelivered task is harmless), does one external thing, and commits before returning.
Transient RAPI errors propagate so that the Celery task can retry with backoff.
"""
from __future__ import annotations

import logging
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import allocator, backends
from .models import Backend, Operation, OperState, OpStatus, Server, Step, utcnow
from .rapi import JobFailed, RapiError, RapiUnavailable, job_error
from .settings import get_settings
from .state import OP_CREATE, JobReport, apply_job_report

log = logging.getLogger(__name__)


class Poll(Enum):
    PENDING = "pending"
    DONE = "done"


def reason(op: Operation) -> str:
    """The reason trail entry every write carries, to trace a job back to its operation."""
    return f"orchestrator:op:{op.id}"


def op_tag(op: Operation) -> str:
    return f"orchestrator-op-{op.id}"


def _load(session: Session, op_id: int) -> Operation:
    op = session.get(Operation, op_id, with_for_update=True, populate_existing=True)
    if op is None:
        raise LookupError(f"operation {op_id} does not exist")
    return op


def fail(session: Session, op: Operation, message: str) -> None:
    """End an operation in FAILED; a create that never reached Ganeti leaves its server in ERROR."""
    op.status = OpStatus.FAILED.value
    op.error = message
    op.step = Step.DONE.value
    op.finished_at = utcnow()
    server = op.server
    if server is not None and op.kind == "create" and server.operstate == OperState.BUILD.value:
        server.operstate = OperState.ERROR.value
        server.backend_log_msg = message
    log.warning("op=%s server=%s failed: %s", op.id, op.server_id, message)


def _at(op: Operation, step: Step) -> bool:
    return not op.is_finished and op.step == step.value


def refresh_stale_backends(session: Session) -> None:
    """Synnefo refreshes stats older than BACKEND_REFRESH_MIN before allocating."""
    stale = [b for b in session.scalars(select(Backend)) if backends.stats_are_stale(b)]
    for backend in stale:
        backends.refresh_stats(session, backend, backends.cluster_client(backend))
    session.commit()


def allocate(session: Session, op_id: int) -> None:
    if not _at(_load(session, op_id), Step.ALLOCATE):
        return
    refresh_stale_backends(session)
    op = _load(session, op_id)
    if not _at(op, Step.ALLOCATE):
        return
    server = op.server
    settings = get_settings()
    pinned = op.params.get("backend_id") or settings.backend_per_user.get(op.user_id)
    op.status = OpStatus.RUNNING.value
    try:
        backend = allocator.allocate(session, server.flavor, pinned_backend_id=pinned)
    except allocator.NoBackendAvailable as exc:
        fail(session, op, f"no backend has room for this server: {exc}")
        session.commit()
        return
    server.backend_id = backend.id
    op.backend_id = backend.id
    op.step = Step.SUBMIT.value
    op.attempts = 0
    session.commit()
    log.info("op=%s server=%s allocated backend=%s", op.id, server.id, backend.id)


def create_spec(op: Operation, server: Server, prefix: str) -> dict:
    flavor, image = server.flavor, server.image
    return {
        "mode": "create",
        "instance_name": server.instance_name(prefix),
        "disk_template": flavor.disk_template,
        "disks": [{"size": flavor.disk * 1024}],
        "nics": [{}],
        "os_type": image.os,
        "osparams": {"img_id": image.location, "img_format": image.properties.get("format", "diskdump")},
        "beparams": {"maxmem": flavor.ram, "minmem": flavor.ram, "vcpus": flavor.cpu},
        "hvparams": {},
        "iallocator": "hail",
        "start": True,
        "name_check": False,
        "ip_check": False,
        "conflicts_check": False,
        "tags": [op_tag(op)],
    }


def submit(session: Session, op_id: int) -> None:
    op = _load(session, op_id)
    if not _at(op, Step.SUBMIT):
        return
    server = op.server
    client = backends.cluster_client(server.backend)
    try:
        job_id = client.create_instance(
            create_spec(op, server, get_settings().backend_prefix_id), reason=reason(op)
        )
    except RapiUnavailable:
        raise
    except RapiError as exc:
        fail(session, op, f"the cluster refused the create: {exc.message}")
        session.commit()
        return
    op.job_id = job_id
    op.job_status = "queued"
    op.error = None
    op.step = Step.POLL.value
    op.attempts = 0
    server.backend_job_id = job_id
    server.backend_opcode = OP_CREATE
    server.backend_job_status = "queued"
    session.commit()
    log.info("op=%s server=%s submitted job=%s", op.id, server.id, job_id)


def _ts(value) -> float:
    """Ganeti's [seconds, microseconds] as a float."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0] + value[1] / 1e6
    return float(value or 0)


def poll(session: Session, op_id: int) -> Poll:
    """Read the job once; apply a final result to the server and hand over to finalize."""
    op = _load(session, op_id)
    if not _at(op, Step.POLL):
        return Poll.DONE
    server = op.server
    client = backends.cluster_client(server.backend)
    try:
        job = client.job(op.job_id)
    except RapiUnavailable:
        raise
    except RapiError as exc:
        fail(session, op, f"cannot follow job {op.job_id}: {exc.message}")
        session.commit()
        return Poll.DONE
    status = job.get("status")
    op.job_status = status
    final = status in ("success", "error", "canceled")
    if final:
        error = None if status == "success" else job_error(job)
        report = JobReport(
            job_id=op.job_id,
            opcode=OP_CREATE,
            status=status,
            timestamp=_ts(job.get("end_ts")),
            log_msg=error.message if isinstance(error, JobFailed) else None,
            ecode=error.ecode if isinstance(error, JobFailed) else None,
        )
        apply_job_report(server, report)
        op.error = error.message if error else None
        op.step = Step.FINALIZE.value
    else:
        server.backend_job_status = status
    session.commit()
    return Poll.DONE if final else Poll.PENDING


def finalize(session: Session, op_id: int) -> None:
    op = _load(session, op_id)
    if not _at(op, Step.FINALIZE):
        return
    op.status = OpStatus.SUCCEEDED.value if op.job_status == "success" else OpStatus.FAILED.value
    op.step = Step.DONE.value
    op.finished_at = utcnow()
    session.commit()
    log.info("op=%s server=%s finished %s", op.id, op.server_id, op.status)


def note_transient_error(session: Session, op_id: int, message: str) -> int:
    """Record a transient failure of the current step; returns the step's attempts so far."""
    op = _load(session, op_id)
    op.attempts += 1
    op.error = message
    session.commit()
    return op.attempts


def give_up(session: Session, op_id: int, message: str) -> None:
    op = _load(session, op_id)
    if not op.is_finished:
        fail(session, op, message)
        session.commit()
