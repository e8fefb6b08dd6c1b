"""OP_INSTANCE_SET_PARAMS (PUT /2/instances/[name]/modify), after LUInstanceSetParams.

Checked in Ganeti's order: the arguments (nothing to change, the NIC modifications'
form), hotplug, disks, backend parameters and memory, then NICs (nicmods.py; the NIC
rules are in nics.py's docstring). The result is Ganeti's list of [change, value]
entries: disks, NICs, hv/, be/, os/ and admin_state, in that order. Parameters are
Ganeti 3.1's: ``hotplug`` defaults to true and ``hotplug_if_possible`` is not one of them.
"""
from __future__ import annotations

from . import constants as C
from . import nicmods, nics
from .cluster import Cluster, new_uuid
from .errors import ECODE_INVAL, ECODE_NOENT, ECODE_NORES, ECODE_STATE, OpPrereqError
from .opcodes import REQUIRED, OpDef, inst_lock, register


def _parse_disk_mods(value) -> list:
    """Disk modifications: [(op, index|identifier, params)] or the legacy [(op|index, params)]."""
    out = []
    for item in value or []:
        if not isinstance(item, (list, tuple)):
            raise OpPrereqError(f"Invalid disk modification {item!r}", ECODE_INVAL)
        if len(item) == 3:
            action, ident, params = item
        elif len(item) == 2:
            first, params = item
            action, ident = (first, -1) if first in ("add", "remove") else ("modify", first)
        else:
            raise OpPrereqError(f"Invalid disk modification {item!r}", ECODE_INVAL)
        if action not in ("add", "remove", "modify"):
            raise OpPrereqError(f"Invalid disk modification action '{action}'", ECODE_INVAL)
        if not isinstance(params, dict):
            raise OpPrereqError(f"Invalid disk parameters {params!r}", ECODE_INVAL)
        out.append((action, ident, params))
    return out


def _find_disk(items: list, ident, name: str) -> int:
    if isinstance(ident, int) or (isinstance(ident, str) and ident.lstrip("-").isdigit()):
        idx = int(ident)
        if idx == -1:
            idx = len(items) - 1
        if 0 <= idx < len(items):
            return idx
        raise OpPrereqError(f"Invalid disk index {ident} (instance {name} has {len(items)} disks)",
                            ECODE_INVAL)
    for i, it in enumerate(items):
        if it.get("uuid") == ident or it.get("name") == ident:
            return i
    raise OpPrereqError(f"Disk with UUID or name '{ident}' wasn't found", ECODE_NOENT)


@register
class InstanceSetParams(OpDef):
    op_id = "OP_INSTANCE_SET_PARAMS"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "force": False, "force_variant": False,
              "ignore_ipolicy": False, "nics": [], "disks": [], "beparams": {}, "runtime_mem": None,
              "hvparams": {}, "disk_template": None, "ext_params": {}, "file_driver": None,
              "file_storage_dir": None, "pnode": None, "pnode_uuid": None, "remote_node": None,
              "remote_node_uuid": None, "iallocator": None, "os_name": None, "osparams": {},
              "osparams_private": None, "wait_for_sync": True, "offline": None, "conflicts_check": True,
              "hotplug": True, "instance_communication": None}
    types = {"beparams": dict, "hvparams": dict, "disks": list, "osparams": dict, "hotplug": bool,
             "offline": bool, "os_name": str, "conflicts_check": bool}
    checks = {"nics": nics.mods_ok}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        # CheckArguments
        if not (op["nics"] or op["disks"] or op["disk_template"] or op["hvparams"] or op["beparams"]
                or op["os_name"] or op["osparams"] or op["offline"] is not None or op["runtime_mem"]
                or op["pnode"] or op["osparams_private"] or op["instance_communication"] is not None):
            raise OpPrereqError("No changes submitted", ECODE_INVAL)
        disk_mods = _parse_disk_mods(op["disks"])
        op["nics"] = nicmods.upgrade(op["nics"])
        for action, _ident, params in op["nics"]:
            nicmods.verify(action, params)
        # CheckPrereq
        inst = cluster.get_instance(op["instance_name"])
        nicmods.check_hotplug(cluster, inst, op, ctx)
        disks = self._check_disks(cluster, inst, op, disk_mods)
        new_be, full_old = self._check_beparams(cluster, inst, op)
        new_nics, nic_changes = None, []
        if op["nics"]:
            new_nics, nic_changes = nicmods.NicModifications(cluster, inst, op, ctx).plan(op["nics"])
        return {"instance": inst, "beparams": new_be, "nics": new_nics, "nic_changes": nic_changes,
                "disks": disks, "old_be": full_old, "token": ctx.token}

    @staticmethod
    def _check_disks(cluster, inst, op, disk_mods) -> list:
        disks = [dict(d) for d in inst.disks]
        for action, ident, params in disk_mods:
            if action == "add":
                if "size" not in params:
                    raise OpPrereqError("Required disk parameter 'size' missing", ECODE_INVAL)
                disks.append({"size": int(params["size"]), "mode": params.get("mode", "rw"), "uuid": new_uuid(),
                              "name": params.get("name"), "spindles": params.get("spindles")})
            elif action == "remove":
                if not op["hotplug"]:  # CheckInstanceState(INSTANCE_NOT_RUNNING)
                    msg = "can't remove volume from a running instance without using hotplug"
                    if inst.admin_state not in (C.ADMIN_DOWN, C.ADMIN_OFFLINE):
                        raise OpPrereqError("Instance '%s' is marked to be %s, %s" % (inst.name, inst.admin_state,
                                                                                     msg), ECODE_STATE)
                    if inst.running:
                        raise OpPrereqError("Instance %s is running, %s" % (inst.name, msg), ECODE_STATE)
                disks.pop(_find_disk(disks, ident, inst.name))
            else:
                idx = _find_disk(disks, ident, inst.name)
                if "size" in params:
                    raise OpPrereqError("Disk size change not possible, use grow-disk", ECODE_INVAL)
                disks[idx].update({k: v for k, v in params.items() if k in ("mode", "name")})
        delta = Cluster.disk_need(inst.disk_template, [d["size"] for d in disks]) - cluster.instance_disk_need(inst)
        if delta > 0:
            for n in [inst.pnode] + list(inst.snodes):
                cluster.check_free_disk(cluster.nodes[n], delta)
        return disks

    @staticmethod
    def _check_beparams(cluster, inst, op):
        be = dict(op["beparams"] or {})
        if "memory" in be:
            mem = be.pop("memory")
            be["maxmem"] = be["minmem"] = mem
        for key in be:
            if key not in C.DEFAULT_BEPARAMS:
                raise OpPrereqError("Unknown parameter '%s'" % key, ECODE_INVAL)
        new_be = dict(inst.beparams)
        for k, v in be.items():
            if v in ("default", None):
                new_be.pop(k, None)
            else:
                new_be[k] = v
        full_new = dict(cluster.beparams)
        full_new.update(new_be)
        if int(full_new["minmem"]) > int(full_new["maxmem"]):
            raise OpPrereqError("Minimum memory (%s) is greater than maximum memory (%s)"
                                % (full_new["minmem"], full_new["maxmem"]), ECODE_INVAL)
        full_old = cluster.fill_be(inst)
        if op["runtime_mem"] is not None and not inst.running:
            # LUInstanceSetParams: ballooning needs a running instance.
            raise OpPrereqError(f"Instance {inst.name} is not running", ECODE_STATE)
        if inst.running and int(full_new["maxmem"]) > int(full_old["maxmem"]) and not op["force"]:
            node = cluster.nodes[inst.pnode]
            delta = int(full_new["maxmem"]) - int(full_old["maxmem"])
            if delta > node.mfree:
                raise OpPrereqError(f"This change will prevent the instance from starting, due to"
                                    f" {delta - node.mfree} MB of memory missing on its primary node",
                                    ECODE_NORES)
        if op["offline"] is True and inst.running:
            raise OpPrereqError(f"Instance {inst.name} is running, cannot mark it offline", ECODE_STATE)
        return new_be, full_old

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        changes = []
        if op["disks"]:
            old_need = cluster.instance_disk_need(inst)
            inst.disks = plan["disks"]
            delta = cluster.instance_disk_need(inst) - old_need
            for n in [inst.pnode] + list(inst.snodes):
                cluster.nodes[n].disk_used += delta
            changes.append(["disks", len(inst.disks)])
        if plan["nics"] is not None:
            nicmods.commit(cluster, inst, plan["nics"], plan["token"])
            changes.extend(plan["nic_changes"])
        if op["hvparams"]:
            for k, v in op["hvparams"].items():
                if v in ("default", None):
                    inst.hvparams.pop(k, None)
                else:
                    inst.hvparams[k] = v
                changes.append([f"hv/{k}", v])
        if op["beparams"]:
            old_full = cluster.fill_be(inst)
            inst.beparams = plan["beparams"]
            cluster.resize_running_memory(inst, old_full)
            for k, v in op["beparams"].items():
                changes.append([f"be/{k}", v])
        if op["os_name"]:
            inst.os = op["os_name"]
        if op["osparams"]:
            inst.osparams.update(op["osparams"])
            for k, v in op["osparams"].items():
                changes.append([f"os/{k}", v])
        inst.touch()
        if op["offline"] is not None:
            inst.admin_state = C.ADMIN_OFFLINE if op["offline"] else C.ADMIN_DOWN
            changes.append(["admin_state", inst.admin_state])
        return changes
