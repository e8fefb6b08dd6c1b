"""Turning Ganeti jobs into one `op_status` event per opcode status change.

Jobs come from RAPI's `/2/jobs?bulk=1` or from the job files of the queue directory
(Ganeti's on-disk format); both are brought to one shape first.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.ganeti import (FINAL_JOB_STATUSES, OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT,
                                 OP_NETWORK_REMOVE, ganeti_time)

from .spool import Spool

# A network opcode's event names its network (and group): it is about no instance.
NETWORK_OPCODES = frozenset({OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT, OP_NETWORK_REMOVE})
GROUP_OPCODES = frozenset({OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT})


def from_job_file(data: dict[str, Any]) -> dict[str, Any]:
    """A queue file's job (ops carry input, status, result, log and their own timestamps)."""
    ops = data.get("ops") or []
    return {
        "id": int(data["id"]),
        "ops": [op.get("input") or {} for op in ops],
        "opstatus": [op.get("status") for op in ops],
        "opresult": [op.get("result") for op in ops],
        "oplog": [op.get("log") or [] for op in ops],
        "op_times": [tuple(ganeti_time(op.get(f"{when}_timestamp")) for when in ("start", "exec", "end"))
                     for op in ops],
        "received_ts": data.get("received_timestamp"),
        "start_ts": data.get("start_timestamp"),
        "end_ts": data.get("end_timestamp"),
    }


def read_job_file(path: Path) -> dict[str, Any] | None:
    try:
        return from_job_file(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # being written, or not a job file


def job_status(opstatus: list[str | None]) -> str:
    """Ganeti's CalcStatus: a job's status from its opcodes' statuses."""
    status, all_success = "queued", True
    for s in opstatus:
        if s == "success":
            continue
        all_success = False
        if s in ("waiting", "running"):
            status = s
        elif s in ("canceling", "error", "canceled"):
            return s
    return "success" if all_success and opstatus else status


def event_time(job: dict[str, Any], index: int, status: str) -> float:
    """Synnefo's choice: received time while queued, start time while waiting or running,
    end time when final; an opcode's own times where the job file has them."""
    times = job.get("op_times")
    if times and index < len(times):
        start, exec_, end = times[index]
        if status in FINAL_JOB_STATUSES and end:
            return end
        if status not in FINAL_JOB_STATUSES and status != "queued" and (exec_ or start):
            return exec_ or start
    key = "end_ts" if status in FINAL_JOB_STATUSES else "received_ts" if status == "queued" else "start_ts"
    return next(filter(None, (ganeti_time(job.get(k)) for k in (key, "start_ts", "received_ts"))), 0.0)


def _log_message(entries: list) -> str | None:
    """The newest log entry's message: entries are [serial, timestamp, type, message]."""
    if not entries:
        return None
    last = entries[-1]
    message = last[-1] if isinstance(last, (list, tuple)) else last
    return message if isinstance(message, str) else json.dumps(message)


def _error(result: Any) -> tuple[str | None, str | None]:
    """A failed opcode's result, Ganeti's [error class, [message, ecode]]: (message, ecode)."""
    if isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[0], str):
        err_class, args = result
        args = list(args) if isinstance(args, (list, tuple)) else [args]
        message = str(args[0]) if args else err_class
        ecode = args[1] if len(args) > 1 and isinstance(args[1], str) else None
        return f"{err_class}: {message}", ecode
    if isinstance(result, str) and result:
        return result, None
    return None, None


def op_events(cluster: str, job: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """Every opcode of `job` as (index, status, event) in its current state."""
    job_id = int(job["id"])
    ops, statuses = job.get("ops") or [], job.get("opstatus") or []
    logs, results = job.get("oplog") or [], job.get("opresult") or []
    overall = job.get("status") or job_status(list(statuses))
    out = []
    for index, (op, status) in enumerate(zip(ops, statuses)):
        if not status:
            continue
        log_msg = _log_message(logs[index] if index < len(logs) else [])
        ecode = None
        if status in ("error", "canceled") and index < len(results):
            message, ecode = _error(results[index])
            log_msg = message or log_msg
        event: dict[str, Any] = {
            "cluster": cluster,
            "instance": op.get("instance_name"),
            "job_id": job_id,
            "opcode": op.get("OP_ID"),
            "status": status,
            "log_msg": log_msg,
            "timestamp": event_time(job, index, status),
        }
        if event["opcode"] in NETWORK_OPCODES:
            event["network"] = op.get("network_name")
            if event["opcode"] in GROUP_OPCODES:
                event["group"] = op.get("group_name")
        # Only what a single-opcode job does not say already, to keep events small.
        if index:
            event["op_index"] = index
        if overall != status:
            event["job_status"] = overall
        if ecode:
            event["ecode"] = ecode
        out.append((index, status, event))
    return out


class JobTracker:
    """Remembers (in the spool) the last status sent for each opcode, so each change is sent
    once, across restarts too."""

    def __init__(self, cluster: str, spool: Spool):
        self.cluster, self.spool = cluster, spool
        self.sent = spool.opstates()

    def known_jobs(self) -> set[int]:
        return {job_id for job_id, _ in self.sent}

    def observe(self, jobs: Iterable[dict[str, Any]], *, complete: bool = True) -> int:
        """Spool an event per change (jobs in id order, one transaction); with `complete`,
        jobs absent from `jobs` are forgotten (archived)."""
        items = []
        seen: set[int] = set()
        for job in sorted(jobs, key=lambda j: int(j["id"])):
            job_id = int(job["id"])
            seen.add(job_id)
            for index, status, event in op_events(self.cluster, job):
                if self.sent.get((job_id, index)) == status:
                    continue
                items.append(("op_status", event, (job_id, index, status)))
        self.spool.put_many(items)
        for _, event, (job_id, index, status) in items:
            self.sent[(job_id, index)] = status
        if complete:
            self.forget(self.known_jobs() - seen)
        return len(items)

    def forget(self, job_ids: set[int]) -> None:
        """Archived jobs change no more: drop what was remembered of them."""
        if job_ids:
            self.spool.forget_jobs(job_ids)
            self.sent = {k: v for k, v in self.sent.items() if k[0] not in job_ids}
