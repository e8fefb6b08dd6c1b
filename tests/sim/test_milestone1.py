"""Core RAPI behaviour (doc/rapi.rst sections named per test): auth, create, jobs, errors."""
from __future__ import annotations

import json

import requests

from .conftest import PASSWORD, USER


def test_auth_required_and_ganeti_error_body(cluster):
    # doc/rapi.rst "Users and passwords": basic auth, realm "Ganeti Remote API".
    r = requests.get(cluster.url + "/2/info", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["code"] == 401 and set(body) == {"code", "message", "explain"}
    r = requests.get(cluster.url + "/2/info", auth=(USER, "wrong"), timeout=5)
    assert r.status_code == 401
    r = requests.get(cluster.url + "/2/info", auth=("nobody", PASSWORD), timeout=5)
    assert r.status_code == 401


def test_version_info_features(rapi, cluster):
    assert rapi.get("/version").json() == 2
    info = rapi.get("/2/info").json()
    assert info["name"] == cluster.name == "cluster1.sim.local"
    assert info["master"] in cluster.nodes
    assert "drbd" in info["enabled_disk_templates"] and info["software_version"]
    feats = rapi.get("/2/features").json()
    assert {"instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1",
            "node-evac-res1"} <= set(feats)
    assert rapi.get("/").json() is None and rapi.get("/2").json() is None


def test_nodes_list_and_bulk(rapi, cluster):
    listing = rapi.get("/2/nodes").json()
    assert [n["id"] for n in listing] == sorted(cluster.nodes)
    assert listing[0]["uri"] == f"/2/nodes/{listing[0]['id']}"
    bulk = rapi.get("/2/nodes?bulk=1").json()
    n = bulk[0]
    for key in ("name", "mtotal", "mfree", "mnode", "dtotal", "dfree", "ctotal", "cnodes", "pinst_cnt",
                "sinst_cnt", "pinst_list", "offline", "drained", "vm_capable", "master_candidate",
                "master_capable", "role", "group.uuid"):
        assert key in n, key
    assert n["mtotal"] == 8192 and n["dtotal"] == 102400 and n["ctotal"] == 8
    assert n["role"] == "M"  # the first node is the master


def test_create_success_listed_and_capacity_consumed(rapi, cluster):
    before = {n["name"]: n for n in rapi.get("/2/nodes?bulk=1").json()}
    r = rapi.post("/2/instances", json={
        "__version__": 1, "mode": "create", "instance_name": "web1.example.com", "disk_template": "plain",
        "disks": [{"size": 4096}], "nics": [{"mode": "bridged", "link": "br0"}], "os_type": "debootstrap+default",
        "beparams": {"maxmem": 2048, "minmem": 1024, "vcpus": 2}, "name_check": False, "ip_check": False,
        "tags": ["op:123"], "start": True})
    assert r.status_code == 200
    job_id = r.json()
    assert isinstance(job_id, int)  # the body is the bare job id
    job = rapi.wait_job(job_id)
    assert job["status"] == "success", job
    assert job["opstatus"] == ["success"]
    assert job["summary"] == ["INSTANCE_CREATE(web1.example.com)"]
    pnode = job["opresult"][0][0]
    for ts in ("received_ts", "start_ts", "end_ts"):
        assert len(job[ts]) == 2 and all(isinstance(x, int) for x in job[ts])
    assert set(job) == {"id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts",
                        "oplog", "opresult"}
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_CREATE"
    assert job["ops"][0]["reason"][0][0] == "gnt:library:rlib2:instances"

    listing = rapi.get("/2/instances").json()
    assert listing == [{"id": "web1.example.com", "uri": "/2/instances/web1.example.com"}]
    inst = rapi.get("/2/instances?bulk=1").json()[0]
    assert inst["name"] == "web1.example.com"
    assert inst["status"] == "running" and inst["oper_state"] is True and inst["admin_state"] == "up"
    assert inst["beparams"]["maxmem"] == 2048 and inst["beparams"]["memory"] == 2048
    assert inst["beparams"]["vcpus"] == 2
    assert inst["disk.sizes"] == [4096] and inst["disk_template"] == "plain"
    assert inst["pnode"] == pnode and inst["snodes"] == []
    assert inst["nic.modes"] == ["bridged"] and inst["nic.links"] == ["br0"]
    assert len(inst["nic.macs"]) == 1 and inst["nic.ips"] == [None] and inst["nic.networks"] == [None]
    assert inst["tags"] == ["op:123"] and inst["oper_ram"] == 2048 and inst["oper_vcpus"] == 2
    for key in ("hvparams", "ctime", "mtime", "serial_no", "uuid", "os"):
        assert key in inst
    assert rapi.get("/2/instances/web1.example.com").json() == inst | {"mtime": inst["mtime"]}

    after = {n["name"]: n for n in rapi.get("/2/nodes?bulk=1").json()}
    assert after[pnode]["mfree"] == before[pnode]["mfree"] - 2048
    assert after[pnode]["dfree"] == before[pnode]["dfree"] - 4096
    assert after[pnode]["pinst_cnt"] == 1 and after[pnode]["pinst_list"] == ["web1.example.com"]
    assert cluster.instances["web1.example.com"].pnode == pnode  # direct state inspection


def test_drbd_uses_secondary(rapi):
    job = rapi.wait_job(rapi.create("db1", disk=1000, template="drbd"))
    assert job["status"] == "success"
    pnode, snode = job["opresult"][0]
    inst = rapi.get("/2/instances/db1").json()
    assert inst["snodes"] == [snode] and pnode != snode
    nodes = {n["name"]: n for n in rapi.get("/2/nodes?bulk=1").json()}
    assert nodes[snode]["sinst_cnt"] == 1
    assert nodes[snode]["dfree"] == 102400 - 1000 - 128  # DRBD metadata


def test_name_clash_fails_with_ganeti_error(rapi):
    assert rapi.wait_job(rapi.create("dup1"))["status"] == "success"
    job = rapi.wait_job(rapi.create("dup1"))
    assert job["status"] == "error"
    assert job["opstatus"] == ["error"]
    assert job["opresult"] == [["OpPrereqError", ["Instance 'dup1' is already in the cluster", "already_exists"]]]


def test_not_enough_memory_anywhere(rapi, cluster):
    job = rapi.wait_job(rapi.create("huge", memory=100000))
    assert job["status"] == "error"
    cls, (msg, code) = job["opresult"][0]
    assert cls == "OpPrereqError" and code == "insufficient_resources"
    assert msg.startswith("Can't compute nodes using iallocator 'hail'")
    assert "huge" not in cluster.instances


def test_not_enough_memory_on_named_node(rapi, cluster):
    node = sorted(cluster.nodes)[1]
    job = rapi.wait_job(rapi.create("big", memory=9000, pnode=node))
    assert job["opresult"][0] == ["OpPrereqError", [
        f"Not enough memory on node {node} for creating instance big: needed 9000 MiB, available 7168 MiB",
        "insufficient_resources"]]


def test_not_enough_disk(rapi, cluster):
    node = sorted(cluster.nodes)[1]
    job = rapi.wait_job(rapi.create("fat", disk=200000, pnode=node))
    cls, (msg, code) = job["opresult"][0]
    assert cls == "OpPrereqError" and code == "insufficient_resources"
    assert msg.startswith(f"Not enough disk space on target node {node}")


def test_remove_and_remove_unknown(rapi, cluster):
    assert rapi.wait_job(rapi.create("gone1", memory=512))["status"] == "success"
    r = rapi.delete("/2/instances/gone1")
    assert r.status_code == 200
    job = rapi.wait_job(r.json())
    assert job["status"] == "success" and job["opresult"] == [None]
    assert job["summary"] == ["INSTANCE_REMOVE(gone1)"]
    assert "gone1" not in cluster.instances
    assert rapi.get("/2/instances/gone1").status_code == 404
    assert all(n["mfree"] == 8192 - 1024 and n["dfree"] == 102400 for n in rapi.get("/2/nodes?bulk=1").json())
    job = rapi.wait_job(rapi.delete("/2/instances/gone1").json())
    assert job["status"] == "error"
    assert job["opresult"] == [["OpPrereqError", ["Instance 'gone1' not known", "unknown_entity"]]]


def test_job_ids_increase_and_states(rapi):
    ids = [rapi.create(f"seq{i}", memory=256) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    first = rapi.get(f"/2/jobs/{ids[0]}").json()
    assert first["status"] in ("queued", "waiting", "running")
    for i in ids:
        assert rapi.wait_job(i)["status"] == "success"
    assert rapi.get("/2/jobs/999999").status_code == 404


def test_bad_requests(rapi):
    r = rapi.post("/2/instances", json={"mode": "create", "instance_name": "x"})
    assert r.status_code == 400 and "version 0" in r.json()["message"]
    r = rapi.post("/2/instances", json={"__version__": 1, "mode": "create"})
    assert r.status_code == 400
    r = rapi.post("/2/instances", data="not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["message"] == "Unable to parse JSON data"
    r = rapi.post("/2/instances", data=json.dumps({"__version__": 1}), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert rapi.get("/2/nonexistent").status_code == 404
    r = rapi.request("PATCH", "/2/instances")
    assert r.status_code == 501


def test_faults_fail_next_jobs_http_and_python(rapi, cluster):
    r = rapi.post("/sim/faults", json={"fail_next_jobs": 1, "message": "boom"})
    assert r.status_code == 200 and r.json()["fail_next_jobs"] == 1
    job = rapi.wait_job(rapi.create("f1"))
    assert job["status"] == "error" and job["opresult"] == [["OpExecError", ["boom"]]]
    assert "f1" not in cluster.instances  # a failed create leaves nothing behind
    assert rapi.get("/sim/faults").json()["fail_next_jobs"] == 0
    cluster.faults.fail_next_jobs = 1
    assert rapi.wait_job(rapi.create("f2"))["status"] == "error"
    assert rapi.wait_job(rapi.create("f3"))["status"] == "success"
    assert rapi.delete("/sim/faults").json()["fail_next_jobs"] == 0
    assert requests.get(cluster.url + "/sim/faults", timeout=5).status_code == 401


def test_job_files_written(rapi, cluster, tmp_path):
    job_id = rapi.create("filed")
    rapi.wait_job(job_id)
    path = tmp_path / "sim" / cluster.name / "queue" / f"job-{job_id}"
    data = json.loads(path.read_text())
    assert data["id"] == job_id
    op = data["ops"][0]
    assert op["status"] == "success" and op["input"]["OP_ID"] == "OP_INSTANCE_CREATE"
    assert set(op) >= {"input", "status", "result", "log", "start_timestamp", "exec_timestamp",
                       "end_timestamp", "priority"}
    assert set(data) >= {"id", "ops", "received_timestamp", "start_timestamp", "end_timestamp"}


def test_second_cluster_is_independent(fleet):
    a, b = fleet.clusters
    assert a.port != b.port and b.name == "cluster2.sim.local"
    r = requests.get(b.url + "/2/info", auth=(USER, PASSWORD), timeout=5)
    assert r.json()["name"] == "cluster2.sim.local"
