"""Opcode definitions and their simulated logical units.

Each opcode has Ganeti's OP_ID, parameters with defaults (so job "ops" look like
Ganeti's serialized opcodes), the locks it takes, a prerequisite check that raises
Ganeti's errors without changing anything, and an execute step that applies the
effect after the opcode's simulated run time.
"""
from __future__ import annotations

import time

from . import constants as C
from . import jobdeps, nics
from .cluster import Cluster, Instance, new_uuid
from .errors import (ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE,
                     GanetiError, HttpBadRequest, OpExecError, OpPrereqError, TagError)

REQUIRED = object()

# Parameters every opcode has (Ganeti's OpCode base).
COMMON_PARAMS = {"dry_run": False, "debug_level": 0, "priority": C.OP_PRIO_DEFAULT, "depends": None,
                 "comment": None, "reason": []}


class OpDef:
    """An opcode and its logical unit. Subclasses override what they need."""

    op_id = ""
    dsc_field: str | None = None
    params: dict = {}
    types: dict = {}  # param -> type or tuple of types accepted (None always accepted)
    checks: dict = {}  # param -> predicate over its filled value (Ganeti's ht check; see ht.py)

    def build(self, body: dict, static: dict) -> dict:
        """Fill and validate the opcode input like rlib2's FillOpcode (400 on bad input)."""
        op = {"OP_ID": self.op_id}
        known = dict(COMMON_PARAMS)
        known.update(self.params)
        for key in body:
            if key not in known:
                raise HttpBadRequest("Invalid body parameters: Object %s doesn't support the parameter '%s'"
                                     % (_class_name(self.op_id), key))
        for key, default in known.items():
            if key in body:
                op[key] = body[key]
            elif key in static:
                op[key] = static[key]
            elif default is REQUIRED:
                raise HttpBadRequest("Invalid body parameters: ('Parameter '%s.%s' fails validation', '%s')"
                                     % (self.op_id, key, ECODE_INVAL))
            else:
                op[key] = _copy(default)
        for key, value in static.items():
            op[key] = value
        for key, typ in self.types.items():
            value = op.get(key)
            if value is None:
                continue
            if typ is int and isinstance(value, bool):
                ok = False
            else:
                ok = isinstance(value, typ)
            if not ok:
                raise validation_error(self.op_id, key)
        for key, pred in self.checks.items():
            if not pred(op.get(key)):
                raise validation_error(self.op_id, key)
        if not jobdeps.valid(op["depends"]):
            raise validation_error(self.op_id, "depends")
        return op

    def locks(self, cluster: Cluster, op: dict) -> list[str]:
        return []

    def check(self, cluster: Cluster, op: dict, ctx):
        return None

    def execute(self, cluster: Cluster, op: dict, plan, ctx):
        return None

    def rollback(self, cluster: Cluster, op: dict, plan) -> None:
        return None

    def dry_run_result(self, cluster: Cluster, op: dict, plan):
        return None


def validation_error(op_id: str, key: str) -> HttpBadRequest:
    """rlib2's answer to an opcode parameter failing its type check."""
    return HttpBadRequest("Invalid body parameters: ('Parameter '%s.%s' fails validation', '%s')"
                          % (op_id, key, ECODE_INVAL))


def _copy(value):
    if isinstance(value, (dict, list)):
        import copy
        return copy.deepcopy(value)
    return value


def _class_name(op_id: str) -> str:
    return "Op" + "".join(p.capitalize() for p in op_id[3:].split("_"))


REGISTRY: dict[str, OpDef] = {}


def register(cls):
    REGISTRY[cls.op_id] = cls()
    return cls


def get(op_id: str) -> OpDef:
    return REGISTRY[op_id]


def summary(op: dict) -> str:
    """Ganeti's OpCode.Summary: OP_ID without 'OP_' plus the descriptive field."""
    impl = REGISTRY.get(op["OP_ID"])
    txt = op["OP_ID"][3:]
    if impl is not None and impl.dsc_field:
        value = op.get(impl.dsc_field)
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        txt = f"{txt}({value})"
    return txt


def inst_lock(name: str) -> str:
    return f"instance/{name}"


# --- instance create / remove ------------------------------------------------------

@register
class InstanceCreate(OpDef):
    op_id = "OP_INSTANCE_CREATE"
    dsc_field = "instance_name"
    params = {
        "instance_name": REQUIRED, "force_variant": False, "wait_for_sync": True, "name_check": True,
        "ignore_ipolicy": False, "opportunistic_locking": False, "beparams": {}, "disks": REQUIRED,
        "disk_template": REQUIRED, "group_name": None, "file_driver": None, "file_storage_dir": None,
        "hypervisor": None, "hvparams": {}, "identify_defaults": False, "iallocator": None,
        "ip_check": True, "conflicts_check": True, "mode": REQUIRED, "nics": REQUIRED, "no_install": None,
        "osparams": {}, "osparams_private": None, "osparams_secret": None, "os_type": None,
        "pnode": None, "pnode_uuid": None, "snode": None, "snode_uuid": None, "source_handshake": None,
        "source_instance_name": None, "source_shutdown_timeout": 120, "source_x509_ca": None,
        "src_node": None, "src_node_uuid": None, "src_path": None, "compress": "none", "start": True,
        "forthcoming": False, "commit": False, "tags": [], "instance_communication": False,
        "helper_startup_timeout": None, "helper_shutdown_timeout": None,
    }
    types = {"instance_name": str, "disks": list, "nics": list, "disk_template": str, "mode": str,
             "beparams": dict, "hvparams": dict, "osparams": dict, "osparams_private": dict,
             "osparams_secret": dict, "tags": list, "start": bool,
             "name_check": bool, "ip_check": bool, "conflicts_check": bool, "pnode": str, "snode": str,
             "iallocator": str, "os_type": str, "hypervisor": str}

    def build(self, body, static):
        op = super().build(body, static)
        if op["disk_template"] not in C.DISK_TEMPLATES:
            raise HttpBadRequest("Invalid body parameters: ('Parameter 'OP_INSTANCE_CREATE.disk_template'"
                                 " fails validation', '%s')" % ECODE_INVAL)
        if op["mode"] not in C.INSTANCE_CREATE_MODES:
            raise HttpBadRequest("Invalid body parameters: ('Parameter 'OP_INSTANCE_CREATE.mode'"
                                 " fails validation', '%s')" % ECODE_INVAL)
        for d in op["disks"]:
            if not isinstance(d, dict):
                raise HttpBadRequest("Invalid body parameters: ('Parameter 'OP_INSTANCE_CREATE.disks'"
                                     " fails validation', '%s')" % ECODE_INVAL)
        if not nics.create_nics_ok(op["nics"]):
            raise validation_error(self.op_id, "nics")
        return op

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        name = op["instance_name"]
        nics.check_create_arguments(op["nics"])
        if op["mode"] != C.INSTANCE_CREATE:
            raise OpPrereqError("Invalid instance creation mode %r" % op["mode"], ECODE_INVAL)
        if op["ip_check"] and not op["name_check"]:
            raise OpPrereqError("Cannot do IP address check without a name check", ECODE_INVAL)
        if name in cluster.instances:
            raise OpPrereqError(f"Instance '{name}' is already in the cluster", ECODE_EXISTS)
        template = op["disk_template"]
        if template not in cluster.enabled_disk_templates:
            raise OpPrereqError("Disk template '%s' is not enabled in cluster. Enabled disk templates are: %s"
                                % (template, ",".join(cluster.enabled_disk_templates)))
        if op["os_type"] is None and not (op["osparams"] or {}).get("os-image"):
            raise OpPrereqError("No guest OS or OS image specified", ECODE_INVAL)
        if op["pnode"] is not None and op["iallocator"] is not None:
            raise OpPrereqError("Do not specify both, iallocator and node", ECODE_INVAL)
        if op["pnode"] is not None and template in C.DTS_INT_MIRROR and op["snode"] is None:
            raise OpPrereqError("The networked disk templates need a mirror node", ECODE_INVAL)
        if op["hypervisor"] not in (None, C.DEFAULT_HYPERVISOR):
            raise OpPrereqError("Selected hypervisor (%s) not enabled in the cluster (%s)"
                                % (op["hypervisor"], C.DEFAULT_HYPERVISOR), ECODE_STATE)
        # Disks.
        disks = []
        for idx, d in enumerate(op["disks"]):
            size = d.get("size")
            if size is None:
                raise OpPrereqError("Missing disk size", ECODE_INVAL)
            try:
                size = int(size)
            except (TypeError, ValueError):
                raise OpPrereqError("Invalid disk size '%s'" % size, ECODE_INVAL)
            mode = d.get("mode", "rw")
            if mode not in ("rw", "ro"):
                raise OpPrereqError("Invalid disk access mode '%s'" % mode, ECODE_INVAL)
            disks.append({"size": size, "mode": mode, "uuid": new_uuid(), "name": d.get("name"),
                          "spindles": d.get("spindles")})
        if template == "diskless" and disks:
            disks = []
        # Beparams: "memory" is the old name of maxmem/minmem.
        be = dict(op["beparams"] or {})
        if "memory" in be:
            mem = be.pop("memory")
            be.setdefault("maxmem", mem)
            be.setdefault("minmem", mem)
        for key in be:
            if key not in C.DEFAULT_BEPARAMS:
                raise OpPrereqError("Unknown parameter '%s'" % key, ECODE_INVAL)
        full_be = dict(cluster.beparams)
        full_be.update(be)
        try:
            maxmem = int(full_be["maxmem"])
            int(full_be["vcpus"])
        except (TypeError, ValueError):
            raise OpPrereqError("Invalid beparams value", ECODE_INVAL)
        if int(full_be["minmem"]) > maxmem:
            raise OpPrereqError("Minimum memory (%s) is greater than maximum memory (%s)"
                                % (full_be["minmem"], maxmem), ECODE_INVAL)
        # NICs (ComputeNics), then their generated MACs.
        inst_nics = nics.compute_nics(cluster, op["nics"], op["name_check"], ctx.token)
        nics.generate_macs(cluster, inst_nics, ctx.token)
        # Placement.
        need = Cluster.disk_need(template, [d["size"] for d in disks])
        mirrored = template in C.DTS_INT_MIRROR
        if op["pnode"] is None:
            ialloc = op["iallocator"] or cluster.default_iallocator
            if not ialloc:
                raise OpPrereqError("No iallocator or node given and no cluster-wide default iallocator"
                                    " found; please specify either an iallocator or a node, or set a"
                                    " cluster-wide default iallocator", ECODE_INVAL)
            nodes = cluster.allocate(maxmem, need, mirrored, check_memory=True, iallocator=ialloc)
            ctx.log(f"Selected nodes for instance {name} via iallocator {ialloc}: {', '.join(nodes)}")
            nics.assign_networks(cluster, inst_nics, nodes[0], op["conflicts_check"], ctx.token, ctx)
        else:
            pnode = cluster.get_node(op["pnode"])
            cluster.check_node_usable(pnode, "primary")
            nics.assign_networks(cluster, inst_nics, pnode.name, op["conflicts_check"], ctx.token, ctx)
            nodes = [pnode.name]
            if mirrored:
                snode = cluster.get_node(op["snode"])
                if snode is pnode:
                    raise OpPrereqError("The secondary node cannot be the primary node", ECODE_INVAL)
                if snode.offline:
                    raise OpPrereqError(f"Can't use offline node: {snode.name}", ECODE_STATE)
                if snode.drained:
                    raise OpPrereqError(f"Can't use drained node {snode.name}", ECODE_STATE)
                nodes.append(snode.name)
            for n in nodes:
                cluster.check_free_disk(cluster.nodes[n], need)
            if op["start"]:
                cluster.check_free_memory(pnode, f"creating instance {name}", maxmem)
        if op["dry_run"]:
            return {"nodes": nodes}
        # Ganeti adds the instance to the config before creating disks and installing
        # the OS: it is listed (down) while the job runs, and its disks are reserved.
        # osparams_secret only reach the OS scripts: never the config, nor instance queries.
        inst = Instance(name=name, os=op["os_type"] or "", pnode=nodes[0], snodes=nodes[1:],
                        disk_template=template, disks=disks, nics=inst_nics, beparams=be,
                        hvparams=dict(op["hvparams"] or {}), osparams=dict(op["osparams"] or {}),
                        tags=set(op["tags"] or []), creating=True)
        cluster.add_instance(inst)
        promised = maxmem if op["start"] else 0
        cluster.nodes[nodes[0]].mem_promised += promised
        cluster.commit_reservations(ctx.token)  # cfg.AddInstance commits the job's addresses
        ctx.log("* creating instance disks...")
        return {"nodes": nodes, "instance": inst, "promised": promised}

    @staticmethod
    def _release_promise(cluster, plan) -> None:
        if plan and plan.get("promised"):
            node = cluster.nodes.get(plan["instance"].pnode)
            if node is not None:
                node.mem_promised -= plan["promised"]
            plan["promised"] = 0

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        inst.creating = False
        ctx.log("* running the instance OS create scripts...")
        self._release_promise(cluster, plan)
        if op["start"]:
            node = cluster.nodes[inst.pnode]
            be = cluster.fill_be(inst)
            if int(be["maxmem"]) > node.mfree:
                raise OpExecError(f"Could not start instance {inst.name}: not enough memory on node"
                                  f" {node.name}")
            inst.admin_state = C.ADMIN_UP
            cluster.set_running(inst, True)
            ctx.log("* starting instance...")
        inst.touch()
        return list(plan["nodes"])

    def rollback(self, cluster, op, plan):
        self._release_promise(cluster, plan)
        if plan and plan.get("instance") is not None and plan["instance"].name in cluster.instances:
            inst = plan["instance"]
            release_addresses(cluster, inst)
            cluster.remove_instance(inst)

    def dry_run_result(self, cluster, op, plan):
        return list(plan["nodes"]) if plan else None


def release_addresses(cluster: Cluster, inst: Instance) -> None:
    """The pool addresses of an instance's NICs, freed as the instance leaves the config."""
    for nic in inst.nics:
        net = cluster.network_by_uuid(nic.get("network"))
        if net is not None and nic.get("ip"):
            net.unuse(nic["ip"])


@register
class InstanceRemove(OpDef):
    op_id = "OP_INSTANCE_REMOVE"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "ignore_failures": False,
              "shutdown_timeout": 120}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        node = cluster.nodes.get(inst.pnode)
        if node is not None and node.offline and not op["ignore_failures"]:
            raise OpPrereqError(f"Can't use offline node: {node.name}", ECODE_STATE)
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        if cluster.instances.get(inst.name) is not inst:
            raise OpExecError(f"Instance {inst.name} disappeared during removal")
        ctx.log(f"Shutting down instance {inst.name} on node {inst.pnode}")
        release_addresses(cluster, inst)
        cluster.remove_instance(inst)
        ctx.log(f"Removing block devices for instance {inst.name}")
        return None


# --- instance power ------------------------------------------------------------------

def _check_not_offline(cluster: Cluster, inst: Instance) -> None:
    if inst.admin_state == C.ADMIN_OFFLINE:
        raise OpPrereqError(f"Instance '{inst.name}' is marked to be offline, can't use instance from"
                            f" outside down, up states", ECODE_STATE)


def _check_primary_online(cluster: Cluster, inst: Instance) -> None:
    node = cluster.nodes.get(inst.pnode)
    if node is not None and node.offline:
        raise OpPrereqError(f"Can't use offline node: {node.name}", ECODE_STATE)
    if node is not None and node.down:
        raise OpPrereqError(f"Can't contact node {node.name} for instance information", ECODE_STATE)


@register
class InstanceStartup(OpDef):
    op_id = "OP_INSTANCE_STARTUP"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "force": False, "ignore_offline_nodes": False,
              "hvparams": {}, "beparams": {}, "no_remember": False, "startup_paused": False,
              "shutdown_timeout": 120}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        _check_not_offline(cluster, inst)
        _check_primary_online(cluster, inst)
        if not inst.running:
            be = cluster.fill_be(inst)
            cluster.check_free_memory(cluster.nodes[inst.pnode], f"starting instance {inst.name}",
                                      int(be["maxmem"]))
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        if not op["no_remember"]:
            inst.admin_state = C.ADMIN_UP
            inst.admin_state_source = "admin"
        if not inst.running:
            node = cluster.nodes[inst.pnode]
            if int(cluster.fill_be(inst)["maxmem"]) > node.mfree:
                raise OpExecError(f"Could not start instance: not enough memory on node {node.name}")
            cluster.set_running(inst, True)
        inst.wrong_node = False
        inst.touch()
        return None


@register
class InstanceShutdown(OpDef):
    op_id = "OP_INSTANCE_SHUTDOWN"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "force": False, "ignore_offline_nodes": False,
              "timeout": 120, "no_remember": False, "admin_state_source": None}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        _check_not_offline(cluster, inst)
        _check_primary_online(cluster, inst)
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        if not op["no_remember"]:
            inst.admin_state = C.ADMIN_DOWN
            inst.admin_state_source = op.get("admin_state_source") or "admin"
        if not inst.running:
            ctx.log(f"Instance {inst.name} is already stopped")
        cluster.set_running(inst, False)
        inst.touch()
        return None


@register
class InstanceReboot(OpDef):
    op_id = "OP_INSTANCE_REBOOT"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "shutdown_timeout": 120,
              "ignore_secondaries": False, "reboot_type": REQUIRED}

    def build(self, body, static):
        op = super().build(body, static)
        if op["reboot_type"] not in C.REBOOT_TYPES:
            raise HttpBadRequest("Invalid body parameters: ('Parameter 'OP_INSTANCE_REBOOT.reboot_type'"
                                 " fails validation', '%s')" % ECODE_INVAL)
        return op

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        _check_not_offline(cluster, inst)
        _check_primary_online(cluster, inst)
        if not inst.running:
            be = cluster.fill_be(inst)
            cluster.check_free_memory(cluster.nodes[inst.pnode], f"starting instance {inst.name}",
                                      int(be["maxmem"]))
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        if inst.running and op["reboot_type"] in (C.REBOOT_SOFT, C.REBOOT_HARD):
            ctx.log(f"Rebooting instance {inst.name} ({op['reboot_type']})")
        else:
            if inst.running:
                cluster.set_running(inst, False)
            cluster.set_running(inst, True)
        inst.admin_state = C.ADMIN_UP
        inst.admin_state_source = "admin"
        inst.wrong_node = False
        inst.touch()
        return None


@register
class InstanceReinstall(OpDef):
    op_id = "OP_INSTANCE_REINSTALL"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "os_type": None, "force_variant": False,
              "osparams": None, "osparams_private": None, "osparams_secret": None, "clear_osparams": False,
              "clear_osparams_private": False, "remove_osparams": None, "remove_osparams_private": None}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        _check_not_offline(cluster, inst)
        if inst.admin_state != C.ADMIN_DOWN:
            raise OpPrereqError(f"Instance '{inst.name}' is marked to be {inst.admin_state}, cannot reinstall",
                                ECODE_STATE)
        if inst.running:
            raise OpPrereqError(f"Instance {inst.name} is running, cannot reinstall", ECODE_STATE)
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        if op["os_type"]:
            inst.os = op["os_type"]
        if op["osparams"]:
            inst.osparams = dict(op["osparams"])
        ctx.log("Running the instance OS create scripts...")
        inst.touch()
        return None


# --- instance rename / info (modify: instance_modify.py) ------------------------------------

@register
class InstanceRename(OpDef):
    op_id = "OP_INSTANCE_RENAME"
    dsc_field = "instance_name"
    params = {"instance_name": REQUIRED, "instance_uuid": None, "new_name": REQUIRED, "ip_check": False,
              "name_check": True}
    types = {"new_name": str, "ip_check": bool, "name_check": bool}

    def locks(self, cluster, op):
        return [inst_lock(op["instance_name"]), inst_lock(op["new_name"])]

    def check(self, cluster, op, ctx):
        inst = cluster.get_instance(op["instance_name"])
        if op["ip_check"] and not op["name_check"]:
            raise OpPrereqError("IP address check requires a name check", ECODE_INVAL)
        _check_primary_online(cluster, inst)
        if inst.running:
            raise OpPrereqError(f"Instance {inst.name} is running, cannot rename", ECODE_STATE)
        new = op["new_name"]
        if new in cluster.instances and new != inst.name:
            raise OpPrereqError(f"Instance '{new}' is already in the cluster", ECODE_EXISTS)
        return {"instance": inst}

    def execute(self, cluster, op, plan, ctx):
        inst = plan["instance"]
        old, new = inst.name, op["new_name"]
        del cluster.instances[old]
        inst.name = new
        cluster.instances[new] = inst
        for n in [inst.pnode] + list(inst.snodes):
            node = cluster.nodes[n]
            for s in (node.pinst, node.sinst):
                if old in s:
                    s.discard(old)
                    s.add(new)
        inst.touch()
        return new


@register
class InstanceQueryData(OpDef):
    op_id = "OP_INSTANCE_QUERY_DATA"
    dsc_field = None
    params = {"instances": [], "use_locking": False, "static": False}

    def check(self, cluster, op, ctx):
        for name in op["instances"]:
            cluster.get_instance(name)
        return None

    def execute(self, cluster, op, plan, ctx):
        out = {}
        for name in op["instances"]:
            inst = cluster.get_instance(name)
            be = cluster.fill_be(inst)
            live = inst.running and not op["static"]
            disks = [{"iv_name": f"disk/{i}", "dev_type": inst.disk_template, "size": d["size"],
                      "mode": d["mode"], "name": d.get("name"), "uuid": d["uuid"],
                      "pstatus": None, "sstatus": None, "children": [], "logical_id": None}
                     for i, d in enumerate(inst.disks)]
            out[name] = {
                "name": inst.name, "config_state": inst.admin_state,
                "run_state": None if op["static"] else ("up" if inst.running else "down"),
                "pnode": inst.pnode, "snodes": list(inst.snodes), "os": inst.os,
                "network_port": inst.network_port, "disks": disks,
                "nics": [nics.nic_tuple(cluster, n) for n in inst.nics],
                "hypervisor": inst.hypervisor, "hv_instance": dict(inst.hvparams),
                "hv_actual": cluster.fill_hv(inst), "be_instance": dict(inst.beparams), "be_actual": be,
                "os_instance": dict(inst.osparams), "os_actual": dict(inst.osparams),
                "ctime": inst.ctime, "mtime": inst.mtime, "uuid": inst.uuid,
                "serial_no": inst.serial_no, "disk_template": inst.disk_template,
                "oper_ram": int(be["maxmem"]) if live else None,
            }
        return out


# --- tags ------------------------------------------------------------------------------

def tag_target(cluster: Cluster, kind: str, name: str | None):
    """The object a tag operation addresses; the /tags GET handlers use it too, so a missing
    object is the same error for a read as for a change."""
    if kind == "instance":
        return cluster.get_instance(name)
    if kind == "node":
        return cluster.get_node(name)
    if kind == "nodegroup":
        group = cluster.groups.get(name)
        if group is None:
            raise OpPrereqError(f"Node group '{name}' not known", ECODE_NOENT)
        return group
    if kind == "network":
        net = cluster.networks.get(name)
        if net is None:
            raise OpPrereqError(f"Network '{name}' not known", ECODE_NOENT)
        return net
    return cluster


def _tag_locks(op: dict) -> list[str]:
    return [inst_lock(op["name"])] if op["kind"] == "instance" else []


def _check_tags(tags: list) -> None:
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 128:
            raise TagError("Invalid tag '%s'" % tag)


@register
class TagsSet(OpDef):
    op_id = "OP_TAGS_SET"
    dsc_field = "name"
    params = {"kind": REQUIRED, "name": None, "tags": REQUIRED, "use_locking": False}

    def locks(self, cluster, op):
        return _tag_locks(op)

    def check(self, cluster, op, ctx):
        _check_tags(op["tags"])
        target = tag_target(cluster, op["kind"], op["name"])
        return {"target": target}

    def execute(self, cluster, op, plan, ctx):
        target = plan["target"]
        target.tags.update(op["tags"])
        if hasattr(target, "touch"):
            target.touch()
        return None


@register
class TagsDel(OpDef):
    op_id = "OP_TAGS_DEL"
    dsc_field = "name"
    params = {"kind": REQUIRED, "name": None, "tags": REQUIRED, "use_locking": False}

    def locks(self, cluster, op):
        return _tag_locks(op)

    def check(self, cluster, op, ctx):
        target = tag_target(cluster, op["kind"], op["name"])
        missing = set(op["tags"]) - set(target.tags)
        if missing:
            raise OpPrereqError("Tag(s) %s not found" % ", ".join("'%s'" % t for t in sorted(missing)),
                                ECODE_NOENT)
        return {"target": target}

    def execute(self, cluster, op, plan, ctx):
        target = plan["target"]
        target.tags.difference_update(op["tags"])
        if hasattr(target, "touch"):
            target.touch()
        return None


# --- nodes -----------------------------------------------------------------------------

@register
class NodeSetParams(OpDef):
    op_id = "OP_NODE_SET_PARAMS"
    dsc_field = "node_name"
    params = {"node_name": REQUIRED, "node_uuid": None, "force": False, "master_candidate": None,
              "offline": None, "drained": None, "auto_promote": False, "master_capable": None,
              "vm_capable": None, "secondary_ip": None, "ndparams": None, "powered": None}

    def locks(self, cluster, op):
        return [f"node/{op['node_name']}"]

    def check(self, cluster, op, ctx):
        node = cluster.get_node(op["node_name"])
        flags = [op[k] for k in ("offline", "drained", "master_candidate") if op[k]]
        if len(flags) > 1:
            raise OpPrereqError("Only one of master_candidate, offline and drained can be set to true",
                                ECODE_INVAL)
        if node.name == cluster.master and (op["offline"] or op["drained"] or op["master_candidate"] is False):
            raise OpPrereqError("The master role can be changed only via master-failover", ECODE_INVAL)
        return {"node": node}

    def execute(self, cluster, op, plan, ctx):
        node = plan["node"]
        changes = []
        for key in ("offline", "drained", "master_candidate", "master_capable", "vm_capable"):
            if op[key] is not None:
                setattr(node, key, bool(op[key]))
                changes.append([key, str(bool(op[key]))])
                if key in ("offline", "drained") and op[key]:
                    node.master_candidate = False
                if key == "master_candidate" and op[key]:
                    node.offline = node.drained = False
        if op["ndparams"]:
            node.ndparams.update(op["ndparams"])
        node.mtime = time.time()
        node.serial_no += 1
        return changes


# --- networks ------------------------------------------------------------------------------
# Opcode implementations for networks live in networks.py, which registers them here.


def build_op(op_id: str, body: dict | None, static: dict) -> dict:
    """Validate a request body into opcode input; `static` wins and may not be in the body."""
    body = dict(body or {})
    overwritten = set(body) & set(static)
    if overwritten:
        raise HttpBadRequest("Can't overwrite static parameters %r" % overwritten)
    return get(op_id).build(body, static)


__all__ = ["REGISTRY", "get", "summary", "build_op", "OpDef", "register", "REQUIRED", "GanetiError"]
