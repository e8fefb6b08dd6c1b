"""Jobs: list, get, cancel, long poll, and every job state of ganeti(7)."""
from __future__ import annotations

import time

import pytest

from orchestrator.ganeti import FINAL_JOB_STATUSES
from orchestrator.rapi import (JobFailed, JobTimeout, RapiBadRequest, RapiNotFound,
                               RapiUnauthorized, job_error)

from .conftest import J_FIELDS, J_FIELDS_BULK, READER, READER_PASSWORD, done, make_instance, spec, wait_status


def _ts(value) -> bool:
    """Ganeti's timestamps are [seconds, microseconds]."""
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)


def test_jobs_bulk_and_ids(client):
    """rapi.rst: ``/2/jobs`` GET: ids and uris; with bulk, J_FIELDS_BULK (no opresult, no oplog)."""
    first = client.create_instance(spec("j1"))
    second = client.startup("j1")
    done(client, first), done(client, second)
    assert client.jobs(bulk=False) == [first, second]
    bulk = client.jobs()
    assert [j["id"] for j in bulk] == [first, second]
    for job in bulk:
        assert set(job) == set(J_FIELDS_BULK)
        assert job["status"] == "success" and job["opstatus"] == ["success"]
        assert _ts(job["received_ts"]) and _ts(job["start_ts"]) and _ts(job["end_ts"])
    assert bulk[0]["summary"] == ["INSTANCE_CREATE(j1)"] and bulk[0]["ops"][0]["OP_ID"] == "OP_INSTANCE_CREATE"


def test_job(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET: J_FIELDS, ids increasing, timestamps in order."""
    first = client.create_instance(spec("j2"))
    job = done(client, first)
    assert set(job) == set(J_FIELDS)
    assert job["id"] == first and job["status"] == "success"
    assert job["opstatus"] == ["success"] and len(job["opresult"]) == 1 and len(job["oplog"]) == 1
    assert job["received_ts"] <= job["start_ts"] <= job["end_ts"]
    messages = [entry[3] for entry in job["oplog"][0]]
    assert any("Selected nodes" in m for m in messages)
    assert client.startup("j2") > first
    with pytest.raises(RapiNotFound):
        client.job(999999)


def test_job_state_queued_then_canceled(make_cluster, make_client):
    """rapi.rst: ``/2/jobs/[job_id]`` DELETE cancels a job still queued; the job ends canceled
    and every opcode's result says so."""
    cluster = make_cluster(pickup_delay=0.5)
    client = make_client(url=cluster.url)
    job_id = client.create_instance(spec("q1"))
    job = client.job(job_id)
    assert job["status"] == "queued" and job["opstatus"] == ["queued"] and job["start_ts"] is None
    ok, message = client.cancel_job(job_id)
    assert ok is True and str(job_id) in message
    job = wait_status(client, job_id, "canceled")
    assert job["opstatus"] == ["canceled"] and _ts(job["end_ts"])
    with pytest.raises(JobFailed) as err:
        client.wait_for_job(job_id)
    assert err.value.status == "canceled" and err.value.job_id == job_id
    assert "canceled" in err.value.message.lower()
    time.sleep(0.6)  # past the pick-up delay: a canceled create never runs
    assert client.instances(bulk=False) == []


def test_job_states_running_waiting_canceled_success(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET shows running, and waiting while another job holds the
    instance's lock; ``/2/jobs/[job_id]`` DELETE cancels the waiting one but not the running one."""
    make_instance(client, "lk1")
    cluster.faults.op_delay = 0.8  # the next opcode runs long, holding the instance lock
    holder = client.shutdown("lk1")
    wait_status(client, holder, "running")
    cluster.faults.op_delay = 0.0
    waiter = client.startup("lk1")
    job = wait_status(client, waiter, "waiting")
    assert job["opstatus"] == ["waiting"] and _ts(job["start_ts"])
    assert client.job(holder)["status"] == "running"
    ok, message = client.cancel_job(holder)
    assert ok is False and message
    ok, message = client.cancel_job(waiter)
    assert ok is True and message
    job = wait_status(client, waiter, FINAL_JOB_STATUSES)
    assert job["status"] == "canceled" and job["opstatus"] == ["canceled"]
    assert job_error(job).status == "canceled"
    assert done(client, holder)["status"] == "success"
    assert client.instance("lk1")["status"] == "ADMIN_down"  # the canceled startup never ran


def test_job_state_error_and_later_opcodes(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET of a failed job: status error, opresult [class, [msg, ecode]]."""
    cluster.faults.fail_next_jobs = 1
    job_id = client.create_instance(spec("err1"))
    with pytest.raises(JobFailed) as err:
        client.wait_for_job(job_id)
    assert err.value.status == "error" and err.value.error_class == "OpExecError"
    assert "Simulated failure" in err.value.message
    job = client.job(job_id)
    assert job["status"] == "error" and job["opstatus"] == ["error"]
    assert job["opresult"][0][0] == "OpExecError" and isinstance(job["opresult"][0][1], list)
    assert client.instances(bulk=False) == []  # a failed create leaves nothing behind


def test_cancel_finished_job(client):
    """rapi.rst: ``/2/jobs/[job_id]`` DELETE of a job that already ran: not canceled."""
    job_id = client.create_instance(spec("c1"))
    done(client, job_id)
    ok, message = client.cancel_job(job_id)
    assert ok is False and message
    assert client.job(job_id)["status"] == "success"


def test_wait_for_job_change_reports_changes_and_log(client):
    """rapi.rst: ``/2/jobs/[job_id]/wait`` GET returns job_info for the fields asked and the log
    entries after previous_log_serial, until the job is final."""
    job_id = client.create_instance(spec("w1"))
    info, serial, entries = None, None, []
    for _ in range(50):
        change = client.wait_for_job_change(job_id, ["status", "opstatus"], info, serial)
        assert change is not None
        assert set(change) == {"job_info", "log_entries"}
        info = change["job_info"]
        assert len(info) == 2 and info[1] == [info[0]]  # one opcode: its status is the job's
        for entry in change["log_entries"]:
            assert serial is None or entry[0] > serial
            serial = entry[0]
            entries.append(entry)
        if info[0] in FINAL_JOB_STATUSES:
            break
    assert info == ["success", ["success"]]
    assert entries and all(_ts(e[1]) and e[2] == "message" and isinstance(e[3], str) for e in entries)
    assert [e[0] for e in entries] == sorted({e[0] for e in entries})


def test_wait_for_job_change_blocks_until_change(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]/wait`` GET waits for a change of the watched fields."""
    make_instance(client, "w2")
    cluster.faults.op_delay = 1.0
    job_id = client.reboot("w2", reboot_type="hard")
    wait_status(client, job_id, "running")
    cluster.faults.op_delay = 0.0
    started = time.monotonic()
    change = client.wait_for_job_change(job_id, ["status"], ["running"], None)
    assert change["job_info"] == ["success"]
    assert time.monotonic() - started > 0.2


def test_wait_for_job_change_none_when_unchanged(make_cluster, make_client):
    """rapi.rst: ``/2/jobs/[job_id]/wait`` GET returns None if nothing changed in time."""
    cluster = make_cluster(wait_timeout=0.3)
    client = make_client(url=cluster.url)
    make_instance(client, "w3")
    cluster.faults.op_delay = 1.5
    job_id = client.shutdown("w3")
    wait_status(client, job_id, "running")
    assert client.wait_for_job_change(job_id, ["status"], ["running"], None) is None
    with pytest.raises(JobTimeout):
        client.wait_for_job(job_id, timeout=0.2)


def test_wait_for_job_change_errors(client, make_client):
    """rapi.rst: ``/2/jobs/[job_id]/wait`` GET: fields must be a list (400), the job must exist
    (404), and the resource needs write access (403 for a read-only user)."""
    job_id = client.create_instance(spec("w4"))
    with pytest.raises(RapiBadRequest) as err:
        client.wait_for_job_change(job_id, "status")
    assert "'fields' parameter should be a list" in err.value.message
    with pytest.raises(RapiNotFound):
        client.wait_for_job_change(999999, ["status"])
    reader = make_client(READER, READER_PASSWORD)
    assert reader.job(job_id)["id"] == job_id  # reading the job is allowed
    with pytest.raises(RapiUnauthorized) as err:
        reader.wait_for_job_change(job_id, ["status"])
    assert err.value.code == 403
