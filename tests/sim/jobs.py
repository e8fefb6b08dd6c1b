"""What the simulator tests ask of a job they submitted: that it ended, and how."""
from __future__ import annotations


def succeeded(rapi, job_id) -> dict:
    """The job, which must have ended in success."""
    job = rapi.wait_job(job_id)
    assert job["status"] == "success", job
    return job


def failed(rapi, job_id):
    """The error of the job's first opcode, which must have ended in error."""
    job = rapi.wait_job(job_id)
    assert job["status"] == "error", job
    return job["opresult"][0]


def log_messages(job) -> list[str]:
    """The messages of the job's first opcode's log."""
    return [entry[3] for entry in job["oplog"][0]]
