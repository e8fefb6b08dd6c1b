"""Kill drill: worker processes die with SIGKILL at each step of the create and destroy
chains, 20 operations per step; every operation still ends as asked, exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select

from orchestrator.models import IN_FLIGHT, Operation, Server
from tests.conftest import Worker, record_drill, wait_for
from tests.integration.helpers import RAPI_AUTH

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PER_STEP = 20
CREATE_POINTS = ["allocate.before_commit", "submit.after_write", "poll.before_commit", "finalize.before_commit"]
DESTROY_POINTS = ["submit.after_write", "poll.before_commit", "finalize.before_commit"]


def _instance_counts(stack) -> Counter:
    import requests

    counts: Counter = Counter()
    for cluster in stack.sim.clusters:
        for item in requests.get(f"{cluster.url}/2/instances", auth=RAPI_AUTH, timeout=10).json():
            counts[item["id"]] += 1
    return counts


def _crashing_worker(stack, point: str, tmp) -> Worker:
    crash_dir = tmp / f"crash-{point}"
    crash_dir.mkdir(exist_ok=True)
    env = {**stack.env, "ORCHESTRATOR_CRASH_POINTS": point, "ORCHESTRATOR_CRASH_DIR": str(crash_dir)}
    return Worker(env, stack.tmp / f"worker-{point}.log", concurrency=4, name=f"crash-{point}")


def _wait_all_ended(stack, op_ids: list[int], timeout: float = 120) -> dict[int, Operation]:
    def ended():
        with stack.session() as session:
            ops = session.scalars(select(Operation).where(Operation.id.in_(op_ids))).all()
            return {op.id: op for op in ops} if all(op.status not in IN_FLIGHT for op in ops) else None

    return wait_for(ended, timeout, interval=0.5, what="all drill operations to end")



@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", CREATE_POINTS)
def test_creates_survive_sigkill_at_each_step(drill_stack, point, tmp_path):
    stack = drill_stack
    worker = _crashing_worker(stack, point, tmp_path).start()
    started = time.monotonic()
    try:
        created = [stack.create_server(name=f"kill-{i}") for i in range(PER_STEP)]
        assert all(status == 202 for status, _ in created)
        ops = _wait_all_ended(stack, [body["operation"]["id"] for _, body in created])
    finally:
        worker.stop()
    crashes = len(list((tmp_path / f"crash-{point}").iterdir()))
    counts = _instance_counts(stack)
    with stack.session() as session:
        states = Counter(session.get(Server, body["id"]).operstate for _, body in created)
    duplicated = sum(1 for _, body in created if counts[f"snf-{body['id']}"] > 1)
    lost = sum(1 for _, body in created if counts[f"snf-{body['id']}"] == 0)
    record_drill(f"SIGKILL at create {point}", PER_STEP, states["STARTED"], lost, duplicated,
                 time.monotonic() - started, extra=f"{crashes} workers killed")
    assert crashes >= 1, "the crash point was never reached"
    assert states == Counter({"STARTED": PER_STEP}), states
    assert all(op.status == "SUCCEEDED" for op in ops.values())
    assert (duplicated, lost) == (0, 0)


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
@pytest.mark.parametrize("point", DESTROY_POINTS)
def test_destroys_survive_sigkill_at_each_step(drill_stack, point, tmp_path):
    stack = drill_stack
    plain = Worker(stack.env, stack.tmp / "worker-setup.log", concurrency=4, name="setup").start()
    try:
        created = [stack.create_server(name=f"gone-{i}") for i in range(PER_STEP)]
        for _, body in created:
            stack.wait_status(body["id"], {"ACTIVE"}, timeout=60)
    finally:
        plain.stop()
    worker = _crashing_worker(stack, point, tmp_path).start()
    started = time.monotonic()
    try:
        destroys = [stack.client.delete(f"/api/v1/servers/{body['id']}", headers=stack.admin_headers)
                    for _, body in created]
        assert all(r.status_code == 202 for r in destroys)
        ops = _wait_all_ended(stack, [r.json["id"] for r in destroys])
    finally:
        worker.stop()
    crashes = len(list((tmp_path / f"crash-{point}").iterdir()))
    counts = _instance_counts(stack)
    left = sum(1 for _, body in created if counts[f"snf-{body['id']}"])
    with stack.session() as session:
        states = Counter(session.get(Server, body["id"]).operstate for _, body in created)
    record_drill(f"SIGKILL at destroy {point}", PER_STEP, states["DESTROYED"], 0, left,
                 time.monotonic() - started, extra=f"{crashes} workers killed; {left} instances left")
    assert crashes >= 1
    assert states == Counter({"DESTROYED": PER_STEP}), states
    assert all(op.status == "SUCCEEDED" for op in ops.values())
    assert left == 0


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_whole_worker_killed_and_restarted_recovers_through_beat(drill_stack, tmp_path):
    """SIGKILL to the whole worker (parent and children): its unacked messages are stuck
    until Redis's visibility timeout, so the beat's recover_operations re-drives them."""
    stack = drill_stack
    env = {**stack.env, "OPERATION_STALL_S": "4"}
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")],
        env=env, stdout=open(tmp_path / "beat.log", "wb"), stderr=subprocess.STDOUT,
    )
    started = time.monotonic()
    kills = 0
    try:
        worker = Worker(env, stack.tmp / "worker-killed.log", concurrency=4, name="victim").start()
        created = [stack.create_server(name=f"whole-{i}") for i in range(PER_STEP)]
        for _ in range(3):
            time.sleep(0.7)
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
            kills += 1
            worker = Worker(env, stack.tmp / "worker-killed.log", concurrency=4, name="victim").start()
        ops = _wait_all_ended(stack, [body["operation"]["id"] for _, body in created], timeout=180)
        worker.stop()
    finally:
        beat.terminate()
        beat.wait(timeout=15)
    counts = _instance_counts(stack)
    duplicated = sum(1 for _, body in created if counts[f"snf-{body['id']}"] > 1)
    lost = sum(1 for _, body in created if counts[f"snf-{body['id']}"] == 0)
    ok = sum(1 for op in ops.values() if op.status == "SUCCEEDED")
    record_drill("SIGKILL whole worker x3 during creates", PER_STEP, ok, lost, duplicated,
                 time.monotonic() - started, extra=f"{kills} kills")
    assert ok == PER_STEP and (lost, duplicated) == (0, 0)
