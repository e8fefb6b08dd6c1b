"""Job dependencies (``depends`` in a RAPI write's body), as Ganeti handles them: rlib2 passes
them on (baserlib.OpcodeResource._GetDepends), opcodes_base.BuildJobDepCheck validates them,
luxid resolves relative ids and keeps a job queued while a job it depends on is queued or
running (JQueue.queuedJobFromOpCodes, JQScheduler.jobEligible), and the job processor checks
the final statuses (jqueue._CheckDependencies, _JobDependencyManager.CheckAndRegister)."""
from __future__ import annotations

import time

import pytest

from .conftest import PASSWORD, USER, Client


@pytest.fixture
def slow(fleet):
    cluster = fleet.clusters[1]
    rapi = Client(cluster.url, (USER, PASSWORD))
    job = rapi.wait_job(rapi.create("dep1", memory=256))
    assert job["status"] == "success"
    cluster.queue.job_duration = 0.4
    return rapi


def _status(rapi, job_id):
    return rapi.get(f"/2/jobs/{job_id}").json()


def test_waits_queued_then_runs(slow):
    rapi = slow
    first = rapi.put("/2/instances/dep1/shutdown").json()
    second = rapi.put("/2/instances/dep1/startup", json={"depends": [[first, ["success"]]]}).json()
    time.sleep(0.15)
    job = _status(rapi, second)
    assert _status(rapi, first)["status"] == "running"
    # luxid does not start it: still queued, not started
    assert job["status"] == "queued" and job["opstatus"] == ["queued"] and job["start_ts"] is None
    assert job["ops"][0]["depends"] == [[first, ["success"]]]
    assert rapi.wait_job(second)["status"] == "success"
    assert _status(rapi, second)["start_ts"] >= _status(rapi, first)["end_ts"]
    assert rapi.get("/2/instances/dep1").json()["status"] == "running"


def test_wrong_final_status_fails_the_job(slow):
    rapi = slow
    first = rapi.put("/2/instances/dep1/shutdown").json()
    second = rapi.put("/2/instances/dep1/startup", json={"depends": [[first, ["error", "canceled"]]]}).json()
    job = rapi.wait_job(second)
    assert job["status"] == "error" and job["opstatus"] == ["error"]
    assert job["opresult"] == [["OpExecError", ["Dependency job %d finished with status 'success', not one of"
                                                " 'error, canceled' as required" % first]]]
    assert rapi.get("/2/instances/dep1").json()["status"] == "ADMIN_down"  # the startup never ran


def test_accepted_error_and_any_status(slow):
    rapi = slow
    failing = rapi.put("/2/instances/nosuch/startup").json()
    accepted = rapi.put("/2/instances/dep1/shutdown", json={"depends": [[failing, ["error"]]]}).json()
    anything = rapi.put("/2/instances/dep1/startup", json={"depends": [[accepted, []]]}).json()
    assert rapi.wait_job(failing)["status"] == "error"
    assert rapi.wait_job(accepted)["status"] == "success"
    assert rapi.wait_job(anything)["status"] == "success"


def test_canceled_dependency_cancels_unless_accepted(slow):
    rapi = slow
    busy = rapi.put("/2/instances/dep1/shutdown").json()
    victim = rapi.put("/2/instances/dep1/startup").json()  # waits for the instance lock
    dependent = rapi.put("/2/tags?tag=t1", json={"depends": [[victim, ["success"]]]}).json()
    tolerant = rapi.put("/2/tags?tag=t2", json={"depends": [[victim, ["canceled"]]]}).json()
    time.sleep(0.1)
    ok, _msg = rapi.delete(f"/2/jobs/{victim}").json()
    assert ok is True
    assert rapi.wait_job(victim)["status"] == "canceled"
    job = rapi.wait_job(dependent)
    assert job["status"] == "canceled" and job["opresult"] == ["Job canceled by request"]
    assert rapi.wait_job(tolerant)["status"] == "success"
    assert rapi.get("/2/tags").json() == ["t2"]
    assert rapi.wait_job(busy)["status"] == "success"


def test_relative_and_unknown_dependencies(slow):
    rapi = slow
    first = rapi.put("/2/instances/dep1/shutdown").json()
    # a negative id is relative to the new job's own id: -1 is the job just before
    second = rapi.put("/2/instances/dep1/startup", json={"depends": [[-1, ["success"]]]}).json()
    assert second == first + 1 and _status(rapi, second)["ops"][0]["depends"] == [[first, ["success"]]]
    assert rapi.wait_job(second)["status"] == "success"
    # resolved below zero: luxid refuses the submission (makeJobId)
    r = rapi.put("/2/tags?tag=z", json={"depends": [[-(second + 5), []]]})
    assert r.status_code == 500 and r.json()["message"] == "Invalid value for job ID &#x27; -4&#x27;"
    # a job that does not exist does not hold the job, which then fails
    job = rapi.wait_job(rapi.put("/2/tags?tag=x", json={"depends": [[second + 1000, []]]}).json())
    assert job["opresult"] == [["OpExecError", ["Dependency error: Job %d not found" % (second + 1000)]]]
    # digits as a string are an id too
    job = rapi.wait_job(rapi.put("/2/tags?tag=y", json={"depends": [[str(second), ["success"]]]}).json())
    assert job["status"] == "success" and job["ops"][0]["depends"] == [[second, ["success"]]]


def test_depends_is_validated_and_passed_by_every_opcode_resource(slow, fleet):
    rapi = slow
    for deps in ("5", [5], [[5]], [[5, "success"]], [[5, ["running"]]], [["five", []]], [[True, []]],
                 "", 0, {}, False):
        r = rapi.put("/2/instances/dep1/shutdown", json={"depends": deps})
        assert r.status_code == 400 and "OP_INSTANCE_SHUTDOWN.depends" in r.json()["message"], deps
    for deps in ("", 0, {}, False):  # a body passed through whole keeps them too
        r = rapi.post("/2/networks", json={"network_name": "dep-net", "network": "10.9.0.0/24", "depends": deps})
        assert r.status_code == 400 and "OP_NETWORK_ADD.depends" in r.json()["message"], deps
    # instance create (body with __version__), network add, instance modify and delete all take it
    gate = rapi.put("/2/instances/dep1/shutdown").json()
    body = {"__version__": 1, "mode": "create", "instance_name": "dep2", "disk_template": "plain",
            "disks": [{"size": 100}], "nics": [{}], "os_type": "x", "name_check": False, "ip_check": False,
            "beparams": {"maxmem": 128, "minmem": 128}, "depends": [[gate, ["success"]]]}
    jobs = [rapi.post("/2/instances", json=body).json(),
            rapi.post("/2/networks", json={"name": "dn", "network": "10.3.0.0/28", "depends": [[gate, []]]}).json(),
            rapi.put("/2/instances/dep1/modify", json={"beparams": {"vcpus": 2}, "depends": [[gate, []]]}).json()]
    time.sleep(0.1)
    assert [_status(rapi, j)["status"] for j in jobs] == ["queued"] * 3
    for j in jobs:
        assert rapi.wait_job(j)["status"] == "success"
        assert _status(rapi, j)["ops"][0]["depends"] == [[gate, ["success"] if j == jobs[0] else []]]
    job = rapi.wait_job(rapi.delete("/2/instances/dep2", json={"depends": [[jobs[0], ["success"]]]}).json())
    assert job["status"] == "success" and job["ops"][0]["depends"] == [[jobs[0], ["success"]]]
