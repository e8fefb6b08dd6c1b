"""Job dependencies: the ``depends`` parameter every opcode has.

As Ganeti does it:

- rlib2 passes ``depends`` from a dict body to the opcode (baserlib.OpcodeResource
  ._GetDepends); the opcode check (opcodes_base.BuildJobDepCheck(True)) wants a list of
  ``[job_id, [final statuses]]`` where job_id is a non-negative int, a string of digits,
  or a negative int (relative) and the statuses are among canceled/success/error;
- luxid resolves a relative id against the new job's own id (JQueue.queuedJobFromOpCodes,
  Types.absoluteJobIdDep): -1 is the job submitted just before; a result below zero
  refuses the submission;
- luxid's scheduler leaves a job *queued* while any job it depends on is queued or
  running (JQScheduler.jobEligible); ids of jobs that do not exist do not hold it;
- once it runs, each opcode checks its dependencies (jqueue._CheckDependencies and
  _JobDependencyManager.CheckAndRegister): a dependency canceled when "canceled" is not
  accepted cancels the job; one that ended in a status not listed (an empty list accepts
  any) fails the opcode with OpExecError "Dependency job N finished with status 'S', not
  one of 'A, B' as required", and the opcodes after it with "Preceding opcode failed";
  an unknown job fails it with "Dependency error: Job N not found".
"""
from __future__ import annotations

import re

from . import constants as C

_DIGITS = re.compile(r"^\d+$")
CONTINUE, CANCEL, ERROR = "continue", "cancel", "error"


def _job_id(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True  # non-negative, or negative: relative
    return isinstance(value, str) and bool(_DIGITS.match(value))


def valid(value) -> bool:
    """BuildJobDepCheck(True): None, or a list of [job id, [final statuses]]."""
    if value is None:
        return True
    if not isinstance(value, list):
        return False
    for dep in value:
        if not (isinstance(dep, list) and len(dep) == 2 and _job_id(dep[0]) and isinstance(dep[1], list)
                and all(isinstance(s, str) and s in C.JOBS_FINALIZED for s in dep[1])):
            return False
    return True


def resolve(ops: list[dict], job_id: int) -> None:
    """Absolute job ids in every opcode's ``depends`` (in place), as luxid stores them."""
    for op in ops:
        deps = op.get("depends")
        if not deps:
            continue
        resolved = []
        for dep_id, statuses in deps:
            dep_id = int(dep_id)
            if dep_id < 0:
                dep_id += job_id
                if dep_id < 0:
                    raise ValueError("Invalid value for job ID ' %d'" % dep_id)
            resolved.append([dep_id, list(statuses)])
        op["depends"] = resolved


def job_dependencies(job) -> list[int]:
    """JQueue.getJobDependencies: the ids every opcode of the job depends on."""
    return [dep_id for op in job.ops for dep_id, _ in (op.input.get("depends") or [])]


def blocked(queue, job) -> bool:
    """JQScheduler.jobEligible, negated: a job it depends on is still queued or running."""
    for dep_id in job_dependencies(job):
        dep = queue.jobs.get(dep_id)
        if dep is not None and not dep.finalized:
            return True
    return False


def check(queue, job, op) -> tuple[str, str | None]:
    """jqueue._CheckDependencies for the opcode about to start: (result, message)."""
    for dep_id, statuses in op.input.get("depends") or []:
        if dep_id == job.id:
            return ERROR, "Job can't depend on itself"
        dep = queue.jobs.get(dep_id)
        if dep is None:
            return ERROR, "Dependency error: Job %s not found" % dep_id
        status = dep.status  # final: the job only started once its dependencies had ended
        if status == C.JOB_CANCELED and C.JOB_CANCELED not in statuses:
            return CANCEL, "Dependency job %s was cancelled" % dep_id
        if statuses and status not in statuses:
            return ERROR, ("Dependency job %s finished with status '%s', not one of '%s' as required"
                           % (dep_id, status, ", ".join(statuses)))
    return CONTINUE, None
