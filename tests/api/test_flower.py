"""Flower against the test broker: a finished create's four tasks are there, by name,
with the operation id as their argument and state SUCCESS, through Flower's HTTP API."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, wait_for
from tests.integration.helpers import active_server

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

CHAIN = ("orchestrator.ops.allocate_backend", "orchestrator.ops.submit_job", "orchestrator.ops.poll_job",
         "orchestrator.ops.finalize")
AUTH = ("flower", "test-flower-password")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def flower(stack):
    port = _free_port()
    env = {**stack.env, "FLOWER_BASIC_AUTH": ":".join(AUTH)}
    log = open(stack.tmp / "flower.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "flower", "--address=127.0.0.1",
         f"--port={port}", f"--db={stack.tmp / 'flower.db'}", "--persistent=False"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise RuntimeError(f"flower exited {proc.returncode}: {(stack.tmp / 'flower.log').read_text()[-2000:]}")
        try:
            return requests.get(f"{url}/api/workers", auth=AUTH, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, 30, what="flower")
        # Flower learns of tasks from the workers' events: wait until it sees the worker.
        wait_for(lambda: requests.get(f"{url}/api/workers", auth=AUTH, params={"refresh": "true"},
                                      timeout=5).json(), 30, what="flower to see the worker")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_flower_shows_a_finished_creates_tasks(stack, flower):
    assert requests.get(f"{flower}/api/tasks", timeout=5).status_code == 401  # basic auth is on
    server = active_server(stack, name="flowered")
    op_id = server["operation"]["id"]

    def chain_tasks():
        tasks = requests.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        mine = {t["name"]: t for t in tasks.values() if t.get("args") in (f"({op_id},)", f"[{op_id}]")}
        return mine if set(CHAIN) <= set(mine) and all(mine[n]["state"] == "SUCCESS" for n in CHAIN) else None

    found = wait_for(chain_tasks, 30, interval=0.5, what=f"operation {op_id}'s tasks in flower")
    for name in CHAIN:
        assert found[name]["state"] == "SUCCESS" and found[name]["result"] == str(op_id)
    # One task, looked up by id, names its worker.
    task = requests.get(f"{flower}/api/task/info/{found[CHAIN[0]]['uuid']}", auth=AUTH, timeout=5).json()
    assert task["name"] == CHAIN[0] and task["worker"]
