"""Instance resources: list, create, get, delete, info, power, modify, rename, tags."""
from __future__ import annotations

import pytest

from orchestrator.rapi import JobFailed, RapiBadRequest, RapiNotFound

from .conftest import I_FIELDS, done, make_instance, spec


def test_instances_bulk_and_names(client):
    """rapi.rst: ``/2/instances`` GET: with bulk, I_FIELDS of every instance in one call."""
    assert client.instances() == [] and client.instances(bulk=False) == []
    make_instance(client, "web1.example.com", memory=256)
    make_instance(client, "web2.example.com", memory=256, tags=["orchestrator:op:7"])
    bulk = client.instances()
    assert [i["name"] for i in bulk] == ["web1.example.com", "web2.example.com"]
    for inst in bulk:
        assert set(inst) == set(I_FIELDS)
        assert inst["status"] == "running" and inst["admin_state"] == "up" and inst["oper_state"] is True
        assert inst["beparams"]["maxmem"] == 256 and inst["disk.sizes"] == [1024]
        assert len(inst["nic.macs"]) == 1 and inst["nic.modes"] == ["bridged"]
    assert bulk[1]["tags"] == ["orchestrator:op:7"]
    assert sorted(client.instances(bulk=False)) == ["web1.example.com", "web2.example.com"]


def test_create_instance(client, cluster):
    """rapi.rst: ``/2/instances`` POST with ``__version__`` 1; the job's result is the list of nodes."""
    job = done(client, client.create_instance(spec("vm1", memory=1024, disk=2048)))
    op = job["ops"][0]
    assert op["OP_ID"] == "OP_INSTANCE_CREATE" and op["instance_name"] == "vm1"
    assert op["beparams"] == {"maxmem": 1024, "minmem": 1024, "vcpus": 1} and op["iallocator"] == "hail"
    nodes = job["opresult"][0]
    assert isinstance(nodes, list) and nodes[0] in cluster.nodes
    inst = client.instance("vm1")
    assert inst["pnode"] == nodes[0] and inst["disk.sizes"] == [2048] and inst["status"] == "running"


def test_create_instance_with_secret_osparams(client, cluster):
    """rapi.rst: ``/2/instances`` POST with ``osparams_secret`` (the opcode's parameter, 2.16+):
    as design-os.rst's secret OS parameters, they reach the OS scripts but are not saved in
    the configuration nor in the job queue; the job shows <redacted>, the instance nothing."""
    secret = "https://api.example/api/v1/config/0123456789abcdef0123456789abcdef"
    job_id = client.create_instance(spec("sec1", osparams={"img_id": "debian"},
                                         osparams_secret={"config_url": secret}))
    job = done(client, job_id)
    assert job["ops"][0]["osparams_secret"] == {"config_url": "<redacted>"}
    assert cluster.queue.get(job_id).ops[0].input["osparams_secret"] == {"config_url": secret}  # the OS scripts'
    inst = client.instance("sec1")
    assert inst["custom_osparams"] == {"img_id": "debian"}
    info = done(client, client.instance_info("sec1"))["opresult"][0]["sec1"]
    assert info["os_instance"] == info["os_actual"] == {"img_id": "debian"}
    for seen in (client.jobs(), client.instances(), client.job(job_id), inst, info):
        assert secret not in repr(seen)
    job_file = cluster.queue.queue_dir / f"job-{job_id}"
    assert "<redacted>" in job_file.read_text() and secret not in job_file.read_text()
    with pytest.raises(RapiBadRequest):
        client.create_instance(spec("sec2", osparams_secret="config_url=x"))


def test_create_instance_on_named_node_stopped(client, cluster):
    """rapi.rst: ``/2/instances`` POST with pnode and start false: created ADMIN_down there."""
    pnode = sorted(cluster.nodes)[1]
    done(client, client.create_instance(spec("vm2", pnode=pnode, start=False)))
    inst = client.instance("vm2")
    assert inst["pnode"] == pnode and inst["status"] == "ADMIN_down" and inst["oper_ram"] is None


def test_create_instance_dry_run(client):
    """rapi.rst: ``/2/instances`` POST with ``dry-run``: only the checks run, the job's result
    is the nodes that would be used, and nothing is created."""
    job = done(client, client.create_instance(spec("dry1"), dry_run=True))
    assert job["ops"][0]["dry_run"] is True
    assert isinstance(job["opresult"][0], list) and job["opresult"][0]
    assert client.instances(bulk=False) == []


def test_create_instance_bad_body(client):
    """rapi.rst: ``/2/instances`` POST: a body the create opcode does not accept is a 400."""
    with pytest.raises(RapiBadRequest) as err:
        client.create_instance({**spec("bad1"), "no_such_parameter": 1})
    assert err.value.code == 400 and "no_such_parameter" in err.value.message
    assert client.jobs() == []


def test_instance(client):
    """rapi.rst: ``/2/instances/[instance_name]`` GET: I_FIELDS of one instance."""
    make_instance(client, "one.example.com", memory=768)
    inst = client.instance("one.example.com")
    assert set(inst) == set(I_FIELDS)
    assert inst["name"] == "one.example.com" and inst["beparams"]["maxmem"] == 768
    assert inst["oper_ram"] == 768 and isinstance(inst["ctime"], float) and inst["serial_no"] >= 1


def test_delete_instance(client):
    """rapi.rst: ``/2/instances/[instance_name]`` DELETE removes it (job); ``dry-run`` keeps it."""
    make_instance(client, "gone1")
    job = done(client, client.delete_instance("gone1", dry_run=True))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_REMOVE" and job["ops"][0]["dry_run"] is True
    assert client.instance("gone1")["name"] == "gone1"
    done(client, client.delete_instance("gone1"))
    with pytest.raises(RapiNotFound):
        client.instance("gone1")


def test_instance_info(client):
    """rapi.rst: ``/2/instances/[instance_name]/info`` GET submits a job whose result holds
    the instance's details; ``static`` skips the live state."""
    make_instance(client, "inf1", memory=512)
    job = done(client, client.instance_info("inf1"))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_QUERY_DATA" and job["ops"][0]["instances"] == ["inf1"]
    details = job["opresult"][0]["inf1"]
    assert details["run_state"] == "up" and details["config_state"] == "up"
    assert details["be_actual"]["maxmem"] == 512 and len(details["nics"]) == 1
    static = done(client, client.instance_info("inf1", static=True))["opresult"][0]["inf1"]
    assert static["run_state"] is None and static["config_state"] == "up"


def test_shutdown_and_startup(client, cluster):
    """rapi.rst: ``/2/instances/[instance_name]/shutdown`` PUT (timeout in the body) and
    ``/2/instances/[instance_name]/startup`` PUT."""
    inst = make_instance(client, "pw1", memory=1024)
    mfree = client.node(inst["pnode"])["mfree"]
    job = done(client, client.shutdown("pw1", timeout=30))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_SHUTDOWN" and job["ops"][0]["timeout"] == 30
    inst = client.instance("pw1")
    assert inst["status"] == "ADMIN_down" and inst["admin_state"] == "down" and inst["oper_state"] is False
    assert client.node(inst["pnode"])["mfree"] == mfree + 1024
    job = done(client, client.startup("pw1", force=True))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_STARTUP" and job["ops"][0]["force"] is True
    assert client.instance("pw1")["status"] == "running"


def test_startup_shutdown_dry_run_and_no_remember(client):
    """rapi.rst: ``/2/instances/[instance_name]/startup`` and ``/2/instances/[instance_name]/shutdown``
    take ``dry-run`` (nothing changes) and ``no_remember`` (the admin state is kept)."""
    make_instance(client, "pw2")
    job = done(client, client.shutdown("pw2", dry_run=True))
    assert job["ops"][0]["dry_run"] is True and client.instance("pw2")["status"] == "running"
    done(client, client.shutdown("pw2", no_remember=True))
    inst = client.instance("pw2")
    assert inst["admin_state"] == "up" and inst["status"] == "ERROR_down"
    done(client, client.startup("pw2", dry_run=True))
    assert client.instance("pw2")["status"] == "ERROR_down"
    done(client, client.startup("pw2"))
    assert client.instance("pw2")["status"] == "running"


@pytest.mark.parametrize("reboot_type", ["soft", "hard", "full"])
def test_reboot(client, reboot_type):
    """rapi.rst: ``/2/instances/[instance_name]/reboot`` POST with type soft, hard or full."""
    make_instance(client, "rb1")
    job = done(client, client.reboot("rb1", reboot_type=reboot_type))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_REBOOT" and job["ops"][0]["reboot_type"] == reboot_type
    assert client.instance("rb1")["status"] == "running"
    job = done(client, client.reboot("rb1", reboot_type=reboot_type, dry_run=True, ignore_secondaries=True))
    assert job["ops"][0]["dry_run"] is True and job["ops"][0]["ignore_secondaries"] is True


def test_reboot_bad_type(client):
    """rapi.rst: ``/2/instances/[instance_name]/reboot`` POST: an unknown type is a 400."""
    make_instance(client, "rb2")
    with pytest.raises(RapiBadRequest):
        client.reboot("rb2", reboot_type="gentle")


def test_modify_beparams(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT with beparams (the product's resize)."""
    inst = make_instance(client, "mod1", memory=1024)
    mfree = client.node(inst["pnode"])["mfree"]
    job = done(client, client.modify("mod1", beparams={"maxmem": 2048, "minmem": 2048, "vcpus": 2}))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_SET_PARAMS"
    assert ["be/maxmem", 2048] in job["opresult"][0]
    inst = client.instance("mod1")
    assert inst["beparams"]["maxmem"] == 2048 and inst["beparams"]["vcpus"] == 2
    assert client.node(inst["pnode"])["mfree"] == mfree - 1024
    job = done(client, client.modify("mod1", beparams={"vcpus": 4}, dry_run=True))
    assert job["ops"][0]["dry_run"] is True and client.instance("mod1")["beparams"]["vcpus"] == 2
    job = done(client, client.modify("mod1", beparams={"maxmem": 4096, "minmem": 4096}, force=True))
    assert job["ops"][0]["force"] is True and client.instance("mod1")["beparams"]["maxmem"] == 4096


def test_modify_nics_with_hotplug(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT with nics add, modify and remove
    ([op, index, params]) and hotplug (the product's NIC attach and detach)."""
    make_instance(client, "mod2")
    done(client, client.modify("mod2", nics=[["add", -1, {"mode": "routed", "link": "rt1", "ip": "10.1.0.5"}]],
                               hotplug=True))
    inst = client.instance("mod2")
    assert inst["nic.modes"] == ["bridged", "routed"] and inst["nic.ips"] == [None, "10.1.0.5"]
    done(client, client.modify("mod2", nics=[["modify", 1, {"ip": "10.1.0.6"}]], hotplug=True))
    assert client.instance("mod2")["nic.ips"] == [None, "10.1.0.6"]
    mac = client.instance("mod2")["nic.macs"][1]
    done(client, client.modify("mod2", nics=[["remove", 0, {}]], hotplug=True))
    inst = client.instance("mod2")
    assert inst["nic.ips"] == ["10.1.0.6"] and inst["nic.macs"] == [mac]


def test_modify_unknown_parameter_is_400(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: the body is OP_INSTANCE_SET_PARAMS's
    parameters; any other is refused with 400."""
    make_instance(client, "mod3")
    with pytest.raises(RapiBadRequest):
        client.modify("mod3", colour="blue")


def test_rename_instance(client):
    """rapi.rst: ``/2/instances/[instance_name]/rename`` PUT (new_name, name_check, ip_check)."""
    make_instance(client, "old1", start=False)
    job = done(client, client.rename_instance("old1", "new1", name_check=False, ip_check=False))
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_RENAME" and job["ops"][0]["new_name"] == "new1"
    assert client.instance("new1")["name"] == "new1"
    with pytest.raises(RapiNotFound):
        client.instance("old1")


def test_instance_tags(client):
    """rapi.rst: ``/2/instances/[instance_name]/tags`` GET, PUT (``?tag=``, ``dry-run``) and DELETE."""
    make_instance(client, "tg1")
    assert client.instance_tags("tg1") == []
    done(client, client.add_instance_tags("tg1", ["orchestrator:op:5", "owner:alice"]))
    assert client.instance_tags("tg1") == ["orchestrator:op:5", "owner:alice"]
    done(client, client.add_instance_tags("tg1", ["never"], dry_run=True))
    assert "never" not in client.instance_tags("tg1")
    done(client, client.delete_instance_tags("tg1", ["owner:alice"]))
    assert client.instance_tags("tg1") == ["orchestrator:op:5"]
    assert client.instance("tg1")["tags"] == ["orchestrator:op:5"]
    with pytest.raises(JobFailed) as err:
        done(client, client.delete_instance_tags("tg1", ["absent"]))
    assert err.value.ecode == "unknown_entity"

