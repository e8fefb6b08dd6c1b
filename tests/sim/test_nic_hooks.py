"""instance-modify post hooks for NIC hot-add and removal, with Ganeti's environment
(doc/hooks.rst; hooksmaster: GANETI_* from the pre phase, GANETI_POST_* after the opcode;
LUInstanceSetParams.BuildHooksEnv: the new NICs in both; BuildInstanceHookEnv's names:
INSTANCE_NIC_COUNT, INSTANCE_NICn_{NAME,UUID,IP,MAC,MODE,LINK,VLAN,BRIDGE,NETWORK_*})."""
from __future__ import annotations

import time

from ganeti_sim import SimFleet

from .conftest import PASSWORD, USER, Client
from .jobs import succeeded


def _env(path, count: int, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        runs = path.read_text().split("---\n")[:-1] if path.exists() else []
        if len(runs) >= count:
            return dict(line.split("=", 1) for line in runs[count - 1].splitlines())
        assert time.monotonic() < deadline, runs
        time.sleep(0.02)


def test_modify_hooks_describe_the_new_nics(tmp_path):
    hooks = tmp_path / "hooks"
    (hooks / "instance-modify-post.d").mkdir(parents=True)
    out = tmp_path / "modify.env"
    script = hooks / "instance-modify-post.d" / "00-record"
    script.write_text(f"#!/bin/sh\n{{ env | grep ^GANETI_ | sort; echo ---; }} >> {out}\n")
    script.chmod(0o755)
    with SimFleet(clusters=1, job_duration=0.05, hooks_dir=str(hooks), user=USER, password=PASSWORD) as fleet:
        c = fleet.clusters[0]
        rapi = Client(c.url, (USER, PASSWORD))
        succeeded(rapi, rapi.post("/2/networks", json={"name": "pub", "network": "10.0.0.0/28", "gateway": "10.0.0.1",
                                                 "network6": "2001:db8::/64", "tags": ["dhcp"]}).json())
        succeeded(rapi, rapi.put("/2/networks/pub/connect", json={"group_name": "default", "network_mode": "bridged",
                                                            "network_link": "br-pub", "network_vlan": ".7"}).json())
        succeeded(rapi, rapi.post("/2/instances", json={
            "__version__": 1, "mode": "create", "instance_name": "hk1", "disk_template": "plain",
            "disks": [{"size": 100}], "nics": [{}], "os_type": "x", "name_check": False, "ip_check": False}).json())
        net = rapi.get("/2/networks/pub").json()

        succeeded(rapi, rapi.put("/2/instances/hk1/modify", json={
            "nics": [["add", -1, {"network": "pub", "ip": "pool", "name": "pub0"}]]}).json())
        inst = rapi.get("/2/instances/hk1").json()
        env = _env(out, 1)
        assert env["GANETI_HOOKS_PATH"] == "instance-modify" and env["GANETI_OP_CODE"] == "OP_INSTANCE_SET_PARAMS"
        for prefix in ("GANETI_", "GANETI_POST_"):  # both phases: the NICs the modify leaves
            p = prefix + "INSTANCE_NIC1_"
            assert env[prefix + "INSTANCE_NIC_COUNT"] == "2"
            assert env[p + "NAME"] == "pub0" and env[p + "UUID"] == inst["nic.uuids"][1]
            assert env[p + "IP"] == "10.0.0.2" and env[p + "MAC"] == inst["nic.macs"][1]
            assert env[p + "MODE"] == "bridged" and env[p + "LINK"] == "br-pub" and env[p + "BRIDGE"] == "br-pub"
            assert env[p + "VLAN"] == ".7"
            assert env[p + "NETWORK_NAME"] == "pub" and env[p + "NETWORK_UUID"] == net["uuid"]
            assert env[p + "NETWORK_SUBNET"] == "10.0.0.0/28" and env[p + "NETWORK_GATEWAY"] == "10.0.0.1"
            assert env[p + "NETWORK_SUBNET6"] == "2001:db8::/64" and env[p + "NETWORK_TAGS"] == "dhcp"
            assert "NETWORK_MAC_PREFIX" not in " ".join(k for k in env if k.startswith(p))
            assert env[prefix + "INSTANCE_NIC0_IP"] == "" and env[prefix + "INSTANCE_NIC0_LINK"] == "br0"
            assert prefix + "INSTANCE_NIC0_NAME" not in env and prefix + "INSTANCE_NIC0_NETWORK_NAME" not in env

        succeeded(rapi, rapi.put("/2/instances/hk1/modify", json={"nics": [["remove", 0, {}]]}).json())
        env = _env(out, 2)
        for prefix in ("GANETI_", "GANETI_POST_"):
            assert env[prefix + "INSTANCE_NIC_COUNT"] == "1"
            assert env[prefix + "INSTANCE_NIC0_NAME"] == "pub0" and env[prefix + "INSTANCE_NIC0_IP"] == "10.0.0.2"
            assert prefix + "INSTANCE_NIC1_MAC" not in env
        c.hooks.join()
