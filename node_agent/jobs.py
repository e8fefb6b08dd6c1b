"""Turning Ganeti jobs into one `op_status` event per opcode status change.

Jobs come from RAPI's `/2/jobs?bulk=1` or from the job files of the queue directory
(Ganeti's on-disk format); both are brought to one shape first.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .spool import Spool

FINAL = frozenset({"success", "error", "canceled"})


def ts(value: Any) -> float | None:
    """Ganeti's [seconds, microseconds]."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return value[0] + value[1] / 1e6
    return None


def from_job_file(data: dict[str, Any]) -> dict[str, Any]:
    """A queue file's job (ops carry input, status, log and their own timestamps)."""
    ops = data.get("ops") or []
    return {
        "id": int(data["id"]),
        "ops": [op.get("input") or {} for op in ops],
        "opstatus": [op.get("status") for op in ops],
        "oplog": [op.get("log") or [] for op in ops],
        "op_times": [(ts(op.get("start_timestamp")), ts(op.get("exec_timestamp")), ts(op.get("end_timestamp")))
                     for op in ops],
        "received_ts": data.get("received_timestamp"),
        "start_ts": data.get("start_timestamp"),
        "end_ts": data.get("end_timestamp"),
    }


def read_job_file(path: Path) -> dict[str, Any] | None:
    try:
        return from_job_file(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # being written, or not a job file


def event_time(job: dict[str, Any], index: int, status: str) -> float:
    """Synnefo's choice: received time while queued, start time while waiting or running,
    end time when final; an opcode's own times where the job file has them."""
    times = job.get("op_times")
    if times and index < len(times):
        start, exec_, end = times[index]
        if status in FINAL and end:
            return end
        if status not in FINAL and status != "queued" and (exec_ or start):
            return exec_ or start
    key = "end_ts" if status in FINAL else "received_ts" if status == "queued" else "start_ts"
    return ts(job.get(key)) or ts(job.get("start_ts")) or ts(job.get("received_ts")) or 0.0


def _log_message(entries: list) -> str | None:
    """The newest log entry's message: entries are [serial, timestamp, type, message]."""
    if not entries:
        return None
    last = entries[-1]
    message = last[-1] if isinstance(last, (list, tuple)) else last
    return message if isinstance(message, str) else json.dumps(message)


class JobTracker:
    """Remembers (in the spool) the last status sent for each opcode, so each change is sent
    once, across restarts too."""

    def __init__(self, cluster: str, spool: Spool):
        self.cluster, self.spool = cluster, spool
        self.sent = spool.opstates()

    def observe(self, jobs: Iterable[dict[str, Any]], *, complete: bool = True) -> int:
        """Spool an event per change; with `complete`, jobs absent from `jobs` are forgotten."""
        queued = 0
        seen: set[int] = set()
        for job in jobs:
            job_id = int(job["id"])
            seen.add(job_id)
            logs = job.get("oplog") or []
            for index, (op, status) in enumerate(zip(job.get("ops") or [], job.get("opstatus") or [])):
                if not status or self.sent.get((job_id, index)) == status:
                    continue
                event = {
                    "cluster": self.cluster,
                    "instance": op.get("instance_name"),
                    "job_id": job_id,
                    "opcode": op.get("OP_ID"),
                    "status": status,
                    "log_msg": _log_message(logs[index] if index < len(logs) else []),
                    "timestamp": event_time(job, index, status),
                }
                self.spool.put("op_status", event, (job_id, index, status))
                self.sent[(job_id, index)] = status
                queued += 1
        if complete:
            self.forget({job_id for job_id, _ in self.sent} - seen)
        return queued

    def forget(self, job_ids: set[int]) -> None:
        """Archived jobs change no more: drop what was remembered of them."""
        if job_ids:
            self.spool.forget_jobs(job_ids)
            self.sent = {k: v for k, v in self.sent.items() if k[0] not in job_ids}
