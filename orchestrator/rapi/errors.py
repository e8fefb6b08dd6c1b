"""The exceptions a RAPI call raises, one class per way it can fail, so callers decide
by type whether to retry, give up or report; and `job_error`, which turns a failed job's
record into one of them."""
from __future__ import annotations

from typing import Any


class RapiError(Exception):
    """A RAPI call failed; carries Ganeti's HTTP code, message and explanation."""

    def __init__(self, message: str, code: int | None = None, explain: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.explain = explain


class RapiUnavailable(RapiError):
    """Transient: connection refused or dropped, timeout, or a 5xx. Safe to retry later
    (for a write: after checking, by its reason, whether it reached the cluster)."""


class RapiCertificateError(RapiUnavailable):
    """The cluster's TLS certificate did not verify against the configured CA (or the CA
    file is missing). Retrying will not help until the configuration changes."""


class RapiBadRequest(RapiError):
    """400 (or 415): Ganeti refused the request's parameters; resending it will not help."""


class RapiUnauthorized(RapiError):
    """401 (bad credentials) or 403 (a read-only user tried to write)."""


class RapiNotFound(RapiError):
    """404: no such resource (instance, node, network, group, job, or path)."""


class RapiConflict(RapiError):
    """409."""


class RapiUnsupported(RapiError):
    """405 or 501: this cluster does not serve that method on that resource."""


class JobFailed(RapiError):
    """A Ganeti job ended in error or was canceled. `error_class` and `ecode` are Ganeti's
    (e.g. "OpPrereqError", "already_exists"); see rapi.rst ``/2/jobs/[job_id]``."""

    def __init__(self, message: str, error_class: str | None = None, ecode: str | None = None,
                 *, job_id: int | None = None, status: str | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.ecode = ecode
        self.job_id = job_id
        self.status = status


class JobTimeout(RapiError):
    """`wait_for_job` gave up while the job was still pending (the job goes on)."""


def job_error(job: dict[str, Any]) -> JobFailed:
    """Ganeti's message for a failed job: the first failed opcode's [class, [msg, ecode]]."""
    job_id, job_status = job.get("id"), job.get("status")
    statuses = job.get("opstatus") or []
    results = job.get("opresult") or []
    for status, result in zip(statuses, results):
        if status in ("error", "canceled"):
            return opcode_error(status, result, job_id, job_status)
    return JobFailed(f"job {job_id} ended {job_status}", job_id=job_id, status=job_status)


def opcode_error(status: str, result: Any, job_id: Any, job_status: Any) -> JobFailed:
    """One failed opcode's result: Ganeti's [class, [msg, ecode]] when it has that shape,
    else the result as text (or the opcode's status when it left none)."""
    if isinstance(result, list) and len(result) == 2 and isinstance(result[0], str):
        err_class, args = result
        args = args if isinstance(args, list) else [args]
        message = str(args[0]) if args else err_class
        ecode = args[1] if len(args) > 1 and isinstance(args[1], str) else None
        return JobFailed(f"{err_class}: {message}", err_class, ecode, job_id=job_id, status=job_status)
    return JobFailed(str(result) if result else f"opcode {status}", job_id=job_id, status=job_status)
