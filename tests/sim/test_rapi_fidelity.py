"""Issue 3: the rest of RAPI 2 as doc/rapi.rst describes it (section named per test)."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from ganeti_sim import SimFleet

from .conftest import PASSWORD, USER, Client
from .jobs import succeeded


def test_startup_shutdown_reboot(rapi, cluster):
    # doc/rapi.rst /2/instances/[instance_name]/shutdown, /startup, /reboot
    succeeded(rapi, rapi.create("pw1", memory=1024))
    pnode = cluster.instances["pw1"].pnode
    r = rapi.put("/2/instances/pw1/shutdown", json={"timeout": 30})
    job = succeeded(rapi, r.json())
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_SHUTDOWN" and job["ops"][0]["timeout"] == 30
    inst = rapi.get("/2/instances/pw1").json()
    assert inst["status"] == "ADMIN_down" and inst["oper_state"] is False and inst["admin_state"] == "down"
    assert inst["oper_ram"] is None
    assert cluster.nodes[pnode].mfree == 8192 - 1024  # memory released
    succeeded(rapi, rapi.put("/2/instances/pw1/startup").json())
    assert rapi.get("/2/instances/pw1").json()["status"] == "running"
    for kind in ("soft", "hard", "full"):
        job = succeeded(rapi, rapi.post(f"/2/instances/pw1/reboot?type={kind}").json())
        assert job["ops"][0]["reboot_type"] == kind
    assert rapi.post("/2/instances/pw1/reboot?type=bogus").status_code == 400
    job = rapi.wait_job(rapi.put("/2/instances/nosuch/startup").json())
    assert job["opresult"] == [["OpPrereqError", ["Instance 'nosuch' not known", "unknown_entity"]]]


def test_modify_beparams_and_nics(rapi, cluster):
    # doc/rapi.rst /2/instances/[instance_name]/modify
    succeeded(rapi, rapi.create("mod1", memory=1024))
    job = succeeded(rapi, rapi.put("/2/instances/mod1/modify", json={"beparams": {"maxmem": 2048, "vcpus": 4}}).json())
    assert ["be/maxmem", 2048] in job["opresult"][0]
    inst = rapi.get("/2/instances/mod1").json()
    assert inst["beparams"]["maxmem"] == 2048 and inst["beparams"]["vcpus"] == 4
    assert cluster.nodes[inst["pnode"]].mfree == 8192 - 1024 - 2048
    succeeded(rapi, rapi.put("/2/instances/mod1/modify",
                       json={"nics": [["add", -1, {"mode": "routed", "link": "rt1", "ip": "10.0.0.5"}]],
                             "hotplug": True}).json())
    inst = rapi.get("/2/instances/mod1").json()
    assert inst["nic.modes"] == ["bridged", "routed"] and inst["nic.ips"] == [None, "10.0.0.5"]
    succeeded(rapi, rapi.put("/2/instances/mod1/modify", json={"nics": [["modify", 1, {"ip": "10.0.0.6"}]]}).json())
    assert rapi.get("/2/instances/mod1").json()["nic.ips"] == [None, "10.0.0.6"]
    succeeded(rapi, rapi.put("/2/instances/mod1/modify", json={"nics": [["remove", 0, {}]]}).json())
    inst = rapi.get("/2/instances/mod1").json()
    assert inst["nic.ips"] == ["10.0.0.6"] and len(inst["nic.macs"]) == 1
    job = rapi.wait_job(rapi.put("/2/instances/mod1/modify", json={"beparams": {"bogus": 1}}).json())
    assert job["status"] == "error"
    assert rapi.put("/2/instances/mod1/modify", json={"nonsense": 1}).status_code == 400


def test_info_tags_rename(rapi, cluster):
    succeeded(rapi, rapi.create("tg1", memory=512))
    job = succeeded(rapi, rapi.get("/2/instances/tg1/info").json())
    assert job["opresult"][0]["tg1"]["run_state"] == "up"
    succeeded(rapi, rapi.put("/2/instances/tg1/tags?tag=a&tag=b").json())
    assert rapi.get("/2/instances/tg1/tags").json() == ["a", "b"]
    succeeded(rapi, rapi.delete("/2/instances/tg1/tags?tag=a").json())
    assert rapi.get("/2/instances/tg1/tags").json() == ["b"]
    job = rapi.wait_job(rapi.delete("/2/instances/tg1/tags?tag=zzz").json())
    assert job["status"] == "error"
    # rename needs the instance stopped
    job = rapi.wait_job(rapi.put("/2/instances/tg1/rename", json={"new_name": "tg2", "name_check": False}).json())
    assert job["status"] == "error" and job["opresult"][0][1][1] == "wrong_state"
    succeeded(rapi, rapi.put("/2/instances/tg1/shutdown").json())
    succeeded(rapi, rapi.put("/2/instances/tg1/rename", json={"new_name": "tg2", "name_check": False}).json())
    assert "tg2" in cluster.instances and "tg1" not in cluster.instances
    assert rapi.get("/2/instances/tg2/tags").json() == ["b"]
    succeeded(rapi, rapi.put("/2/tags?tag=cl").json())
    assert rapi.get("/2/tags").json() == ["cl"]


def test_node_resources_and_groups(rapi, cluster):
    # doc/rapi.rst /2/nodes/[node_name], /role, /2/groups
    name = sorted(cluster.nodes)[2]
    node = rapi.get(f"/2/nodes/{name}").json()
    assert node["name"] == name and node["role"] in ("C", "R")
    assert rapi.get("/2/nodes/nosuch").status_code == 404
    assert rapi.get(f"/2/nodes/{name}/role").json() == "master-candidate"
    succeeded(rapi, rapi.put(f"/2/nodes/{name}/role", json="drained").json())
    assert rapi.get(f"/2/nodes/{name}/role").json() == "drained"
    assert rapi.get(f"/2/nodes/{name}").json()["drained"] is True
    job = rapi.wait_job(rapi.create("dr1", pnode=name))
    assert job["opresult"][0] == ["OpPrereqError", [f"Cannot use drained primary node '{name}'", "wrong_state"]]
    groups = rapi.get("/2/groups").json()
    assert groups == [{"name": "default", "uri": "/2/groups/default"}]
    g = rapi.get("/2/groups?bulk=1").json()[0]
    assert g["node_cnt"] == 3 and g["alloc_policy"] == "preferred"
    assert rapi.get("/2/groups/default").json()["name"] == "default"


def test_jobs_list_bulk_reason_and_dry_run(rapi):
    jid = rapi.post("/2/instances?reason=op-42", json={
        "__version__": 1, "mode": "create", "instance_name": "rs1", "disk_template": "plain",
        "disks": [{"size": 100}], "nics": [], "os_type": "x", "name_check": False, "ip_check": False}).json()
    job = succeeded(rapi, jid)
    trail = job["ops"][0]["reason"]
    assert trail[0][:2] == ["gnt:user", "op-42"]
    assert trail[1][:2] == ["gnt:library:rlib2:instances", ""]
    assert trail[2][:2] == ["gnt:opcode:instance_create", f"job={jid};index=0"]
    assert rapi.get("/2/jobs").json()[-1] == {"id": jid, "uri": f"/2/jobs/{jid}"}
    bulk = rapi.get("/2/jobs?bulk=1").json()
    assert set(bulk[-1]) == {"id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"}
    # dry-run: checks only, result is the node list, nothing created
    jid = rapi.post("/2/instances?dry-run=1", json={
        "__version__": 1, "mode": "create", "instance_name": "dry1", "disk_template": "plain",
        "disks": [{"size": 100}], "nics": [{}], "os_type": "x", "name_check": False, "ip_check": False}).json()
    job = succeeded(rapi, jid)
    assert job["ops"][0]["dry_run"] is True and isinstance(job["opresult"][0], list)
    assert rapi.get("/2/instances/dry1").status_code == 404


def test_locks_make_jobs_wait_and_cancel(fleet):
    cluster = fleet.clusters[1]
    cluster.queue.job_duration = 0.5
    rapi = Client(cluster.url, (USER, PASSWORD))
    first = rapi.create("lk1", memory=256)
    second = rapi.put("/2/instances/lk1/shutdown").json()
    third = rapi.put("/2/instances/lk1/startup").json()
    time.sleep(0.15)
    assert rapi.get(f"/2/jobs/{first}").json()["status"] == "running"
    assert rapi.get(f"/2/jobs/{second}").json()["status"] == "waiting"
    assert rapi.get(f"/2/jobs/{second}").json()["opstatus"] == ["waiting"]
    ok, msg = rapi.delete(f"/2/jobs/{third}").json()
    assert ok is True and "canceled" in msg
    job = rapi.wait_job(third)
    assert job["status"] == "canceled" and job["opresult"] == ["Job canceled by request"]
    assert rapi.wait_job(first)["status"] == "success"
    assert rapi.wait_job(second)["status"] == "success"
    ok, msg = rapi.delete(f"/2/jobs/{first}").json()
    assert ok is False and msg == f"Job {first} is no longer waiting in the queue"


def test_job_wait_long_poll(rapi, cluster):
    cluster.queue.job_duration = 0.3
    jid = rapi.create("wt1", memory=256)
    fields = ["status", "opstatus"]
    r = rapi.get(f"/2/jobs/{jid}/wait", json={"fields": fields, "previous_job_info": None,
                                               "previous_log_serial": None})
    first = r.json()
    assert set(first) == {"job_info", "log_entries"}
    info = first["job_info"]
    serial = max([e[0] for e in first["log_entries"]], default=None)
    t0 = time.monotonic()
    while info[0] not in ("success", "error"):
        r = rapi.get(f"/2/jobs/{jid}/wait", json={"fields": fields, "previous_job_info": info,
                                                   "previous_log_serial": serial})
        body = r.json()
        if body is None:
            continue
        info = body["job_info"]
        serial = max([e[0] for e in body["log_entries"]] + [serial or 0])
    assert info[0] == "success" and time.monotonic() - t0 < 5
    assert rapi.get(f"/2/jobs/{jid}/wait", json={"fields": "x"}).status_code == 400


def test_read_only_user_gets_403(tmp_path):
    users = tmp_path / "users"
    users.write_text("# Ganeti RAPI users\nwriter wpass write\nreader rpass\nha1 {HA1}%s read\n" %
                     __import__("hashlib").md5(b"ha1:Ganeti Remote API:secret").hexdigest())
    with SimFleet(clusters=1, job_duration=0.05, users_file=str(users)) as fleet:
        url = fleet.clusters[0].url
        assert requests.get(url + "/2/instances", auth=("reader", "rpass"), timeout=5).status_code == 200
        assert requests.get(url + "/2/instances", auth=("ha1", "secret"), timeout=5).status_code == 200
        r = requests.post(url + "/2/instances", auth=("reader", "rpass"), json={"__version__": 1}, timeout=5)
        assert r.status_code == 403 and r.json()["code"] == 403
        r = requests.get(url + "/2/jobs/1/wait", auth=("reader", "rpass"), json={"fields": []}, timeout=5)
        assert r.status_code == 403
        r = requests.put(url + "/2/tags?tag=x", auth=("writer", "wpass"), timeout=5)
        assert r.status_code == 200


def test_networks(rapi, cluster):
    # doc/rapi.rst /2/networks and /2/networks/[network_name]/connect. The nodes' addresses
    # (192.0.2.1-3 here) are reserved too (LUNetworkAdd with conflicts_check, the default).
    succeeded(rapi, rapi.post("/2/networks", json={"network_name": "pub", "network": "192.0.2.0/29",
                                             "gateway": "192.0.2.1"}).json())
    succeeded(rapi, rapi.put("/2/networks/pub/connect", json={"group_name": "default", "network_mode": "bridged",
                                                        "network_link": "br-pub"}).json())
    net = rapi.get("/2/networks/pub").json()
    assert net["free_count"] == 3 and net["group_list"] == [["default", "bridged", "br-pub", ""]]
    assert net["map"] == "XXXX...X"
    succeeded(rapi, rapi.create("nt1", nics=[{"network": "pub", "ip": "pool"}]))
    inst = rapi.get("/2/instances/nt1").json()
    assert inst["nic.ips"] == ["192.0.2.4"] and inst["nic.networks.names"] == ["pub"]
    assert inst["nic.links"] == ["br-pub"] and inst["nic.networks"] == [net["uuid"]]
    assert rapi.get("/2/networks/pub").json()["inst_list"] == ["nt1"]
    job = rapi.wait_job(rapi.create("nt2", nics=[{"network": "pub", "ip": "192.0.2.4"}]))
    assert job["status"] == "error" and job["opresult"][0][1][1] == "resource_not_unique"
    job = rapi.wait_job(rapi.put("/2/networks/pub/disconnect", json={"group_name": "default"}).json())
    assert job["status"] == "error"
    succeeded(rapi, rapi.delete("/2/instances/nt1").json())
    assert rapi.get("/2/networks/pub").json()["free_count"] == 3
    succeeded(rapi, rapi.put("/2/networks/pub/disconnect", json={"group_name": "default"}).json())
    succeeded(rapi, rapi.delete("/2/networks/pub").json())
    assert rapi.get("/2/networks").json() == []


def test_hooks_and_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative hooks directory, as `make run` passes it
    hooks = tmp_path / "hooks"
    (hooks / "instance-add-post.d").mkdir(parents=True)
    out = tmp_path / "hook.out"
    script = hooks / "instance-add-post.d" / "00-record"
    script.write_text(f"#!/bin/sh\nenv | grep ^GANETI_ | sort > {out}\n")
    script.chmod(0o755)
    progress_out = tmp_path / "progress.out"
    with SimFleet(clusters=1, job_duration=0.3, hooks_dir="hooks",
                  progress_command=f"cat > {progress_out}.{{instance}}") as fleet:
        c = fleet.clusters[0]
        rapi = Client(c.url, (USER, PASSWORD))
        succeeded(rapi, rapi.create("hk1", nics=[{"mode": "bridged", "link": "br9", "ip": "10.1.1.1"}]))
        c.hooks.join()
        env = dict(line.split("=", 1) for line in out.read_text().splitlines())
        assert env["GANETI_INSTANCE_NAME"] == "hk1" and env["GANETI_HOOKS_PHASE"] == "POST"
        assert env["GANETI_OP_CODE"] == "OP_INSTANCE_CREATE" and env["GANETI_HOOKS_PATH"] == "instance-add"
        assert env["GANETI_INSTANCE_NIC_COUNT"] == "1" and env["GANETI_INSTANCE_NIC0_IP"] == "10.1.1.1"
        assert env["GANETI_INSTANCE_NIC0_LINK"] == "br9" and env["GANETI_INSTANCE_NIC0_MODE"] == "bridged"
        assert env["GANETI_CLUSTER"] == c.name
        lines = (tmp_path / "progress.out.hk1").read_text().splitlines()
        assert any('"image-copy-progress"' in l and '"progress": 100.0' in l for l in lines)


def test_fault_knobs(rapi, cluster):
    cluster.faults.http_error_rate = 1.0
    r = rapi.get("/2/info")
    assert r.status_code == 502 and r.json()["code"] == 502
    assert rapi.get("/sim/faults").status_code == 200  # admin endpoints are never faulted
    rapi.delete("/sim/faults")
    cluster.faults.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        requests.get(cluster.url + "/2/info", auth=(USER, PASSWORD), timeout=5)
    cluster.faults.drop_rate = 0.0
    rapi.post("/sim/faults", json={"latency": 0.2})
    t0 = time.monotonic()
    rapi.get("/version")
    assert time.monotonic() - t0 >= 0.2
    rapi.delete("/sim/faults")
    rapi.post("/sim/faults", json={"op_failure_rate": {"OP_INSTANCE_CREATE": 1.0}})
    assert rapi.wait_job(rapi.create("pf1"))["status"] == "error"
    rapi.delete("/sim/faults")
    assert rapi.post("/sim/faults", json={"nonsense": 1}).status_code == 400


def test_out_of_band_changes(rapi, cluster):
    succeeded(rapi, rapi.create("ob1", memory=512))
    assert rapi.post("/sim/instances/ob1/crash").json()["status"] == "ERROR_down"
    assert rapi.get("/2/instances/ob1").json()["status"] == "ERROR_down"
    r = rapi.put("/sim/instances/ob1/beparams", json={"maxmem": 768})
    assert r.status_code == 200
    assert rapi.get("/2/instances/ob1").json()["beparams"]["maxmem"] == 768
    pnode = cluster.instances["ob1"].pnode
    rapi.post(f"/sim/nodes/{pnode}", json={"offline": True})
    inst = rapi.get("/2/instances/ob1").json()
    assert inst["status"] == "ERROR_nodeoffline"
    assert rapi.get(f"/2/nodes/{pnode}").json()["offline"] is True
    rapi.post(f"/sim/nodes/{pnode}", json={"offline": False})
    r = rapi.post("/sim/instances", json={"name": "ghost", "memory": 256, "disks": [512]})
    assert r.status_code == 200 and r.json()["status"] == "running"
    assert "ghost" in [i["id"] for i in rapi.get("/2/instances").json()]
    assert rapi.delete("/sim/instances/ghost").status_code == 200
    assert rapi.get("/2/instances/ghost").status_code == 404
    rapi.post("/sim/instances/ob1/state", json={"admin_state": "down", "running": True})
    assert rapi.get("/2/instances/ob1").json()["status"] == "ERROR_up"


def test_cluster_down_and_up(fleet):
    c = fleet.clusters[1]
    rapi = Client(c.url, (USER, PASSWORD))
    jid = rapi.create("dn1", memory=256)
    c.down()
    with pytest.raises(requests.ConnectionError):
        requests.get(c.url + "/version", timeout=2)
    c.up()
    assert rapi.wait_job(jid)["status"] == "success"
    r = rapi.post("/sim/down", json={"seconds": 0.5})
    assert r.json() == {"down_for": 0.5}
    time.sleep(0.3)
    with pytest.raises(requests.ConnectionError):
        requests.get(c.url + "/version", timeout=2)
    time.sleep(0.6)
    assert requests.get(c.url + "/version", auth=(USER, PASSWORD), timeout=2).json() == 2


def test_https_self_signed(tmp_path):
    with SimFleet(clusters=1, job_duration=0.05, tls=True, state_dir=tmp_path) as fleet:
        c = fleet.clusters[0]
        assert c.url.startswith("https://")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(c.url + "/version", timeout=5)
        r = requests.get(c.url + "/version", auth=(USER, PASSWORD), verify=fleet.ssl_cert, timeout=5)
        assert r.json() == 2


def test_concurrent_polling(rapi, cluster):
    jid = rapi.create("cc1", memory=256)
    errors = []

    def poll():
        s = Client(cluster.url, (USER, PASSWORD))
        for _ in range(50):
            r = s.get(f"/2/jobs/{jid}")
            if r.status_code != 200:
                errors.append(r.status_code)
    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_reinstall_is_a_multi_opcode_job(rapi, cluster):
    # doc/rapi.rst /2/instances/[instance_name]/reinstall: shutdown, reinstall, startup
    succeeded(rapi, rapi.create("ri1", memory=256))
    job = succeeded(rapi, rapi.post("/2/instances/ri1/reinstall", json={"os": "image+default"}).json())
    assert [op["OP_ID"] for op in job["ops"]] == ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL",
                                                 "OP_INSTANCE_STARTUP"]
    assert job["opstatus"] == ["success"] * 3
    assert rapi.get("/2/instances/ri1").json()["os"] == "image+default"
    job = rapi.wait_job(rapi.post("/2/instances/nosuch/reinstall", json={}).json())
    assert job["status"] == "error" and job["opstatus"] == ["error"] * 3
    assert job["opresult"][0] == ["OpPrereqError", ["Instance 'nosuch' not known", "unknown_entity"]]
    assert job["opresult"][1] == ["OpExecError", ["Preceding opcode failed"]]


def test_node_down_and_offline_statuses(rapi, cluster):
    succeeded(rapi, rapi.create("nd1", memory=256))
    pnode = cluster.instances["nd1"].pnode
    rapi.post(f"/sim/nodes/{pnode}", json={"down": True})
    inst = rapi.get("/2/instances/nd1").json()
    assert inst["status"] == "ERROR_nodedown" and inst["oper_state"] is None
    rapi.post(f"/sim/nodes/{pnode}", json={"down": False})
    assert rapi.get("/2/instances/nd1").json()["status"] == "running"
    other = sorted(n for n in cluster.nodes if n != pnode)[0]
    succeeded(rapi, rapi.put(f"/2/nodes/{other}/role", json="offline").json())
    job = rapi.wait_job(rapi.create("nd2", pnode=other))
    assert job["opresult"][0] == ["OpPrereqError", [f"Cannot use offline primary node '{other}'", "wrong_state"]]


def test_anonymous_reads_option():
    with SimFleet(clusters=1, job_duration=0.05, require_auth=False) as fleet:
        url = fleet.clusters[0].url
        assert requests.get(url + "/2/info", timeout=5).status_code == 200
        assert requests.put(url + "/2/tags?tag=x", timeout=5).status_code == 401
        assert requests.get(url + "/2/info", auth=("rapi", "bad"), timeout=5).status_code == 401
