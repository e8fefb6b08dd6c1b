"""The agent's commands on their own: the queue watcher's corner cases, the hook and the
progress parsing, the shared spool, and watch-rapi against a simulated cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from node_agent.cli import QueueWatcher, hook_event, parse_progress
from node_agent.jobs import JobTracker
from node_agent.spool import Spool
from tests.conftest import ROOT, wait_for


def _job_file(queue: Path, job_id: int, status: str, instance: str = "snf-1", log: str = "x") -> None:
    data = {"id": job_id, "received_timestamp": [100, 0], "start_timestamp": [101, 0], "end_timestamp": None,
            "ops": [{"input": {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": instance}, "status": status,
                     "result": None, "log": [[1, [101, 0], "message", log]], "start_timestamp": [101, 0],
                     "exec_timestamp": [102, 0], "end_timestamp": None}]}
    tmp = queue / f".job-{job_id}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, queue / f"job-{job_id}")  # as Ganeti writes: a new file renamed over the old


def _drain(spool: Spool) -> list[dict]:
    out: list = []
    spool.drain(lambda kind, event: out.append(event))
    return out


def test_a_replaced_job_file_of_the_same_size_and_time_is_read_again(tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    spool = Spool(tmp_path / "s.sqlite")
    watcher = QueueWatcher(JobTracker("c1", spool), queue)
    _job_file(queue, 1, "waiting")
    watcher.scan()
    before = os.stat(queue / "job-1")
    _job_file(queue, 1, "running")  # same length as "waiting"
    os.utime(queue / "job-1", ns=(before.st_atime_ns, before.st_mtime_ns))
    watcher.scan()
    assert [e["status"] for e in _drain(spool)] == ["waiting", "running"]


def test_an_unreadable_file_is_not_taken_for_an_archived_job(tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    spool = Spool(tmp_path / "s.sqlite")
    watcher = QueueWatcher(JobTracker("c1", spool), queue)
    _job_file(queue, 1, "running")
    watcher.scan()
    (queue / "job-1").write_text("{half a json")
    watcher.scan()
    _job_file(queue, 1, "running")
    watcher.scan()
    assert [e["status"] for e in _drain(spool)] == ["running"]  # not sent again


def test_a_job_archived_while_the_agent_was_away_still_reports_its_end(tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    path = tmp_path / "s.sqlite"
    _job_file(queue, 7, "running")
    QueueWatcher(JobTracker("c1", Spool(path)), queue).scan()  # seen running; the agent stops, unsent
    archive = queue / "archive" / "0"
    archive.mkdir(parents=True)
    _job_file(queue, 7, "success")
    os.replace(queue / "job-7", archive / "job-7")
    restarted = JobTracker("c1", Spool(path))
    QueueWatcher(restarted, queue).scan()
    assert [(e["job_id"], e["status"]) for e in _drain(restarted.spool)] == [(7, "running"), (7, "success")]
    assert restarted.known_jobs() == set()  # archived: forgotten once reported


def test_the_hook_reports_the_state_after_the_opcode_and_nothing_for_a_removal():
    env = {"GANETI_HOOKS_PHASE": "POST", "GANETI_HOOKS_PATH": "instance-modify", "GANETI_CLUSTER": "c1",
           "GANETI_INSTANCE_NAME": "snf-4", "GANETI_INSTANCE_NIC_COUNT": "1", "GANETI_INSTANCE_NIC0_MAC": "aa:01",
           "GANETI_POST_INSTANCE_NAME": "snf-4", "GANETI_POST_INSTANCE_NIC_COUNT": "2",
           "GANETI_POST_INSTANCE_NIC0_MAC": "aa:01", "GANETI_POST_INSTANCE_NIC1_MAC": "aa:02",
           "GANETI_POST_INSTANCE_NIC1_IP": "10.0.0.9", "GANETI_POST_INSTANCE_NIC1_NETWORK_NAME": "lan"}
    event = hook_event(env, now=5.0)
    assert event["instance"] == "snf-4" and event["cluster"] == "c1" and event["timestamp"] == 5.0
    assert [(n["index"], n["mac"], n["ip"], n["network"]) for n in event["nics"]] == [
        (0, "aa:01", None, None), (1, "aa:02", "10.0.0.9", "lan")]
    assert hook_event({**env, "GANETI_HOOKS_PATH": "instance-remove"}) is None
    assert hook_event({**env, "GANETI_HOOKS_PHASE": "PRE"}) is None


@pytest.mark.parametrize("line, expected", [
    ('{"type": "image-copy-progress", "position": 268435456, "total": 1073741824, "progress": 25.0}', 25.0),
    ('{"type": "image-copy-progress", "position": 536870912, "total": 1073741824}', 50.0),
    ('{"type": "image-info", "messages": ["Starting image copy..."]}', None),
    ('{"type": "image-helper", "subtype": "task-end", "task": "FixPartitionTable"}', None),
    ("copying: 75% done", 75.0),
    ("no number here", None),
])
def test_progress_lines_as_snf_image_writes_them(line, expected):
    assert parse_progress(line)[0] == expected


def test_senders_sharing_a_spool_send_each_event_once(tmp_path):
    first, second = Spool(tmp_path / "hooks.sqlite"), Spool(tmp_path / "hooks.sqlite")
    for i in range(5):
        first.put("nic_info", {"i": i})
    seen: list = []

    def send_and_let_the_other_drain(kind, event):
        seen.append(event["i"])
        if event["i"] == 0:  # while the first holds event 0, the second takes the rest
            second.drain(lambda k, e: seen.append(e["i"]))

    first.drain(send_and_let_the_other_drain)
    assert sorted(seen) == [0, 1, 2, 3, 4] and first.pending() == 0


@pytest.mark.integration
@pytest.mark.xdist_group("events")
def test_watch_rapi_reports_each_opcode_once_and_resumes(event_stack, tmp_path):
    stack = event_stack
    cluster = stack.sim.clusters[0]
    response = requests.put(f"{cluster.url}/2/tags", params={"tag": "watch-rapi"}, auth=("rapi", "rapi-secret"),
                            timeout=5)
    assert response.status_code == 200, response.text
    job = cluster.queue.get(int(response.json()))
    wait_for(lambda: job.finalized, 10, what="the tag job to end")
    env = {**stack.env, "RAPI_USER": "rapi", "RAPI_PASSWORD": "rapi-secret"}
    argv = [sys.executable, "-m", "node_agent", "watch-rapi", "--cluster", cluster.name, "--url", cluster.url,
            "--spool-dir", str(tmp_path), "--once"]
    first = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    jobs = {job_id: job.status for job_id, job in cluster.queue.jobs.items()}
    sent = [line.split("id=")[1].split()[0] for line in first.stderr.splitlines() if " sent op_status " in line]
    assert sorted(sent) == sorted(f"{cluster.name}/{j}/0/{s}" for j, s in jobs.items()), first.stderr
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and " sent " not in again.stderr, again.stderr


def test_a_burst_leaves_in_batches_in_order_and_a_failed_send_keeps_it(tmp_path):
    spool = Spool(tmp_path / "queue.sqlite")
    spool.put_many([("op_status", {"i": i}, None) for i in range(7)])
    batches: list = []

    def broker_down(batch):
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        spool.drain_batches(broker_down, size=3)
    assert spool.pending() == 7  # nothing lost, and the leases are back: a sender takes them now

    assert spool.drain_batches(lambda batch: batches.append([e["i"] for _, e in batch]), size=3) == 7
    assert batches == [[0, 1, 2], [3, 4, 5], [6]] and spool.pending() == 0
    spool.put("nic_info", {"i": 7})  # a quiet moment: one event leaves alone, at once
    spool.drain_batches(lambda batch: batches.append([e["i"] for _, e in batch]), size=3)
    assert batches[-1] == [7]
