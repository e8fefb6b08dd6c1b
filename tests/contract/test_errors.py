"""Failures: each Ganeti error class as the right exception with Ganeti's message, and the
HTTP failures (401, 403, 404, 5xx, dropped connections, time-outs) as rapi.rst describes them."""
from __future__ import annotations

import time

import pytest

from orchestrator.rapi import (JobFailed, RapiBadRequest, RapiError, RapiNotFound, RapiUnauthorized,
                               RapiUnavailable, RapiUnsupported)

from .conftest import PASSWORD, READER, READER_PASSWORD, USER, admin, done, make_instance, spec


# --- job failures: the error classification of rapi.rst ``/2/jobs/[job_id]`` ---------------

def test_instance_exists(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_EXISTS: creating an existing instance fails with
    OpPrereqError already_exists and Ganeti's message."""
    make_instance(client, "dup.example.com")
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("dup.example.com")))
    e = err.value
    assert (e.error_class, e.ecode, e.status) == ("OpPrereqError", "already_exists", "error")
    assert e.message == "OpPrereqError: Instance 'dup.example.com' is already in the cluster"


def test_unknown_instance_read_is_404(client):
    """rapi.rst: ``/2/instances/[instance_name]`` GET of an unknown instance: 404 Not Found."""
    with pytest.raises(RapiNotFound) as err:
        client.instance("nosuch.example.com")
    assert err.value.code == 404 and "404" in err.value.message
    with pytest.raises(RapiNotFound):
        client.instance_tags("nosuch.example.com")


WRITES_ON_UNKNOWN = {
    "delete": lambda c, n: c.delete_instance(n),
    "startup": lambda c, n: c.startup(n),
    "shutdown": lambda c, n: c.shutdown(n),
    "reboot": lambda c, n: c.reboot(n),
    "modify": lambda c, n: c.modify(n, beparams={"vcpus": 2}),
    "rename": lambda c, n: c.rename_instance(n, "other", name_check=False),
    "info": lambda c, n: c.instance_info(n),
    "tags": lambda c, n: c.add_instance_tags(n, ["t"]),
}


@pytest.mark.parametrize("action", sorted(WRITES_ON_UNKNOWN))
def test_unknown_instance_job_fails_unknown_entity(client, action):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_NOENT: a job on an unknown instance is accepted
    (a job id) and fails with OpPrereqError unknown_entity "Instance '...' not known"."""
    job_id = WRITES_ON_UNKNOWN[action](client, "ghost.example.com")
    assert isinstance(job_id, int)
    with pytest.raises(JobFailed) as err:
        done(client, job_id)
    e = err.value
    assert (e.error_class, e.ecode) == ("OpPrereqError", "unknown_entity")
    assert e.message == "OpPrereqError: Instance 'ghost.example.com' not known"


def test_insufficient_memory_iallocator(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_NORES: no node has the memory (iallocator)."""
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("big1", memory=10_000_000)))
    e = err.value
    assert (e.error_class, e.ecode) == ("OpPrereqError", "insufficient_resources")
    assert "Can't compute nodes using iallocator 'hail'" in e.message and "FailMem" in e.message


def test_insufficient_memory_on_named_node(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_NORES: not enough memory on the named node."""
    pnode = sorted(cluster.nodes)[0]
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("big2", memory=10_000_000, pnode=pnode)))
    e = err.value
    assert e.ecode == "insufficient_resources"
    assert e.message.startswith(f"OpPrereqError: Not enough memory on node {pnode} for creating instance big2")


def test_insufficient_disk(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_NORES: not enough disk (named node, and iallocator)."""
    pnode = sorted(cluster.nodes)[0]
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("fat1", disk=100_000_000, pnode=pnode)))
    assert err.value.ecode == "insufficient_resources"
    assert f"Not enough disk space on target node {pnode}" in err.value.message
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("fat2", disk=100_000_000)))
    assert err.value.ecode == "insufficient_resources" and "FailDisk" in err.value.message


def test_instance_running_is_wrong_state(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_STATE: renaming a running instance."""
    make_instance(client, "run1")
    with pytest.raises(JobFailed) as err:
        done(client, client.rename_instance("run1", "run2", name_check=False))
    assert err.value.ecode == "wrong_state" and "Instance run1 is running, cannot rename" in err.value.message


def test_instance_not_running_is_wrong_state(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_STATE: changing the runtime memory of a stopped
    instance fails "Instance ... is not running" (lib/cmdlib/instance_set_params.py)."""
    make_instance(client, "stop1", start=False)
    with pytest.raises(JobFailed) as err:
        done(client, client.modify("stop1", runtime_mem=256))
    assert err.value.ecode == "wrong_state" and "Instance stop1 is not running" in err.value.message


def test_node_offline(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET, ECODE_STATE ("instance creation on an offline node"):
    power changes and creates on an offline node fail wrong_state."""
    inst = make_instance(client, "off1")
    admin(cluster, "POST", f"/sim/nodes/{inst['pnode']}", {"offline": True})
    assert client.instance("off1")["status"] == "ERROR_nodeoffline"
    assert client.node(inst["pnode"])["offline"] is True
    with pytest.raises(JobFailed) as err:
        done(client, client.shutdown("off1"))
    assert err.value.ecode == "wrong_state" and f"Can't use offline node: {inst['pnode']}" in err.value.message
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("off2", pnode=inst["pnode"])))
    assert err.value.ecode == "wrong_state" and "offline" in err.value.message


def test_failed_opcode_stops_the_job(client, cluster):
    """rapi.rst: ``/2/jobs/[job_id]`` GET: a failure's opresult is [class, [message, ecode]];
    job_error reports the first failed opcode."""
    cluster.faults.message = "disk <sda> failed & gone"
    cluster.faults.fail_next_jobs = 1
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("f1")))
    assert err.value.error_class == "OpExecError" and err.value.message == "OpExecError: disk <sda> failed & gone"


# --- HTTP failures ---------------------------------------------------------------------------

def test_401_bad_password(make_client, cluster):
    """rapi.rst: "Users and passwords": a wrong password is refused with 401, not retried."""
    bad = make_client(USER, "wrong-password")
    with pytest.raises(RapiUnauthorized) as err:
        bad.info()
    assert err.value.code == 401 and "401 Unauthorized" in err.value.message
    assert cluster.app.count("GET", "/2/info") == 1
    with pytest.raises(RapiUnauthorized) as err:
        bad.create_instance(spec("x1"))
    assert err.value.code == 401 and cluster.queue.jobs == {}
    with pytest.raises(RapiUnauthorized):
        make_client("nobody", PASSWORD).version()


def test_403_read_only_user_writes(make_client, client, cluster):
    """rapi.rst: "Users and passwords": a user without the write option may read but a write
    is 403 Forbidden, and no job is submitted."""
    reader = make_client(READER, READER_PASSWORD)
    assert reader.info()["name"] == cluster.name and reader.instances() == []
    attempts = [lambda: reader.create_instance(spec("ro1")), lambda: reader.startup("ro1"),
                lambda: reader.delete_instance("ro1"), lambda: reader.add_instance_tags("ro1", ["t"]),
                lambda: reader.create_network("ro", "10.0.0.0/24"), lambda: reader.cancel_job(1)]
    for attempt in attempts:
        with pytest.raises(RapiUnauthorized) as err:
            attempt()
        assert err.value.code == 403 and "403 Forbidden" in err.value.message
    assert client.jobs() == []


def test_404(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET and every ``[name]`` resource: unknown is 404, not retried."""
    for call in (lambda: client.job(424242), lambda: client.instance("none"), lambda: client.node("none"),
                 lambda: client.group("none"), lambda: client.network("none")):
        with pytest.raises(RapiNotFound) as err:
            call()
        assert err.value.code == 404 and err.value.explain


def test_5xx_read_is_retried_then_unavailable(client, cluster):
    """rapi.rst: "Protocol" (HTTP): a 502 on a read is retried by urllib3 with backoff, then
    RapiUnavailable carries the code and Ganeti's message."""
    cluster.faults.http_error_rate = 1.0
    cluster.faults.http_error_code = 502
    with pytest.raises(RapiUnavailable) as err:
        client.instances()
    assert err.value.code == 502 and "Simulated HTTP error" in err.value.message
    assert cluster.app.count("GET", "/2/instances") == 1 + client.read_retries
    cluster.faults.http_error_rate = 0.0
    assert client.instances() == []


@pytest.mark.parametrize("code", [500, 503, 504])
def test_5xx_codes_are_unavailable(make_client, cluster, code):
    """rapi.rst: "Protocol": 500, 503 (job queue full or drained) and 504 (master timeout) are
    transient: RapiUnavailable after the read's retries."""
    quick = make_client(read_retries=1)
    cluster.faults.http_error_rate = 1.0
    cluster.faults.http_error_code = code
    with pytest.raises(RapiUnavailable) as err:
        quick.info()
    assert err.value.code == code and cluster.app.count("GET", "/2/info") == 2


@pytest.mark.parametrize("code", [502, 503])
def test_5xx_write_is_not_retried(client, cluster, code):
    """rapi.rst: ``/2/instances`` POST answered 5xx: RapiUnavailable after exactly one request;
    the client never resends a write."""
    cluster.faults.http_error_rate = 1.0
    cluster.faults.http_error_code = code
    with pytest.raises(RapiUnavailable) as err:
        client.create_instance(spec("nr1"))
    assert err.value.code == code
    assert cluster.app.count("POST", "/2/instances") == 1
    with pytest.raises(RapiUnavailable):
        client.startup("nr1")
    assert cluster.app.count("PUT", "/2/instances/nr1/startup") == 1
    assert cluster.queue.jobs == {}


def test_write_timeout_is_not_retried(make_client, cluster):
    """rapi.rst: ``/2/instances`` POST: when the answer is late the write may still reach Ganeti;
    the client gives up with RapiUnavailable and never resends it, so exactly one job exists."""
    impatient = make_client(timeout=0.2)  # default read retries: reads would be retried
    cluster.faults.latency = 0.6
    started = time.monotonic()
    with pytest.raises(RapiUnavailable) as err:
        impatient.create_instance(spec("late1"))
    assert time.monotonic() - started < 0.6 and "no answer within 0.2s" in err.value.message
    cluster.faults.latency = 0.0
    deadline = time.monotonic() + 5
    while not cluster.queue.jobs and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert cluster.app.count("POST", "/2/instances") == 1 and len(cluster.queue.jobs) == 1
    job_id = next(iter(cluster.queue.jobs))
    assert done(make_client(), job_id)["status"] == "success"  # the one write did its work


def test_read_timeout_is_unavailable(make_client, cluster):
    """rapi.rst: ``/2/info`` GET slower than the client's timeout: RapiUnavailable after the retries."""
    impatient = make_client(timeout=0.2, read_retries=1)
    cluster.faults.latency = 1.0
    started = time.monotonic()
    with pytest.raises(RapiUnavailable) as err:
        impatient.info()
    assert "no answer within 0.2s" in err.value.message
    assert time.monotonic() - started < 1.0


def test_dropped_connections(make_client, cluster):
    """rapi.rst: "Protocol": a connection closed without an answer is RapiUnavailable, for reads
    (after retries) and writes (no retry, nothing submitted)."""
    client = make_client(read_retries=2)
    cluster.faults.drop_rate = 1.0
    with pytest.raises(RapiUnavailable):
        client.jobs()
    with pytest.raises(RapiUnavailable):
        client.create_instance(spec("drop1"))
    cluster.faults.drop_rate = 0.0
    assert client.jobs() == []


def test_cluster_down_and_up(make_client, cluster):
    """rapi.rst: "Introduction" (the ganeti-rapi daemon on the master): when it does not listen,
    every call is RapiUnavailable; once it is back the same client works."""
    client = make_client(read_retries=1)
    make_instance(client, "d1")
    cluster.down()
    for call in (client.version, client.instances, lambda: client.startup("d1")):
        with pytest.raises(RapiUnavailable) as err:
            call()
        assert "cannot reach cluster" in err.value.message
    cluster.up()
    assert client.instance("d1")["name"] == "d1"


def test_400_and_501(client, cluster):
    """rapi.rst: "PUT or POST?" (use each resource's documented method): an undocumented method
    is 501 Not Implemented (RapiUnsupported, not retried); a bad body is 400."""
    with pytest.raises(RapiUnsupported) as err:
        client._request("POST", "/2/info")
    assert err.value.code == 501 and not isinstance(err.value, RapiUnavailable)
    assert cluster.app.count("POST", "/2/info") == 1
    with pytest.raises(RapiBadRequest) as err:
        client.create_instance({"mode": "create"})
    assert err.value.code == 400


def test_exceptions_share_a_base(client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET: every failure the client raises is a RapiError."""
    for cls in (JobFailed, RapiBadRequest, RapiNotFound, RapiUnauthorized, RapiUnavailable, RapiUnsupported):
        assert issubclass(cls, RapiError)
