"""Ganeti's job queue, simulated: jobs of opcodes, locks, a scheduler thread and job files.

A job is a list of opcodes run in order. Each opcode first takes its locks (status
"waiting" while another job holds them), then runs its prerequisite checks, then
"executes" for a configurable time before its effects are applied. A failing opcode
fails the job and marks the later opcodes as failed, as Ganeti's job processor does.
A job that depends on others (``depends``, see jobdeps.py) stays queued until they end.
When an opcode ends, whatever addresses and MACs its job still holds are dropped.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import constants as C
from . import jobdeps
from .errors import GanetiError, OpExecError


def timestamp_now() -> list:
    """Ganeti's (seconds, microseconds) timestamp, as JSON gives it back: a list."""
    t = time.time()
    sec = int(t)
    return [sec, int((t - sec) * 1_000_000)]


def epoch_nano() -> int:
    return time.time_ns()


# Private and secret OS parameters (design-os.rst, "OS parameter categories") are Private
# values in Ganeti: the job's files and its queries show "<redacted>"; only the running
# opcode sees them.
PRIVATE_PARAMS = ("osparams_private", "osparams_secret")
REDACTED = "<redacted>"


def redacted(op_input: dict) -> dict:
    """The opcode's input as the job queue shows and writes it."""
    hidden = {key: {name: REDACTED for name in op_input[key]} for key in PRIVATE_PARAMS
              if isinstance(op_input.get(key), dict) and op_input[key]}
    return {**op_input, **hidden} if hidden else op_input


class QueuedOp:
    """One opcode of a job, with Ganeti's per-opcode bookkeeping."""

    __slots__ = ("input", "shown", "status", "result", "log", "start_timestamp", "exec_timestamp",
                 "end_timestamp", "priority", "plan")

    def __init__(self, op_input: dict):
        self.input = op_input  # what the opcode runs with
        self.shown = redacted(op_input)  # what job queries and job files show
        self.status = C.JOB_QUEUED
        self.result = None
        self.log: list = []
        self.start_timestamp = None
        self.exec_timestamp = None
        self.end_timestamp = None
        self.priority = op_input.get("priority", C.OP_PRIO_DEFAULT)
        self.plan = None  # what the prerequisite check prepared, for execute/rollback

    @property
    def op_id(self) -> str:
        return self.input["OP_ID"]

    def serialize(self) -> dict:
        return {"input": self.shown, "status": self.status, "result": self.result, "log": self.log,
                "start_timestamp": self.start_timestamp, "exec_timestamp": self.exec_timestamp,
                "end_timestamp": self.end_timestamp, "priority": self.priority}


class Job:
    """A submitted job. `version` increases on every change (for caches and waiters)."""

    __slots__ = ("id", "ops", "received_timestamp", "start_timestamp", "end_timestamp", "log_serial",
                 "version", "forced_failure", "cur", "_cache", "_cache_version")

    def __init__(self, job_id: int, ops: list[dict]):
        self.id = job_id
        self.ops = [QueuedOp(op) for op in ops]
        self.received_timestamp = timestamp_now()
        self.start_timestamp = None
        self.end_timestamp = None
        self.log_serial = 0
        self.version = 0
        self.forced_failure: str | None = None
        self.cur = 0  # index of the opcode being processed
        self._cache = None
        self._cache_version = -1

    @property
    def status(self) -> str:
        """Ganeti's CalcStatus: derived from the opcodes' statuses."""
        status = C.JOB_QUEUED
        all_success = True
        for op in self.ops:
            s = op.status
            if s == C.JOB_SUCCESS:
                continue
            all_success = False
            if s == C.JOB_QUEUED:
                pass
            elif s == C.JOB_WAITING:
                status = C.JOB_WAITING
            elif s == C.JOB_RUNNING:
                status = C.JOB_RUNNING
            elif s in (C.JOB_CANCELING, C.JOB_ERROR, C.JOB_CANCELED):
                status = s
                break
        return C.JOB_SUCCESS if all_success else status

    @property
    def finalized(self) -> bool:
        return self.status in C.JOBS_FINALIZED

    def summary(self) -> list[str]:
        from .opcodes import summary  # local: opcodes imports this module's helpers
        return [summary(op.input) for op in self.ops]

    def fields(self, names) -> list:
        return [self.field(n) for n in names]

    def field(self, name: str):
        if name == "id":
            return self.id
        if name == "status":
            return self.status
        if name == "ops":
            return [op.shown for op in self.ops]
        if name == "opstatus":
            return [op.status for op in self.ops]
        if name == "opresult":
            return [op.result for op in self.ops]
        if name == "oplog":
            return [op.log for op in self.ops]
        if name == "summary":
            return self.summary()
        if name == "received_ts":
            return self.received_timestamp
        if name == "start_ts":
            return self.start_timestamp
        if name == "end_ts":
            return self.end_timestamp
        if name == "opstart":
            return [op.start_timestamp for op in self.ops]
        if name == "opexec":
            return [op.exec_timestamp for op in self.ops]
        if name == "opend":
            return [op.end_timestamp for op in self.ops]
        if name == "oppriority":
            return [op.priority for op in self.ops]
        if name == "priority":
            prios = [op.priority for op in self.ops if op.status not in C.OPS_FINALIZED]
            return min(prios) if prios else C.OP_PRIO_DEFAULT
        raise KeyError(name)

    J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"]
    J_FIELDS = J_FIELDS_BULK + ["oplog", "opresult"]

    def full_json(self) -> bytes:
        """The /2/jobs/[id] body, cached per version so hot polling costs one dict lookup."""
        if self._cache_version != self.version:
            body = json.dumps(dict(zip(self.J_FIELDS, self.fields(self.J_FIELDS)))).encode()
            self._cache, self._cache_version = body, self.version
        return self._cache

    def serialize(self) -> dict:
        """Ganeti's on-disk job format (jqueue _QueuedJob.Serialize)."""
        return {"id": self.id, "ops": [op.serialize() for op in self.ops],
                "start_timestamp": self.start_timestamp, "end_timestamp": self.end_timestamp,
                "received_timestamp": self.received_timestamp, "livelock": None, "process_id": None}

    def log_entries(self, newer_than: int | None) -> list:
        serial = -1 if newer_than is None else newer_than
        return [e for op in self.ops for e in op.log if e[0] > serial]

    def mark_unfinished(self, status: str, result) -> None:
        for op in self.ops:
            if op.status in C.OPS_FINALIZED:
                continue
            op.status = status
            op.result = result


class OpContext:
    """What an opcode implementation sees while it runs: its job, its input, a log."""

    def __init__(self, queue: "JobQueue", job: Job, op: QueuedOp):
        self.queue, self.job, self.op = queue, job, op

    def log(self, message: str) -> None:
        self.job.log_serial += 1
        self.op.log.append([self.job.log_serial, timestamp_now(), C.ELOG_MESSAGE, message])
        self.queue.changed(self.job)

    def info(self, message: str) -> None:
        """A logical unit's LogInfo, as mcpu formats it."""
        self.log(" - INFO: %s" % message)

    def warning(self, message: str) -> None:
        """A logical unit's LogWarning, as mcpu formats it."""
        self.log(" - WARNING: %s" % message)

    @property
    def token(self) -> int:
        """What the job's temporary reservations are held by (its execution context)."""
        return self.job.id


class JobQueue:
    """Job ids, job objects, instance locks and the scheduler thread of one cluster."""

    def __init__(self, cluster, job_duration: float = 2.0, queue_dir: str | Path | None = None,
                 op_durations: dict | None = None, faults=None, hooks=None, pickup_delay: float = 0.0):
        self.cluster = cluster
        self.job_duration = job_duration
        self.op_durations = dict(op_durations or {})
        self.pickup_delay = pickup_delay
        self.faults = faults
        self.hooks = hooks
        self.queue_dir = Path(queue_dir) if queue_dir else None
        if self.queue_dir:
            self.queue_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[int, Job] = {}
        self._next_id = 1
        self._lock = cluster.lock  # one lock for cluster state and queue: effects and status move together
        self._changed = threading.Condition(self._lock)
        self._locks: dict[str, int] = {}  # lock name -> job id holding it
        self._waiting: dict[int, Job] = {}  # job id -> job waiting for locks (ordered by id)
        self._blocked: dict[int, Job] = {}  # job id -> queued job whose dependencies have not ended
        self._heap: list = []
        self._seq = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._stop = False
        self._thread: threading.Thread | None = None
        self.paused = False  # cluster down: nothing advances
        if self.queue_dir:
            self._restore_serial()

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name=f"jobs-{self.cluster.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _schedule(self, delay: float, fn: Callable, *args) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq), fn, args))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = (self._heap[0][0] - time.monotonic()) if self._heap else None
                    self._wake.wait(timeout)
                if self._stop:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
            if self.paused:
                self._schedule(0.05, fn, *args)
                continue
            try:
                fn(*args)
            except Exception:  # a bug in an opcode must not kill the queue
                import logging
                logging.getLogger(__name__).exception("job step failed")

    # --- submission and queries --------------------------------------------

    def submit(self, ops: list[dict]) -> int:
        """Queue a job of opcodes (each a dict with OP_ID); returns its id (an int, as Ganeti)."""
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            jobdeps.resolve(ops, job_id)
            for index, op in enumerate(ops):
                src = "%s:%s" % (C.REASON_SRC_OPCODE, _reason_name(op["OP_ID"]))
                op.setdefault("reason", []).append([src, f"job={job_id};index={index}", epoch_nano()])
            job = Job(job_id, ops)
            if self.faults is not None:
                job.forced_failure = self.faults.take_forced_failure()
            self.jobs[job_id] = job
            self.changed(job)
        self._schedule(self.pickup_delay, self._start_op, job)
        return job_id

    def get(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def changed(self, job: Job) -> None:
        """Record a change: bump the version, write the job file, wake long-pollers."""
        job.version += 1
        if self.queue_dir is not None:
            self._write_job_file(job)
        self._changed.notify_all()

    def wait_for_change(self, job: Job, fields: list, prev_info, prev_serial, timeout: float):
        """Ganeti's WaitForJobChangeOnce: None if nothing changed within the timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                info = job.fields(fields)
                logs = job.log_entries(prev_serial)
                if info != prev_info or logs or job.finalized:
                    return info, logs
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def cancel(self, job_id: int) -> list:
        """Cancel a job that has not started running; Ganeti's (success, message) reply."""
        with self._lock:
            job = self.jobs[job_id]
            status = job.status
            if status == C.JOB_QUEUED:
                self._blocked.pop(job.id, None)
                job.mark_unfinished(C.JOB_CANCELED, "Job canceled by request")
                job.end_timestamp = timestamp_now()
                self.changed(job)
                self._schedule(0, self._wake_dependents)
                return [True, f"Job {job_id} canceled"]
            if status == C.JOB_WAITING:
                job.mark_unfinished(C.JOB_CANCELING, None)
                self.changed(job)
                self._schedule(0, self._finish_cancel, job)
                return [True, f"Job {job_id} will be canceled"]
            return [False, f"Job {job_id} is no longer waiting in the queue"]

    def _finish_cancel(self, job: Job) -> None:
        with self._lock:
            if job.status != C.JOB_CANCELING:
                return
            self._waiting.pop(job.id, None)
            self._blocked.pop(job.id, None)
            job.mark_unfinished(C.JOB_CANCELED, "Job canceled by request")
            job.end_timestamp = timestamp_now()
            self.changed(job)
        self._wake_dependents()

    # --- execution ---------------------------------------------------------

    def _duration(self, op_id: str) -> float:
        return float(self.op_durations.get(op_id, self.job_duration))

    def _start_op(self, job: Job) -> None:
        from . import opcodes

        with self._lock:
            if job.finalized or job.status == C.JOB_CANCELING:
                return
            if job.start_timestamp is None and jobdeps.blocked(self, job):
                self._blocked[job.id] = job  # luxid does not start it: it stays queued
                return
            self._blocked.pop(job.id, None)
            op = job.ops[job.cur]
            impl = opcodes.get(op.op_id)
            if op.start_timestamp is None:
                op.start_timestamp = timestamp_now()
                if job.start_timestamp is None:
                    job.start_timestamp = op.start_timestamp
                if not self._dependencies_met(job, op):
                    return
            wanted = impl.locks(self.cluster, op.input)
            if not self._can_lock(job, wanted):
                if op.status != C.JOB_WAITING:
                    op.status = C.JOB_WAITING
                    self._waiting[job.id] = job
                    self.changed(job)
                return
            self._waiting.pop(job.id, None)
            for name in wanted:
                self._locks[name] = job.id
            op.status = C.JOB_RUNNING
            op.exec_timestamp = timestamp_now()
            ctx = OpContext(self, job, op)
            self.changed(job)
            try:
                op.plan = impl.check(self.cluster, op.input, ctx)
            except GanetiError as err:
                self._fail(job, op, err, wanted)
                return
            except Exception as err:  # Ganeti wraps unexpected errors in OpExecError
                self._fail(job, op, OpExecError(str(err)), wanted)
                return
            dry_run = bool(op.input.get("dry_run"))
        delay = 0.0 if dry_run else self._duration(op.op_id)
        if self.faults is not None:
            delay += self.faults.op_extra_delay()
        if self.hooks is not None and op.op_id == "OP_INSTANCE_CREATE" and not dry_run:
            self.hooks.progress(self.cluster, op.input["instance_name"], delay * 0.8)
        self._schedule(delay, self._finish_op, job, wanted)

    def _finish_op(self, job: Job, wanted: list[str]) -> None:
        from . import opcodes

        with self._lock:
            op = job.ops[job.cur]
            impl = opcodes.get(op.op_id)
            ctx = OpContext(self, job, op)
            failure = None
            if op.input.get("dry_run"):
                result = impl.dry_run_result(self.cluster, op.input, op.plan)
            else:
                if job.forced_failure is not None:
                    failure = OpExecError(job.forced_failure)
                elif self.faults is not None:
                    msg = self.faults.random_op_failure(op.op_id)
                    if msg is not None:
                        failure = OpExecError(msg)
                pre_env = None
                if failure is None and self.hooks is not None and self.hooks.wants(op.op_id):
                    pre_env = self.hooks.pre_env(self.cluster, op.input, op.plan)
                if failure is None:
                    try:
                        result = impl.execute(self.cluster, op.input, op.plan, ctx)
                    except GanetiError as err:
                        failure = err
                    except Exception as err:
                        failure = OpExecError(str(err))
                if failure is not None:
                    impl.rollback(self.cluster, op.input, op.plan)
            if failure is not None:
                self._fail(job, op, failure, wanted)
                return
            op.status = C.JOB_SUCCESS
            op.result = result
            op.end_timestamp = timestamp_now()
            self._release(wanted)
            self.cluster.drop_reservations(job.id)
            last = job.cur == len(job.ops) - 1
            if last:
                job.end_timestamp = timestamp_now()
            else:
                job.cur += 1
            self.changed(job)
            if self.hooks is not None and not op.input.get("dry_run") and self.hooks.wants(op.op_id):
                self.hooks.post(self.cluster, op.input, pre_env)
        if not last:
            self._schedule(0, self._start_op, job)
        else:
            self._wake_dependents()
        self._wake_waiters()

    def _fail(self, job: Job, op: QueuedOp, err: GanetiError, wanted: list[str]) -> None:
        """Fail an opcode and everything after it ("Preceding opcode failed")."""
        op.status = C.JOB_ERROR
        op.result = err.encode()
        op.end_timestamp = timestamp_now()
        job.mark_unfinished(C.JOB_ERROR, OpExecError("Preceding opcode failed").encode())
        job.end_timestamp = timestamp_now()
        self._release(wanted)
        self.cluster.drop_reservations(job.id)
        self.changed(job)
        self._schedule(0, self._wake_waiters)
        self._schedule(0, self._wake_dependents)

    def _dependencies_met(self, job: Job, op: QueuedOp) -> bool:
        """jqueue._CheckDependencies as the opcode starts; False when it failed or canceled the
        job. (luxid only starts a job once its dependencies ended, so none is left to wait for.)"""
        result, message = jobdeps.check(self, job, op)
        if result == jobdeps.CONTINUE:
            return True
        if result == jobdeps.CANCEL:
            op.end_timestamp = timestamp_now()
            job.mark_unfinished(C.JOB_CANCELED, "Job canceled by request")
            job.end_timestamp = op.end_timestamp
            self.changed(job)
            self._schedule(0, self._wake_dependents)
        else:
            self._fail(job, op, OpExecError(message), [])
        return False

    def _wake_dependents(self) -> None:
        """Start the jobs whose dependencies have all ended."""
        with self._lock:
            ready = [j for _, j in sorted(self._blocked.items()) if not jobdeps.blocked(self, j)]
            for job in ready:
                self._blocked.pop(job.id, None)
        for job in ready:
            self._start_op(job)

    def _can_lock(self, job: Job, wanted: list[str]) -> bool:
        """Free, and not wanted by an older job that is already waiting (FIFO fairness)."""
        from . import opcodes

        for name in wanted:
            holder = self._locks.get(name)
            if holder is not None and holder != job.id:
                return False
        for other in self._waiting.values():
            if other.id >= job.id:
                continue
            other_op = other.ops[other.cur]
            if set(opcodes.get(other_op.op_id).locks(self.cluster, other_op.input)) & set(wanted):
                return False
        return True

    def _release(self, wanted: list[str]) -> None:
        for name in wanted:
            self._locks.pop(name, None)

    def _wake_waiters(self) -> None:
        with self._lock:
            waiting = sorted(self._waiting.values(), key=lambda j: j.id)
        for job in waiting:
            self._start_op(job)

    # --- job files -----------------------------------------------------------

    def _write_job_file(self, job: Job) -> None:
        """Atomically replace queue/job-<id>, as Ganeti writes its queue files."""
        path = self.queue_dir / f"job-{job.id}"
        tmp = self.queue_dir / f".job-{job.id}.tmp"
        tmp.write_text(json.dumps(job.serialize()))
        os.replace(tmp, path)
        serial = self.queue_dir / "serial"
        if job.version == 1:
            tmp = self.queue_dir / ".serial.tmp"
            tmp.write_text(f"{job.id}\n")
            os.replace(tmp, serial)

    def _restore_serial(self) -> None:
        """Keep job ids increasing across restarts that reuse a state directory."""
        try:
            self._next_id = int((self.queue_dir / "serial").read_text().strip()) + 1
        except (OSError, ValueError):
            pass


def _reason_name(op_id: str) -> str:
    """OP_INSTANCE_CREATE -> instance_create (Ganeti's NameToReasonSrc)."""
    return op_id[3:].lower() if op_id.startswith("OP_") else op_id.lower()
