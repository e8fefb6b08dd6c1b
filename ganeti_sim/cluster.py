"""One simulated Ganeti cluster: nodes, instances, capacity and query fields.

State is plain objects guarded by one re-entrant lock per cluster; capacity
counters are kept incrementally so a query never has to sum over instances.
"""
from __future__ import annotations

import random
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from . import constants as C
from .errors import ECODE_NOENT, ECODE_NORES, ECODE_STATE, OpPrereqError, ReservationError


def new_uuid() -> str:
    """A fresh object UUID; shared by every module that creates nodes, instances, disks, NICs, networks."""
    return str(uuidlib.uuid4())


@dataclass
class Node:
    """A node with its totals; usage is accounted by the cluster as instances come and go."""

    name: str
    mtotal: int  # MiB
    dtotal: int  # MiB
    ctotal: int
    mnode: int = 1024  # memory used by the node's own OS, MiB
    offline: bool = False
    drained: bool = False
    master_candidate: bool = True
    master_capable: bool = True
    vm_capable: bool = True
    down: bool = False  # simulated: node unreachable (not marked offline)
    group_uuid: str = ""
    pip: str = ""
    sip: str = ""
    uuid: str = field(default_factory=new_uuid)
    tags: set = field(default_factory=set)
    ctime: float = field(default_factory=time.time)
    mtime: float = field(default_factory=time.time)
    serial_no: int = 1
    ndparams: dict = field(default_factory=lambda: {"oob_program": "", "spindle_count": 1,
                                                    "exclusive_storage": False, "ovs": False,
                                                    "ssh_port": 22, "cpu_speed": 1.0})
    # Accounting, maintained by Cluster.
    mem_used: int = 0  # memory of instances running here
    # Memory promised to creates that will start here: Ganeti's create holds the node's
    # lock from placement to start, so no other create can take that memory meanwhile.
    mem_promised: int = 0
    disk_used: int = 0
    cpus_used: int = 0
    pinst: set = field(default_factory=set)
    sinst: set = field(default_factory=set)

    @property
    def mfree(self) -> int:
        return max(self.mtotal - self.mnode - self.mem_used, 0)

    @property
    def mfree_unpromised(self) -> int:
        return max(self.mfree - self.mem_promised, 0)

    @property
    def dfree(self) -> int:
        return max(self.dtotal - self.disk_used, 0)


@dataclass
class Instance:
    """An instance as Ganeti's config holds it, plus its simulated run state."""

    name: str
    os: str
    pnode: str
    snodes: list
    disk_template: str
    disks: list  # [{"size", "mode", "uuid", "name", "spindles"}]
    # [{"mac", "ip", "mode", "link", "vlan", "network", "uuid", "name"}]: mode, link and vlan are
    # the NIC's own nicparams (None: not set, the cluster's default applies), network a UUID.
    nics: list
    beparams: dict  # custom (explicitly set) beparams
    hvparams: dict  # custom hvparams
    osparams: dict = field(default_factory=dict)
    hypervisor: str = C.DEFAULT_HYPERVISOR
    admin_state: str = C.ADMIN_DOWN
    admin_state_source: str = "admin"
    running: bool = False  # what the hypervisor reports
    wrong_node: bool = False
    uuid: str = field(default_factory=new_uuid)
    tags: set = field(default_factory=set)
    ctime: float = field(default_factory=time.time)
    mtime: float = field(default_factory=time.time)
    serial_no: int = 1
    network_port: int | None = None
    creating: bool = False  # added to the config by a create job still running

    def touch(self) -> None:
        self.mtime = time.time()
        self.serial_no += 1


@dataclass
class Group:
    name: str
    uuid: str = field(default_factory=new_uuid)
    alloc_policy: str = "preferred"
    networks: dict = field(default_factory=dict)  # network UUID -> {"mode", "link", "vlan"}
    tags: set = field(default_factory=set)
    ctime: float = field(default_factory=time.time)
    mtime: float = field(default_factory=time.time)
    serial_no: int = 1


class Cluster:
    """State of one cluster. All mutation goes through methods that keep the
    per-node counters right; callers hold `self.lock` around compound changes."""

    def __init__(self, name: str, nodes: int = 4, node_memory: int = 65536, node_disk: int = 1048576,
                 node_cpus: int = 16, enabled_disk_templates: list | None = None, seed: int | None = None,
                 mac_prefix: str = "aa:00:00"):
        self.name = name
        self.uuid = new_uuid()
        self.ctime = self.mtime = time.time()
        self.serial_no = 1
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.mac_prefix = mac_prefix
        self.enabled_disk_templates = list(enabled_disk_templates or ["drbd", "plain", "file", "diskless"])
        self.default_iallocator = C.DEFAULT_IALLOCATOR
        self.beparams = dict(C.DEFAULT_BEPARAMS)
        self.nicparams = dict(C.DEFAULT_NICPARAMS)
        self.hvparams = {k: dict(v) for k, v in C.DEFAULT_HVPARAMS.items()}
        self.tags: set = set()
        self.groups: dict[str, Group] = {}
        default = Group("default")
        self.groups[default.name] = default
        self.nodes: dict[str, Node] = {}
        self.instances: dict[str, Instance] = {}
        self.networks: dict = {}  # name -> addrpool.Network
        self._macs: set = set()
        self._pending_macs: dict = {}  # MAC -> job holding it (WConfd's temporary reservations)
        self._next_port = 11000
        short = name.split(".")[0]
        domain = name.split(".", 1)[1] if "." in name else "sim.local"
        for i in range(1, nodes + 1):
            n = Node(name=f"node{i}.{short}.{domain}", mtotal=node_memory, dtotal=node_disk, ctotal=node_cpus,
                     group_uuid=default.uuid, pip=f"192.0.2.{i}", sip=f"198.51.100.{i}",
                     master_candidate=i <= 10)
            self.nodes[n.name] = n
        self.master = next(iter(self.nodes)) if self.nodes else ""

    # --- lookups ---------------------------------------------------------

    def get_instance(self, name: str) -> Instance:
        inst = self.instances.get(name)
        if inst is None:
            raise OpPrereqError(f"Instance '{name}' not known", ECODE_NOENT)
        return inst

    def get_node(self, name: str) -> Node:
        node = self.nodes.get(name)
        if node is None:
            raise OpPrereqError(f"Node '{name}' not known", ECODE_NOENT)
        return node

    def node_by_uuid(self, uuid: str) -> Node | None:
        for n in self.nodes.values():
            if n.uuid == uuid:
                return n
        return None

    def network_by_uuid(self, uuid: str | None):
        for net in self.networks.values():
            if net.uuid == uuid:
                return net
        return None

    def group_of(self, node_name: str) -> Group | None:
        node = self.nodes.get(node_name)
        return next((g for g in self.groups.values() if node is not None and g.uuid == node.group_uuid), None)

    # --- parameters ------------------------------------------------------

    def fill_be(self, inst: Instance) -> dict:
        be = dict(self.beparams)
        be.update(inst.beparams)
        return be

    def fill_hv(self, inst: Instance) -> dict:
        hv = dict(self.hvparams.get(inst.hypervisor, {}))
        hv.update(inst.hvparams)
        return hv

    def fill_nic(self, nic: dict) -> dict:
        """cluster.SimpleFillNIC over the NIC's own nicparams."""
        out = dict(self.nicparams)
        out.update(nic_params(nic))
        return out

    # --- capacity --------------------------------------------------------

    @staticmethod
    def disk_need(disk_template: str, sizes: list[int]) -> int:
        """Node disk one instance takes on each of its nodes (DRBD adds metadata)."""
        if disk_template not in C.DTS_LOCAL_DISK:
            return 0
        total = sum(sizes)
        if disk_template in C.DTS_INT_MIRROR:
            total += C.DRBD_META_SIZE * len(sizes)
        return total

    def instance_disk_need(self, inst: Instance) -> int:
        return self.disk_need(inst.disk_template, [d["size"] for d in inst.disks])

    def add_instance(self, inst: Instance) -> None:
        """Put an instance in the config and charge its disks to its nodes."""
        self.instances[inst.name] = inst
        need = self.instance_disk_need(inst)
        pn = self.nodes[inst.pnode]
        pn.pinst.add(inst.name)
        pn.disk_used += need
        for s in inst.snodes:
            sn = self.nodes[s]
            sn.sinst.add(inst.name)
            sn.disk_used += need
        for nic in inst.nics:
            self._macs.add(nic["mac"])
        if inst.running:
            inst.running = False
            self.set_running(inst, True)

    def remove_instance(self, inst: Instance) -> None:
        self.set_running(inst, False)
        need = self.instance_disk_need(inst)
        pn = self.nodes.get(inst.pnode)
        if pn:
            pn.pinst.discard(inst.name)
            pn.disk_used -= need
        for s in inst.snodes:
            sn = self.nodes.get(s)
            if sn:
                sn.sinst.discard(inst.name)
                sn.disk_used -= need
        for nic in inst.nics:
            self._macs.discard(nic["mac"])
        self.instances.pop(inst.name, None)

    def set_running(self, inst: Instance, running: bool) -> None:
        """Start or stop the instance's hypervisor process: memory follows."""
        if inst.running == running:
            return
        node = self.nodes.get(inst.pnode)
        be = self.fill_be(inst)
        if node is not None:
            sign = 1 if running else -1
            node.mem_used += sign * int(be["maxmem"])
            node.cpus_used += sign * int(be["vcpus"])
        inst.running = running
        if running and inst.network_port is None:
            inst.network_port = self._next_port
            self._next_port += 1

    def resize_running_memory(self, inst: Instance, old_be: dict) -> None:
        """Re-charge a running instance's memory after beparams changed."""
        if not inst.running:
            return
        node = self.nodes.get(inst.pnode)
        if node is None:
            return
        new_be = self.fill_be(inst)
        node.mem_used += int(new_be["maxmem"]) - int(old_be["maxmem"])
        node.cpus_used += int(new_be["vcpus"]) - int(old_be["vcpus"])

    def check_free_memory(self, node: Node, reason: str, requested: int) -> None:
        """Ganeti's CheckNodeFreeMemory message and error code."""
        if requested > node.mfree_unpromised:
            raise OpPrereqError(f"Not enough memory on node {node.name} for {reason}:"
                                f" needed {requested} MiB, available {node.mfree_unpromised} MiB", ECODE_NORES)

    def check_free_disk(self, node: Node, requested: int) -> None:
        if requested > node.dfree:
            raise OpPrereqError(f"Not enough disk space on target node {node.name} vg xenvg:"
                                f" required {requested} MiB, available {node.dfree} MiB", ECODE_NORES)

    def check_node_usable(self, node: Node, what: str = "primary") -> None:
        if node.offline:
            raise OpPrereqError(f"Cannot use offline {what} node '{node.name}'", ECODE_STATE)
        if node.drained:
            raise OpPrereqError(f"Cannot use drained {what} node '{node.name}'", ECODE_STATE)
        if not node.vm_capable:
            raise OpPrereqError(f"Cannot use non-vm_capable {what} node '{node.name}'", ECODE_STATE)

    def allocate(self, memory: int, disk: int, mirrored: bool, check_memory: bool = True,
                 iallocator: str = C.DEFAULT_IALLOCATOR) -> list[str]:
        """A simple iallocator: the usable node with most free memory that fits,
        and for mirrored templates the other node with most free disk."""
        fails: dict[str, int] = {}
        candidates = []
        for n in self.nodes.values():
            if n.offline or n.drained or not n.vm_capable or n.down:
                fails["FailOffline" if (n.offline or n.down) else "FailDrained"] = \
                    fails.get("FailOffline" if (n.offline or n.down) else "FailDrained", 0) + 1
                continue
            if check_memory and n.mfree_unpromised < memory:
                fails["FailMem"] = fails.get("FailMem", 0) + 1
                continue
            if n.dfree < disk:
                fails["FailDisk"] = fails.get("FailDisk", 0) + 1
                continue
            candidates.append(n)
        candidates.sort(key=lambda n: (-n.mfree_unpromised, -n.dfree, n.name))
        if candidates and not mirrored:
            return [candidates[0].name]
        if candidates and mirrored:
            pnode = candidates[0]
            seconds = [n for n in self.nodes.values()
                       if n is not pnode and not (n.offline or n.drained or n.down or not n.vm_capable)
                       and n.dfree >= disk]
            if seconds:
                seconds.sort(key=lambda n: (-n.dfree, n.name))
                return [pnode.name, seconds[0].name]
            fails["FailDisk"] = fails.get("FailDisk", 0) + 1
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(fails.items())) or "no nodes"
        raise OpPrereqError(f"Can't compute nodes using iallocator '{iallocator}':"
                            f" Request failed: Group default (preferred): No valid allocation solutions,"
                            f" failure reasons: {reasons}", ECODE_NORES)

    def populate(self, count: int, memory: int = 128, disk: int = 256, template: str = "plain",
                 prefix: str = "vm") -> list[str]:
        """Add `count` instances directly (no jobs), round-robin over usable nodes; each runs
        if its node still has the memory. For scale tests and pre-existing fleets."""
        nodes = [n for n in self.nodes.values() if not (n.offline or n.drained or not n.vm_capable)]
        if not nodes:
            return []
        short = self.name.split(".")[0]
        names = []
        with self.lock:
            start = len(self.instances)
            for i in range(count):
                name = f"{prefix}{start + i + 1}.{short}.sim.local"
                node = nodes[i % len(nodes)]
                nic = {"mac": self.generate_mac(), "ip": None, "mode": None, "link": None, "vlan": None,
                       "network": None, "uuid": new_uuid(), "name": None}
                inst = Instance(name=name, os="debootstrap+default", pnode=node.name, snodes=[],
                                disk_template=template,
                                disks=[{"size": disk, "mode": "rw", "uuid": new_uuid(), "name": None,
                                        "spindles": None}] if template != "diskless" else [],
                                nics=[nic], beparams={"maxmem": memory, "minmem": memory, "vcpus": 1},
                                hvparams={})
                running = node.mfree >= memory
                inst.admin_state = C.ADMIN_UP if running else C.ADMIN_DOWN
                inst.running = running
                self.add_instance(inst)
                names.append(name)
        return names

    # --- identifiers -----------------------------------------------------

    def generate_mac(self, prefix: str | None = None, token=None) -> str:
        """WConfd's generateMAC: the prefix (a network's, else the cluster's) and three random
        octets, unique among the instances' MACs and those other jobs hold; held for `token`."""
        for _ in range(64):
            tail = ":".join(f"{self.rng.randrange(256):02x}" for _ in range(3))
            mac = f"{prefix or self.mac_prefix}:{tail}"
            if mac not in self._macs and mac not in self._pending_macs:
                if token is not None:
                    self._pending_macs[mac] = token
                return mac
        raise ReservationError("Not able generate new resource")

    def reserve_mac(self, mac: str, token) -> None:
        """WConfd's reserveMAC."""
        if mac in self._macs:
            raise ReservationError("MAC already in use")
        if mac in self._pending_macs:
            raise ReservationError("Duplicate reservation for resource '%s'" % mac)
        self._pending_macs[mac] = token

    def mac_in_use(self, mac: str) -> bool:
        return mac in self._macs

    def set_instance_macs(self, old: list, new: list) -> None:
        """A modify's commit: the MACs of NICs gone are free, the new ones are in use."""
        self._macs.difference_update(set(old) - set(new))
        self._macs.update(new)

    def commit_reservations(self, token) -> None:
        """The job's config update: its held addresses become the instances' (and its released
        ones free); its MACs are committed by the instance update itself."""
        for net in self.networks.values():
            net.commit(token)

    def drop_reservations(self, token) -> None:
        """WConfd's dropAllReservations when the job (here: its opcode) ends."""
        for mac, owner in list(self._pending_macs.items()):
            if owner == token:
                del self._pending_macs[mac]
        for net in self.networks.values():
            net.drop(token)

    # --- query fields ------------------------------------------------------

    def instance_status(self, inst: Instance) -> str:
        """Ganeti's instance status from admin state, run state and node state."""
        node = self.nodes.get(inst.pnode)
        if inst.admin_state == C.ADMIN_OFFLINE:
            return C.INST_ADMIN_OFFLINE
        if node is not None and node.offline:
            return C.INST_NODE_OFFLINE
        if node is not None and node.down:
            return C.INST_NODE_DOWN
        if inst.wrong_node:
            return C.INST_WRONG_NODE
        if inst.running:
            return C.INST_RUNNING if inst.admin_state == C.ADMIN_UP else C.INST_ERROR_UP
        if inst.admin_state == C.ADMIN_UP:
            return C.INST_ERROR_DOWN
        if inst.admin_state_source == "user":
            return C.INST_USER_DOWN
        return C.INST_ADMIN_DOWN

    def instance_fields(self, inst: Instance) -> dict:
        """The fields of rlib2's I_FIELDS, with beparams 'memory' mirrored from maxmem."""
        be = self.fill_be(inst)
        be["memory"] = be["maxmem"]
        node = self.nodes.get(inst.pnode)
        nodata = node is not None and (node.offline or node.down)
        live = inst.running and not nodata
        nics = inst.nics
        filled = [self.fill_nic(n) for n in nics]
        nets = [self.network_by_uuid(n.get("network")) for n in nics]
        return {
            "name": inst.name,
            "admin_state": inst.admin_state,
            "admin_state_source": inst.admin_state_source,
            "os": inst.os,
            "pnode": inst.pnode,
            "snodes": list(inst.snodes),
            "disk_template": inst.disk_template,
            "nic.ips": [n.get("ip") for n in nics],
            "nic.macs": [n["mac"] for n in nics],
            "nic.modes": [f["mode"] for f in filled],
            "nic.uuids": [n["uuid"] for n in nics],
            "nic.names": [n.get("name") for n in nics],
            "nic.links": [f["link"] for f in filled],
            "nic.networks": [n.get("network") for n in nics],
            "nic.networks.names": [x.name if x is not None else None for x in nets],
            "nic.bridges": [f["link"] if f["mode"] == C.NIC_MODE_BRIDGED else None for f in filled],
            "network_port": inst.network_port,
            "disk.sizes": [d["size"] for d in inst.disks],
            "disk.spindles": [d.get("spindles") for d in inst.disks],
            "disk_usage": self.instance_disk_need(inst),
            "disk.uuids": [d["uuid"] for d in inst.disks],
            "disk.names": [d.get("name") for d in inst.disks],
            "beparams": be,
            "hvparams": self.fill_hv(inst),
            "oper_state": None if nodata else inst.running,
            "oper_ram": int(be["maxmem"]) if live else None,
            "oper_vcpus": int(be["vcpus"]) if live else None,
            "status": self.instance_status(inst),
            "custom_hvparams": dict(inst.hvparams),
            "custom_beparams": dict(inst.beparams),
            "custom_nicparams": [nic_params(n) for n in nics],
            "custom_osparams": dict(inst.osparams),
            "ctime": inst.ctime,
            "mtime": inst.mtime,
            "uuid": inst.uuid,
            "serial_no": inst.serial_no,
            "tags": sorted(inst.tags),
        }

    def node_role(self, node: Node) -> str:
        if node.name == self.master:
            return C.NR_MASTER
        if node.master_candidate:
            return C.NR_MCANDIDATE
        if node.drained:
            return C.NR_DRAINED
        if node.offline:
            return C.NR_OFFLINE
        return C.NR_REGULAR

    def node_fields(self, node: Node) -> dict:
        """The fields of rlib2's N_FIELDS; live fields are None for offline nodes."""
        live = not (node.offline or node.down)
        lv = (lambda v: v if live else None)
        return {
            "name": node.name,
            "offline": node.offline,
            "master_candidate": node.master_candidate,
            "drained": node.drained,
            "dtotal": lv(node.dtotal),
            "dfree": lv(node.dfree),
            "sptotal": lv(0),
            "spfree": lv(0),
            "mtotal": lv(node.mtotal),
            "mnode": lv(node.mnode),
            "mfree": lv(node.mfree),
            "pinst_cnt": len(node.pinst),
            "sinst_cnt": len(node.sinst),
            "ctotal": lv(node.ctotal),
            "cnos": lv(1),
            "cnodes": lv(1),
            "csockets": lv(1),
            "pip": node.pip,
            "sip": node.sip,
            "role": self.node_role(node),
            "pinst_list": sorted(node.pinst),
            "sinst_list": sorted(node.sinst),
            "master_capable": node.master_capable,
            "vm_capable": node.vm_capable,
            "ndparams": dict(node.ndparams),
            "group.uuid": node.group_uuid,
            "ctime": node.ctime,
            "mtime": node.mtime,
            "uuid": node.uuid,
            "serial_no": node.serial_no,
            "tags": sorted(node.tags),
        }

    def group_fields(self, group: Group) -> dict:
        members = sorted(n.name for n in self.nodes.values() if n.group_uuid == group.uuid)
        ipolicy = {"std": {"memory-size": 128, "disk-size": 1024, "disk-count": 1, "nic-count": 1,
                           "cpu-count": 1, "spindle-use": 1},
                   "minmax": [{"min": {"memory-size": 128, "disk-size": 1024, "disk-count": 1,
                                       "nic-count": 1, "cpu-count": 1, "spindle-use": 1},
                               "max": {"memory-size": 32768, "disk-size": 1048576, "disk-count": 16,
                                       "nic-count": 8, "cpu-count": 8, "spindle-use": 12}}],
                   "vcpu-ratio": 4.0, "spindle-ratio": 32.0,
                   "disk-templates": list(self.enabled_disk_templates)}
        return {
            "alloc_policy": group.alloc_policy,
            "name": group.name,
            "node_cnt": len(members),
            "node_list": members,
            "ipolicy": ipolicy,
            "custom_ipolicy": {},
            "diskparams": {},
            "custom_diskparams": {},
            "ndparams": {},
            "custom_ndparams": {},
            "ctime": group.ctime,
            "mtime": group.mtime,
            "uuid": group.uuid,
            "serial_no": group.serial_no,
            "tags": sorted(group.tags),
        }

    def info(self) -> dict:
        """/2/info: the cluster's configuration as Ganeti's QueryClusterInfo returns it."""
        return {
            "software_version": C.SOFTWARE_VERSION,
            "protocol_version": C.PROTOCOL_VERSION,
            "config_version": C.CONFIG_VERSION,
            "os_api_version": C.OS_API_VERSION,
            "export_version": C.EXPORT_VERSION,
            "vcs_version": "(ganeti_sim)",
            "architecture": ["64bit", "x86_64"],
            "name": self.name,
            "master": self.master,
            "default_hypervisor": C.DEFAULT_HYPERVISOR,
            "enabled_hypervisors": [C.DEFAULT_HYPERVISOR],
            "hvparams": {k: dict(v) for k, v in self.hvparams.items()},
            "os_hvp": {},
            "beparams": {"default": dict(self.beparams)},
            "osparams": {},
            "ipolicy": self.group_fields(self.groups["default"])["ipolicy"],
            "nicparams": {"default": dict(self.nicparams)},
            "ndparams": {"oob_program": "", "spindle_count": 1, "exclusive_storage": False,
                         "ovs": False, "ssh_port": 22, "cpu_speed": 1.0},
            "diskparams": {t: {} for t in C.DISK_TEMPLATES},
            "candidate_pool_size": 10,
            "max_running_jobs": 20,
            "max_tracked_jobs": 25,
            "master_netdev": "eth0",
            "master_netmask": 32,
            "use_external_mip_script": False,
            "volume_group_name": "xenvg",
            "vg_name": "xenvg",
            "drbd_usermode_helper": "/bin/true",
            "drbd_helper": "/bin/true",
            "file_storage_dir": "/srv/ganeti/file-storage",
            "shared_file_storage_dir": "/srv/ganeti/shared-file-storage",
            "gluster_storage_dir": "/var/run/ganeti/gluster",
            "maintain_node_health": False,
            "ctime": self.ctime,
            "mtime": self.mtime,
            "uuid": self.uuid,
            "tags": sorted(self.tags),
            "uid_pool": [],
            "default_iallocator": self.default_iallocator,
            "default_iallocator_params": {},
            "reserved_lvs": [],
            "primary_ip_version": 4,
            "prealloc_wipe_disks": False,
            "hidden_os": [],
            "blacklisted_os": [],
            "enabled_disk_templates": list(self.enabled_disk_templates),
            "install_image": "",
            "instance_communication_network": "",
            "zeroing_image": "",
            "compression_tools": ["gzip", "gzip-fast", "gzip-slow"],
            "enabled_user_shutdown": False,
            "enabled_data_collectors": {},
            "data_collector_interval": {},
            "modify_etc_hosts": True,
            "modify_ssh_setup": True,
            "ssh_key_type": "rsa",
            "ssh_key_bits": 2048,
        }


def nic_params(nic: dict) -> dict:
    """The NIC's own nicparams (objects.NIC.nicparams): the keys it sets."""
    return {k: nic[k] for k in ("mode", "link", "vlan") if nic.get(k) is not None}
