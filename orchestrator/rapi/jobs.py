"""RAPI calls on Ganeti jobs: read, list, cancel, and follow one with the long poll."""
from __future__ import annotations

import time
from typing import Any

from ..ganeti import FINAL_JOB_STATUSES
from .errors import JobTimeout, job_error
from .transport import Transport

JOB_PENDING_STATUSES = frozenset({"queued", "waiting", "running", "canceling"})

# How long ganeti-rapi holds /2/jobs/[id]/wait before answering "no change" (rlib2's
# _WFJC_TIMEOUT); the client's read timeout for that call is this plus Endpoint.timeout.
WAIT_FOR_JOB_CHANGE_HOLD_S = 10.0


class JobCalls:
    """rapi.rst ``/2/jobs``, ``/2/jobs/[job_id]`` and ``/2/jobs/[job_id]/wait``."""

    transport: Transport

    def job(self, job_id: int) -> dict[str, Any]:
        """rapi.rst ``/2/jobs/[job_id]`` GET: id, ops, status, summary, opstatus, opresult,
        oplog and the received/start/end timestamps."""
        return self.transport.request("GET", f"/2/jobs/{int(job_id)}")

    def jobs(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/jobs`` GET: every job the cluster still holds, with its opcodes
        (one bulk call); without bulk, the job ids."""
        if bulk:
            return self.transport.request("GET", "/2/jobs", query=[("bulk", 1)])
        return [int(j["id"]) for j in self.transport.request("GET", "/2/jobs")]

    def cancel_job(self, job_id: int) -> tuple[bool, str]:
        """rapi.rst ``/2/jobs/[job_id]`` DELETE: cancel a not-yet-started job. Ganeti answers
        (success, message); a running job is not canceled (False)."""
        result = self.transport.request("DELETE", f"/2/jobs/{int(job_id)}")
        if isinstance(result, (list, tuple)) and len(result) == 2:
            return bool(result[0]), str(result[1])
        return bool(result), str(result)

    def wait_for_job_change(self, job_id: int, fields: list[str], prev_job_info: list | None = None,
                            prev_log_serial: int | None = None, timeout: float | None = None) -> dict | None:
        """rapi.rst ``/2/jobs/[job_id]/wait`` GET (needs a user with write access): blocks
        until the job's `fields` differ from `prev_job_info` or it logs past
        `prev_log_serial`; None if nothing changed within the server's hold time, else
        {"job_info": [...], "log_entries": [[serial, [sec, usec], type, message], ...]}.
        `timeout` is the HTTP read timeout, by default the server's hold time plus the
        endpoint's timeout."""
        body = {"fields": fields, "previous_job_info": prev_job_info, "previous_log_serial": prev_log_serial}
        if timeout is None:
            timeout = WAIT_FOR_JOB_CHANGE_HOLD_S + self.transport.endpoint.timeout
        return self.transport.request("GET", f"/2/jobs/{int(job_id)}/wait", body=body, timeout=timeout)

    def wait_for_job(self, job_id: int, *, timeout: float = 60.0) -> dict[str, Any]:
        """Follow a job with the long poll until it ends; its full record on success,
        JobFailed if it failed or was canceled, JobTimeout if still pending at `timeout`
        (which may be overrun by up to the server's hold time). For the CLI and tests:
        Celery tasks poll with `job()` and `self.retry`, never by blocking a worker."""
        deadline = time.monotonic() + timeout
        info, serial = None, None
        while True:
            if info is not None and info[0] in FINAL_JOB_STATUSES:
                job = self.job(job_id)
                if job.get("status") == "success":
                    return job
                raise job_error(job)
            if time.monotonic() >= deadline:
                raise JobTimeout(f"job {int(job_id)} still {info[0] if info else 'pending'} after {timeout}s")
            change = self.wait_for_job_change(job_id, ["status"], info, serial)
            if change is None:
                continue
            info = change["job_info"]
            for entry in change.get("log_entries") or []:
                serial = max(serial or 0, int(entry[0]))
