"""Side channels of a real cluster: instance hooks and OS-install progress.

Hooks: after a successful instance opcode, the executables in
<hooks_dir>/<hpath>-post.d/ run (in name order, like run-parts) with Ganeti's
GANETI_* environment (doc/hooks.rst), GANETI_POST_* describing the state after the
opcode. For OP_INSTANCE_SET_PARAMS both GANETI_INSTANCE_* and GANETI_POST_INSTANCE_* show
the instance's NICs and min/max memory and vcpus as the modify leaves them, as
LUInstanceSetParams.BuildHooksEnv overrides them (INSTANCE_NIC_COUNT, INSTANCE_NICn_*).
Progress: during a create, the configured command is started (with
{instance} and {cluster} substituted) and fed snf-image style JSON lines on stdin.
Both run on their own threads so a slow script never stalls the job queue.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path

from . import constants as C

log = logging.getLogger(__name__)

# Opcode -> hooks path (doc/hooks.rst "directory").
HPATHS = {
    "OP_INSTANCE_CREATE": "instance-add",
    "OP_INSTANCE_REMOVE": "instance-remove",
    "OP_INSTANCE_STARTUP": "instance-start",
    "OP_INSTANCE_SHUTDOWN": "instance-stop",
    "OP_INSTANCE_REBOOT": "instance-reboot",
    "OP_INSTANCE_SET_PARAMS": "instance-modify",
    "OP_INSTANCE_RENAME": "instance-rename",
    "OP_INSTANCE_REINSTALL": "instance-reinstall",
}
_RUNPARTS_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


def instance_env(cluster, inst, nics: list | None = None, be_new: dict | None = None) -> dict[str, str]:
    """Ganeti's BuildInstanceHookEnvByObject for one instance (without the GANETI_ prefix);
    `nics` and `be_new` are a modify's overrides (its new NICs, its new backend parameters)."""
    be = cluster.fill_be(inst)
    sized = be_new or be
    env = {
        "OP_TARGET": inst.name, "INSTANCE_NAME": inst.name, "INSTANCE_PRIMARY": inst.pnode,
        "INSTANCE_SECONDARIES": " ".join(inst.snodes), "INSTANCE_OS_TYPE": inst.os,
        "INSTANCE_STATUS": inst.admin_state, "INSTANCE_MINMEM": sized["minmem"],
        "INSTANCE_MAXMEM": sized["maxmem"], "INSTANCE_MEMORY": sized["maxmem"], "INSTANCE_VCPUS": sized["vcpus"],
        "INSTANCE_DISK_TEMPLATE": inst.disk_template, "INSTANCE_HYPERVISOR": inst.hypervisor,
    }
    nics = inst.nics if nics is None else nics
    for idx, nic in enumerate(nics):
        filled = cluster.fill_nic(nic)
        p = f"INSTANCE_NIC{idx}_"
        if nic.get("name"):
            env[p + "NAME"] = nic["name"]
        env[p + "UUID"] = nic["uuid"]
        env[p + "IP"] = nic.get("ip") or ""
        env[p + "MAC"] = nic["mac"]
        env[p + "MODE"] = filled["mode"]
        env[p + "LINK"] = filled["link"]
        env[p + "VLAN"] = filled.get("vlan") or ""
        net = cluster.network_by_uuid(nic.get("network"))
        if net is not None:
            env[p + "NETWORK_NAME"] = net.name
            env[p + "NETWORK_UUID"] = net.uuid
            env[p + "NETWORK_TAGS"] = " ".join(sorted(net.tags))
            env[p + "NETWORK_SUBNET"] = str(net.net)
            for key, attr in (("NETWORK_GATEWAY", "gateway"), ("NETWORK_SUBNET6", "network6"),
                              ("NETWORK_GATEWAY6", "gateway6"), ("NETWORK_MAC_PREFIX", "mac_prefix")):
                if getattr(net, attr):
                    env[p + key] = getattr(net, attr)
        elif nic.get("network"):
            env[p + "NETWORK_NAME"] = nic["network"]
        if filled["mode"] in (C.NIC_MODE_BRIDGED, C.NIC_MODE_OVS):
            env[p + "BRIDGE"] = filled["link"]
    env["INSTANCE_NIC_COUNT"] = len(nics)
    for idx, d in enumerate(inst.disks):
        p = f"INSTANCE_DISK{idx}_"
        if d.get("name"):
            env[p + "NAME"] = d["name"]
        env[p + "UUID"] = d["uuid"]
        env[p + "SIZE"] = d["size"]
        env[p + "MODE"] = d["mode"]
        env[p + "DEV_TYPE"] = inst.disk_template
    env["INSTANCE_DISK_COUNT"] = len(inst.disks)
    env["INSTANCE_TAGS"] = " ".join(sorted(inst.tags))
    for source, kind in ((be, "BE"), (cluster.fill_hv(inst), "HV")):
        for key, value in source.items():
            env[f"INSTANCE_{kind}_{key}"] = value
    return env


def _modify_overrides(cluster, op: dict, plan) -> dict:
    """LUInstanceSetParams.BuildHooksEnv's overrides: the new NICs, min/max memory and vcpus.
    After the opcode the instance has them itself."""
    if op["OP_ID"] != "OP_INSTANCE_SET_PARAMS" or not plan:
        return {}
    be_new = dict(cluster.beparams)
    be_new.update(plan["beparams"])
    return {"nics": plan["nics"], "be_new": be_new}


class Hooks:
    def __init__(self, hooks_dir: str | None, progress_command: str | None, state_dir: Path | None):
        # Absolute: hooks run with "/" as their working directory, as Ganeti runs them.
        self.hooks_dir = Path(hooks_dir).resolve() if hooks_dir else None
        self.progress_command = progress_command
        self.data_dir = str(Path(state_dir).resolve()) if state_dir else "/var/lib/ganeti"
        self.threads: list[threading.Thread] = []

    def wants(self, op_id: str) -> bool:
        return self.hooks_dir is not None and op_id in HPATHS

    def pre_env(self, cluster, op: dict, plan=None) -> dict | None:
        """The instance's environment before the opcode (None for a create: not there yet)."""
        name = op.get("instance_name")
        inst = cluster.instances.get(name) if name else None
        if inst is None:
            return None
        return instance_env(cluster, inst, **_modify_overrides(cluster, op, plan))

    def post(self, cluster, op: dict, pre: dict | None) -> None:
        """Run <hpath>-post.d scripts for a successful instance opcode."""
        hpath = HPATHS.get(op["OP_ID"])
        if hpath is None or self.hooks_dir is None:
            return
        target = op.get("new_name") if op["OP_ID"] == "OP_INSTANCE_RENAME" else op.get("instance_name")
        inst = cluster.instances.get(target)
        post = instance_env(cluster, inst, **_modify_overrides(cluster, op, None)) if inst is not None else None
        base = pre or post
        if base is None:
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        common = {"HOOKS_VERSION": 2, "HOOKS_PHASE": "POST", "HOOKS_PATH": hpath, "CLUSTER": cluster.name,
                  "MASTER": cluster.master, "OP_CODE": op["OP_ID"], "OBJECT_TYPE": "INSTANCE",
                  "DATA_DIR": self.data_dir}
        if op["OP_ID"] == "OP_INSTANCE_CREATE":
            common["INSTANCE_ADD_MODE"] = op.get("mode")
        for k, v in {**base, **common}.items():
            env[f"GANETI_{k}"] = "" if v is None else str(v)
        for k, v in (post or {}).items():
            env[f"GANETI_POST_{k}"] = "" if v is None else str(v)
        directory = self.hooks_dir / f"{hpath}-post.d"
        if not directory.is_dir():
            return
        scripts = [p for p in sorted(directory.iterdir())
                   if _RUNPARTS_NAME.match(p.name) and p.is_file() and os.access(p, os.X_OK)]
        if scripts:
            self._spawn(self._run_scripts, scripts, env)

    def _run_scripts(self, scripts, env) -> None:
        for script in scripts:
            try:
                subprocess.run([str(script)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60, cwd="/")
            except Exception:
                log.exception("hook %s failed", script)

    def progress(self, cluster, instance: str, duration: float) -> None:
        """Feed snf-image progress messages to the progress command over `duration` seconds."""
        if not self.progress_command:
            return
        cmd = self.progress_command.format(instance=shlex.quote(instance), cluster=shlex.quote(cluster.name))
        self._spawn(self._feed_progress, cmd, instance, cluster.name, duration)

    def _feed_progress(self, cmd: str, instance: str, cluster: str, duration: float) -> None:
        env = dict(os.environ, GANETI_INSTANCE_NAME=instance, GANETI_CLUSTER=cluster)
        try:
            proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env, text=True)
        except OSError:
            log.exception("progress command failed to start")
            return
        total = 1 << 30
        steps = [0, 25, 50, 75, 100]
        messages = [{"type": "image-info", "messages": ["Starting image copy..."]}]
        messages += [{"type": "image-copy-progress", "position": total * p // 100, "total": total,
                      "progress": float(p)} for p in steps]
        messages.append({"type": "image-helper", "subtype": "task-end", "task": "FixPartitionTable"})
        pause = max(duration, 0.0) / len(messages)
        try:
            for m in messages:
                proc.stdin.write(json.dumps(m) + "\n")
                proc.stdin.flush()
                time.sleep(pause)
            proc.stdin.close()
            proc.wait(timeout=30)
        except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
            proc.kill()

    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads = [x for x in self.threads if x.is_alive()] + [t]

    def join(self, timeout: float = 10.0) -> None:
        """Wait for running hooks and progress feeders (tests use this)."""
        deadline = time.monotonic() + timeout
        for t in list(self.threads):
            t.join(max(deadline - time.monotonic(), 0))
