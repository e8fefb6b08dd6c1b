"""Races a user can start with parallel requests: retries, deletes, actions, suspensions and
creates fired at once by real HTTP clients against the API served on a real threaded
server, with a real worker and the simulated clusters; and what a retry resumes.

What is asserted is what a user sees: the status codes (exactly one request wins), the
jobs the cluster received (one chain), the operation's end and the server's status.
"""
from __future__ import annotations

import datetime as dt
import os
import types
from collections import Counter

import pytest
import requests
from sqlalchemy import select, text

from orchestrator import operations, steps
from orchestrator.ganeti import OP_TAG_PREFIX, op_tag
from orchestrator.models import Operation, Server, utcnow
from orchestrator.rapi import RapiNotFound
from orchestrator.services import handover
from tests.conftest import wait_for
from tests.integration.helpers import (RAPI_AUTH, act, active_server, clear_faults, fail_next_jobs, instances_named,
                                       operation, set_faults, wait_operation)
from tests.security.conftest import at_once

pytestmark = pytest.mark.integration

STACKS = pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)


# --- what the simulated clusters received --------------------------------------------------

def _reasons(job: dict) -> list[str]:
    return [entry[1] for op in job.get("ops") or [] for entry in op.get("reason") or [] if len(entry) > 1]


def cluster_jobs(stack) -> list[dict]:
    """Every job every simulated cluster holds (GET /2/jobs?bulk=1), with its cluster's name."""
    jobs = []
    for cluster in stack.sim.clusters:
        response = requests.get(f"{cluster.url}/2/jobs", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10)
        response.raise_for_status()
        jobs += [dict(job, cluster=cluster.name) for job in response.json()]
    return jobs


def jobs_of_operation(stack, op_id: int) -> list[dict]:
    """The jobs carrying operation `op_id`'s reason, whatever the attempt that sent them."""
    tag = f"{OP_TAG_PREFIX}{op_id}"
    return [job for job in cluster_jobs(stack)
            if any(r == tag or r.startswith(tag + ":") for r in _reasons(job))]


def jobs_on_instance(stack, name: str, opcode: str) -> list[dict]:
    return [job for job in cluster_jobs(stack)
            if any(op.get("OP_ID") == opcode and op.get("instance_name") == name for op in job["ops"])]


def archive_job(stack, job_id: int, reason: str) -> None:
    """The job leaves its cluster's queue (as Ganeti's archive does): RAPI answers 404 for it."""
    for cluster in stack.sim.clusters:
        with cluster.cluster.lock:
            job = cluster.queue.jobs.get(job_id)
            if job is not None and any(reason in [e[1] for e in op.input.get("reason", [])] for op in job.ops):
                del cluster.queue.jobs[job_id]
                return
    raise AssertionError(f"job {job_id} with reason {reason} is on no cluster")


def _ops_of(stack, server_id: int, kind: str) -> list[Operation]:
    with stack.session() as session:
        return list(session.scalars(select(Operation).where(Operation.server_id == server_id,
                                                            Operation.kind == kind).order_by(Operation.id)))


def _failed_action(stack, server_id: int, **body) -> dict:
    """An action whose Ganeti job fails: its operation, FAILED."""
    fail_next_jobs(stack, 1)
    try:
        response = act(stack, server_id, **body)
        assert response.status_code == 202, response.json
        op = wait_operation(stack, response.json["id"])
    finally:
        clear_faults(stack)
    assert op["status"] == "FAILED" and op["job_status"] == "error", op
    return op


def _flavor(stack, name: str, cpu: int, ram: int, disk: int) -> int:
    response = stack.client.post("/api/v1/flavors", json={"name": name, "cpu": cpu, "ram": ram, "disk": disk},
                                 headers=stack.admin_headers)
    if response.status_code == 201:
        return response.json["id"]
    return next(f["id"] for f in stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json
                if f["name"] == name)


# --- 1. a retry is atomic, and a replay adopts no job of an earlier attempt ------------------

@STACKS
def test_parallel_retries_of_one_failed_operation_start_one_chain(stack, live):
    server = active_server(stack, name="race-retry")
    failed = _failed_action(stack, server["id"], action="reboot")
    # Three bursts of retries: the first two retried jobs fail again, the last one succeeds.
    # Each retried job runs long enough for the whole burst to land while it is in flight (a
    # retry after it failed again would be a new, rightful one).
    for burst, fails in enumerate([True, True, False]):
        set_faults(stack, op_delay=3.0)
        if fails:
            fail_next_jobs(stack, 1)
        try:
            responses = at_once(50, lambda: requests.post(f"{live}/api/v1/operations/{failed['id']}/retry",
                                                          headers=stack.admin_headers, timeout=60))
            codes = Counter(r.status_code for r in responses)
            assert codes == Counter({202: 1, 409: 49}), (burst, codes)
            assert all("FAILED" in r.json()["message"] or "in flight" in r.json()["message"]
                       for r in responses if r.status_code == 409)
            done = wait_operation(stack, failed["id"])
        finally:
            clear_faults(stack)
        assert done["status"] == ("FAILED" if fails else "SUCCEEDED"), (burst, done)

    jobs = jobs_of_operation(stack, failed["id"])  # one new chain, one new job, per burst
    assert sorted(job["status"] for job in jobs) == ["error"] * 3 + ["success"], jobs
    assert done["job_id"] not in [job["id"] for job in jobs if job["status"] == "error"]
    assert stack.server(server["id"])["status"] == "ACTIVE"


@STACKS
def test_a_replay_after_a_retry_never_adopts_the_job_of_the_failed_attempt(stack):
    server = active_server(stack, name="race-replay")
    failed = _failed_action(stack, server["id"], action="reboot")
    with stack.session() as session:
        op = operations.reopen(session, session.get(Operation, failed["id"]))
        # As if the retried chain had made its write durable and died before recording a job:
        # its replay looks for its own job, and must not take the failed attempt's for it.
        op.submit_started_at = utcnow() - dt.timedelta(hours=1)
        session.commit()
    with stack.session() as session:
        steps.submit(session, failed["id"], stack.ctx)
    with stack.session() as session:
        op = session.get(Operation, failed["id"])
        assert (op.step, op.status) == ("poll", "RUNNING")
        assert op.job_id != failed["job_id"], "the replay adopted the failed attempt's job"
        handover.run(stack.ctx, op)
    assert wait_operation(stack, failed["id"])["status"] == "SUCCEEDED"
    assert len(jobs_of_operation(stack, failed["id"])) == 2


# --- 2. DELETE is idempotent while a destroy is in flight -----------------------------------

@STACKS
def test_parallel_deletes_of_one_server_write_one_destroy(stack, live):
    server = active_server(stack, name="race-delete")
    name = f"snf-{server['id']}"
    set_faults(stack, op_delay=5.0)  # the destroy stays in flight while every request lands
    try:
        responses = at_once(50, lambda: requests.delete(f"{live}/api/v1/servers/{server['id']}",
                                                        headers=stack.admin_headers, timeout=60))
    finally:
        clear_faults(stack)
    codes = Counter(r.status_code for r in responses)
    assert codes == Counter({202: 50}), (codes, [r.json() for r in responses if r.status_code != 202][:3])
    op_ids = {r.json()["id"] for r in responses}
    assert len(op_ids) == 1, op_ids
    destroys = _ops_of(stack, server["id"], "destroy")
    assert [op.id for op in destroys] == list(op_ids), [(op.id, op.status, op.error) for op in destroys]

    assert wait_operation(stack, op_ids.pop())["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "DELETED"
    assert instances_named(stack, name) == []
    assert len(jobs_on_instance(stack, name, "OP_INSTANCE_REMOVE")) == 1


@STACKS
def test_a_delete_while_a_destroy_is_in_flight_returns_it_and_writes_nothing(stack):
    server = active_server(stack, name="race-delete-again")
    set_faults(stack, op_delay=3.0)
    try:
        first = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
        again = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
    finally:
        clear_faults(stack)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json["id"] == first.json["id"]
    assert again.json["status"] in ("PENDING", "RUNNING")
    assert [op.id for op in _ops_of(stack, server["id"], "destroy")] == [first.json["id"]]
    assert wait_operation(stack, first.json["id"])["status"] == "SUCCEEDED"
    later = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
    assert later.status_code == 409 and "deleted" in later.json["message"]


# --- the same class of race elsewhere -------------------------------------------------------

@STACKS
@pytest.mark.parametrize("action,opcode", [("reboot", "OP_INSTANCE_REBOOT"), ("shutdown", "OP_INSTANCE_SHUTDOWN")])
def test_parallel_actions_on_one_server_start_one(stack, live, action, opcode):
    server = active_server(stack, name=f"race-{action}")
    name = f"snf-{server['id']}"
    before = len(jobs_on_instance(stack, name, opcode))
    set_faults(stack, op_delay=2.0)
    try:
        responses = at_once(20, lambda: requests.post(f"{live}/api/v1/servers/{server['id']}/actions",
                                                      json={"action": action}, headers=stack.admin_headers,
                                                      timeout=60))
    finally:
        clear_faults(stack)
    codes = Counter(r.status_code for r in responses)
    assert codes == Counter({202: 1, 409: 19}), codes
    winner = next(r.json() for r in responses if r.status_code == 202)
    assert all(f"operation {winner['id']}" in r.json()["message"] for r in responses if r.status_code == 409)
    assert wait_operation(stack, winner["id"])["status"] == "SUCCEEDED"
    assert len(_ops_of(stack, server["id"], action)) == 1
    assert len(jobs_on_instance(stack, name, opcode)) == before + 1


@STACKS
def test_parallel_suspensions_record_one_each(stack, live):
    server = active_server(stack, name="race-suspend")
    url = f"{live}/api/v1/servers/{server['id']}"
    patched = at_once(20, lambda: requests.patch(url, json={"suspended": True}, headers=stack.admin_headers,
                                                 timeout=60))
    assert Counter(r.status_code for r in patched) == Counter({200: 20})
    assert all(r.json()["suspended"] is True for r in patched)
    assert len(_ops_of(stack, server["id"], "suspend")) == 1

    unsuspended = at_once(20, lambda: requests.post(f"{url}/actions", json={"action": "unsuspend"},
                                                    headers=stack.admin_headers, timeout=60))
    codes = Counter(r.status_code for r in unsuspended)
    assert codes == Counter({202: 1, 409: 19}), codes
    assert len(_ops_of(stack, server["id"], "unsuspend")) == 1
    assert stack.server(server["id"])["suspended"] is False


@STACKS
def test_parallel_creates_each_make_one_instance(stack, live):
    responses = at_once(20, lambda: requests.post(f"{live}/api/v1/servers",
                                                  json={"name": "race-create", "flavor_id": 1, "image_id": 1},
                                                  headers=stack.admin_headers, timeout=60))
    assert Counter(r.status_code for r in responses) == Counter({202: 20})
    created = [r.json() for r in responses]
    assert len({c["id"] for c in created}) == 20 and len({c["operation"]["id"] for c in created}) == 20
    for c in created:
        assert wait_operation(stack, c["operation"]["id"], timeout=120)["status"] == "SUCCEEDED"
    for c in created:
        assert stack.server(c["id"])["status"] == "ACTIVE"
        assert len(instances_named(stack, f"snf-{c['id']}")) == 1
        assert len(jobs_of_operation(stack, c["operation"]["id"])) == 1


# --- 3. a retry after the job vanished resubmits ----------------------------------------------

@STACKS
def test_a_retry_after_the_job_vanished_submits_a_new_job(stack):
    server = active_server(stack, name="race-vanish")
    set_faults(stack, op_delay=2.0)
    try:
        response = act(stack, server["id"], action="reboot")
        assert response.status_code == 202
        op_id = response.json["id"]
        job_id = wait_for(lambda: operation(stack, op_id)["job_id"], 20, what="the reboot's job id")
        archive_job(stack, job_id, op_tag(op_id))
    finally:
        clear_faults(stack)
    failed = wait_operation(stack, op_id)
    assert failed["status"] == "FAILED" and f"cannot follow job {job_id}" in failed["error"], failed

    retried = stack.client.post(f"/api/v1/operations/{op_id}/retry", headers=stack.admin_headers)
    assert retried.status_code == 202, retried.json
    done = wait_operation(stack, op_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["job_id"] not in (None, job_id)
    assert stack.server(server["id"])["status"] == "ACTIVE"


# --- 4. a retried reboot or resize shows its task ---------------------------------------------

@STACKS
@pytest.mark.parametrize("kind", ["reboot", "resize"])
def test_a_retried_action_shows_its_task_while_in_flight(stack, kind):
    server = active_server(stack, name=f"race-task-{kind}")
    body: dict = {"action": kind}
    rest = "ACTIVE"
    if kind == "resize":
        shutdown = act(stack, server["id"], action="shutdown")
        assert wait_operation(stack, shutdown.json["id"])["status"] == "SUCCEEDED"
        body["flavor_id"] = _flavor(stack, "race-c2r2048d10", 2, 2048, 10)
        rest = "STOPPED"
    failed = _failed_action(stack, server["id"], **body)
    assert stack.server(server["id"])["status"] == rest

    set_faults(stack, op_delay=2.0)
    try:
        retried = stack.client.post(f"/api/v1/operations/{failed['id']}/retry", headers=stack.admin_headers)
        assert retried.status_code == 202, retried.json
        assert stack.server(server["id"])["status"] == kind.upper()
        wait_for(lambda: operation(stack, failed["id"])["step"] == "poll", 20, what="the retried job")
        assert stack.server(server["id"])["status"] == kind.upper()
    finally:
        clear_faults(stack)
    assert wait_operation(stack, failed["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == rest


# --- the steps themselves, on a database of their own and a cluster that is a stand-in ------------

class FakeCluster:
    """The RAPI calls the steps make, answered from lists: jobs (bulk), one job, instances."""

    def __init__(self, jobs=(), instances=()):
        self.jobs_list = list(jobs)
        self.instances = {i["name"]: i for i in instances}
        self.submitted: list[tuple[str, str]] = []

    def jobs(self, bulk=True):
        return self.jobs_list

    def job(self, job_id):
        for job in self.jobs_list:
            if job["id"] == job_id:
                return job
        raise RapiNotFound(f"GET /2/jobs/{job_id}: 404 Not Found", code=404)

    def instance(self, name):
        if name not in self.instances:
            raise RapiNotFound(f"GET /2/instances/{name}: 404 Not Found", code=404)
        return self.instances[name]

    def _submit(self, what, reason):
        self.submitted.append((what, reason))
        job_id = 100 + len(self.submitted)
        self.jobs_list.append({"id": job_id, "status": "queued", "ops": [{"reason": [["gnt:user", reason, 0]]}]})
        return job_id

    def reboot(self, name, reboot_type="soft", reason=None):
        return self._submit("reboot", reason)

    def create_instance(self, spec, reason=None):
        return self._submit("create", reason)


def _job(job_id: int, reason: str, status: str = "success") -> dict:
    return {"id": job_id, "status": status, "ops": [{"reason": [["gnt:user", reason, 0]]}]}


@pytest.fixture
def db(db_url):
    from orchestrator import demo
    from orchestrator.db import get_sessionmaker

    with get_sessionmaker(db_url)() as session:
        demo.seed(session, env={"SIM_CLUSTERS": "1"})
        session.add(Server(id=1, user_id="u", name="s", flavor_id=1, image_id=1, backend_id=1,
                           operstate="STARTED", nics=[]))
        session.commit()
        yield session


def _ctx(cluster: FakeCluster):
    from tests.conftest import context_for

    # No create is submitted through it: nothing reads an installer's config (`configs`).
    return types.SimpleNamespace(settings=context_for("sqlite://").settings, cluster=lambda backend: cluster,
                                 configs=None)


def test_the_reason_carries_the_attempt_and_generation_0_keeps_the_old_format():
    assert op_tag(7) == op_tag(7, 0) == "orchestrator:op:7"
    assert op_tag(7, 2) == "orchestrator:op:7:2"
    old, retried = Operation(id=7, kind="reboot"), Operation(id=7, kind="reboot", generation=2)
    assert old.reason == "orchestrator:op:7" and retried.reason == "orchestrator:op:7:2"
    assert Operation(id=7, kind="reboot", generation=None).reason == "orchestrator:op:7"  # a row from before


def test_find_own_job_reads_the_current_attempt_only():
    old = Operation(id=7, kind="reboot", generation=0)
    again = Operation(id=7, kind="reboot", generation=1)
    cluster = FakeCluster([_job(3, "orchestrator:op:7", "error"), _job(4, "orchestrator:op:17")])
    assert steps.find_own_job(cluster, old, "snf-1") == (3, True)  # an in-flight operation from before
    assert steps.find_own_job(cluster, again, "snf-1") == (None, False)
    cluster.jobs_list.append(_job(9, "orchestrator:op:7:1"))
    assert steps.find_own_job(cluster, again, "snf-1") == (9, True)

    create = Operation(id=7, kind="create", generation=1)
    tagged = FakeCluster([], [{"name": "snf-1", "tags": ["orchestrator:op:7"]}])
    assert steps.find_own_job(tagged, create, "snf-1") == (None, False)  # made by another attempt
    tagged.instances["snf-1"]["tags"] = ["orchestrator:op:7:1"]
    assert steps.find_own_job(tagged, create, "snf-1") == (None, True)


def test_a_second_chain_never_sends_a_second_write_while_the_first_is_sending(db, db_url):
    import threading

    from orchestrator.db import get_sessionmaker

    db.add(Operation(id=5, kind="reboot", server_id=1, user_id="u", status="PENDING", step="submit",
                     backend_id=1, params={}))
    db.commit()
    sending, release = threading.Event(), threading.Event()

    class SlowCluster(FakeCluster):
        def reboot(self, name, reboot_type="soft", reason=None):
            sending.set()
            release.wait(10)  # the write is on its way: Ganeti has not queued the job yet
            return super().reboot(name, reboot_type, reason)

    cluster = SlowCluster()
    ctx = _ctx(cluster)

    def first_chain():
        with get_sessionmaker(db_url)() as session:
            steps.submit(session, 5, ctx)

    first = threading.Thread(target=first_chain)
    first.start()
    try:
        assert sending.wait(10)
        with get_sessionmaker(db_url)() as session:  # a second chain: a second dispatch, a redelivery
            steps.submit(session, 5, ctx)
    finally:
        release.set()
        first.join(10)
    assert [what for what, _ in cluster.submitted] == ["reboot"]
    op = db.get(Operation, 5, populate_existing=True)
    assert (op.step, op.job_id) == ("poll", 101)


def test_a_retry_after_a_vanished_job_resubmits_in_a_new_generation(db):
    db.add(Operation(id=5, kind="reboot", server_id=1, user_id="u", status="RUNNING", step="poll", backend_id=1,
                     job_id=3, job_status="running", params={}))
    db.commit()
    cluster = FakeCluster()
    ctx = _ctx(cluster)
    steps.poll(db, 5, ctx)
    op = db.get(Operation, 5, populate_existing=True)
    assert op.status == "FAILED" and op.error.startswith("cannot follow job 3")

    operations.reopen(db, op)
    db.commit()
    assert (op.step, op.job_id, op.generation, op.submit_started_at) == ("submit", None, 1, None)
    steps.submit(db, 5, ctx)
    assert cluster.submitted == [("reboot", "orchestrator:op:5:1")]
    assert db.get(Operation, 5, populate_existing=True).step == "poll"


def test_a_create_whose_job_vanished_after_making_its_instance_succeeds(db):
    db.add(Server(id=2, user_id="u", name="s2", flavor_id=1, image_id=1, backend_id=1, operstate="BUILD", nics=[]))
    db.add(Operation(id=6, kind="create", server_id=2, user_id="u", status="RUNNING", step="poll", backend_id=1,
                     job_id=3, job_status="running", params={}))
    db.commit()
    cluster = FakeCluster([], [{"name": "snf-2", "tags": ["orchestrator:op:6"]}])
    steps.poll(db, 6, _ctx(cluster))
    op = db.get(Operation, 6, populate_existing=True)
    assert op.step == "finalize" and op.job_status == "success", (op.step, op.status, op.error)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_keeps_operations_from_before_at_generation_0(request, tmp_path, backend):
    from sqlalchemy import create_engine

    from orchestrator import migrate

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"migrate_{os.getpid()}_{int(utcnow().timestamp())}")
    migrate.upgrade(url, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO operations (id, kind, user_id, status, step, attempts, params, redrives, "
                          "created_at, updated_at) VALUES (1, 'reboot', 'u', 'RUNNING', 'submit', 0, '{}', 0, "
                          ":now, :now)"), {"now": utcnow()})
    migrate.upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT generation FROM operations WHERE id = 1")).scalar_one() == 0
    engine.dispose()
