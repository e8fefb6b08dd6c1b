"""The agent's parsing and bookkeeping (no broker): what it would send, and only once."""
from __future__ import annotations

from node_agent.cli import nics_from_env
from node_agent.jobs import JobTracker, from_job_file, op_events
from node_agent.spool import Spool


def _job(job_id: int, status: str, instance: str = "snf-1") -> dict:
    return {"id": job_id, "ops": [{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": instance}],
            "opstatus": [status], "oplog": [[[1, [10, 0], "message", "starting"]]],
            "received_ts": [10, 0], "start_ts": [11, 500000], "end_ts": [12, 0] if status == "success" else None}


def _sent(spool: Spool) -> list[dict]:
    out: list = []
    spool.drain(lambda kind, event: out.append((kind, event)))
    return out


def test_each_status_change_is_sent_once_with_ganeti_time(tmp_path):
    spool = Spool(tmp_path / "s.sqlite")
    tracker = JobTracker("c1", spool)
    tracker.observe([_job(5, "queued")])
    tracker.observe([_job(5, "queued")])
    tracker.observe([_job(5, "running")])
    tracker.observe([_job(5, "success")])
    events = _sent(spool)
    assert [(e["status"], e["timestamp"]) for _, e in events] == [("queued", 10.0), ("running", 11.5), ("success", 12.0)]
    assert {k for k, _ in events} == {"op_status"}
    assert events[0][1] == {"cluster": "c1", "instance": "snf-1", "job_id": 5, "opcode": "OP_INSTANCE_STARTUP",
                            "status": "queued", "log_msg": "starting", "timestamp": 10.0}


def test_restart_resumes_without_resending(tmp_path):
    path = tmp_path / "s.sqlite"
    first = JobTracker("c1", Spool(path))
    first.observe([_job(7, "running")])
    _sent(first.spool)
    again = JobTracker("c1", Spool(path))  # a restarted agent
    again.observe([_job(7, "running"), _job(8, "queued")])
    assert [(e["job_id"], e["status"]) for _, e in _sent(again.spool)] == [(8, "queued")]


def test_unsent_events_survive_a_failed_send_in_order(tmp_path):
    spool = Spool(tmp_path / "s.sqlite")
    JobTracker("c1", spool).observe([_job(1, "queued"), _job(2, "queued")])

    def broker_down(kind, event):
        raise ConnectionError("down")

    try:
        spool.drain(broker_down)
    except ConnectionError:
        pass
    assert spool.pending() == 2
    assert [e["job_id"] for _, e in _sent(spool)] == [1, 2]


def test_job_file_format_is_read_with_per_opcode_times():
    data = {"id": 3, "received_timestamp": [100, 0], "start_timestamp": [101, 0], "end_timestamp": [105, 0],
            "ops": [{"input": {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "snf-9"}, "status": "success",
                     "log": [], "start_timestamp": [101, 0], "exec_timestamp": [102, 0], "end_timestamp": [104, 0]}]}
    job = from_job_file(data)
    assert job["ops"][0]["instance_name"] == "snf-9"
    assert job["opstatus"] == ["success"]
    assert job["op_times"] == [(101.0, 102.0, 104.0)]


def test_hook_environment_gives_nics():
    env = {"GANETI_INSTANCE_NAME": "snf-1", "GANETI_INSTANCE_NIC_COUNT": "2",
           "GANETI_INSTANCE_NIC0_IP": "10.0.0.5", "GANETI_INSTANCE_NIC0_MAC": "aa:00:00:00:00:01",
           "GANETI_INSTANCE_NIC0_MODE": "bridged", "GANETI_INSTANCE_NIC0_LINK": "br0",
           "GANETI_INSTANCE_NIC0_NETWORK_NAME": "public", "GANETI_INSTANCE_NIC0_NAME": "snf-nic-4",
           "GANETI_INSTANCE_NIC1_MAC": "aa:00:00:00:00:02"}
    assert nics_from_env(env) == [
        {"index": 0, "ip": "10.0.0.5", "mac": "aa:00:00:00:00:01", "mode": "bridged", "link": "br0", "network": "public",
         "name": "snf-nic-4"},
        {"index": 1, "ip": None, "mac": "aa:00:00:00:00:02", "mode": None, "link": None, "network": None,
         "name": None},
    ]


def test_a_network_opcode_names_its_network_and_group_and_no_instance():
    job = {"id": 9, "ops": [{"OP_ID": "OP_NETWORK_ADD", "network_name": "snf-net-3", "network": "10.0.0.0/24"},
                            {"OP_ID": "OP_NETWORK_CONNECT", "network_name": "snf-net-3", "group_name": "default",
                             "network_mode": "bridged", "network_link": "prv0"}],
           "opstatus": ["success", "running"], "received_ts": [10, 0], "start_ts": [11, 0], "end_ts": None}
    (_, _, added), (_, _, connecting) = op_events("c1", job)
    assert (added["instance"], added["network"], "group" in added) == (None, "snf-net-3", False)
    assert connecting == {"cluster": "c1", "instance": None, "job_id": 9, "opcode": "OP_NETWORK_CONNECT",
                          "status": "running", "log_msg": None, "timestamp": 11.0, "network": "snf-net-3",
                          "group": "default", "op_index": 1}
