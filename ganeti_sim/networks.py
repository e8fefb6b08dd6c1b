"""Ganeti networks: IPv4 address pools, group connections, and their opcodes and handlers.

A network's pool reserves the network and broadcast addresses and the gateway
externally, as Ganeti's address pool does; instance NICs on a network take
addresses from it (ip=pool) or reserve the one they name.
"""
from __future__ import annotations

import ipaddress
import time

from . import constants as C
from .cluster import new_uuid
from .errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE, HttpNotFound, OpPrereqError
from .opcodes import REQUIRED, OpDef, register
from .resource import submit

NET_FIELDS = ["name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
              "reserved_count", "map", "group_list", "inst_list", "external_reservations",
              "ctime", "mtime", "uuid", "serial_no", "tags"]


class Network:
    def __init__(self, name: str, network: str, gateway: str | None = None, network6: str | None = None,
                 gateway6: str | None = None, mac_prefix: str | None = None, tags=()):
        self.name = name
        self.net = ipaddress.ip_network(network, strict=False)
        self.gateway = gateway
        self.network6 = network6
        self.gateway6 = gateway6
        self.mac_prefix = mac_prefix
        self.uuid = new_uuid()
        self.tags = set(tags)
        self.ctime = self.mtime = time.time()
        self.serial_no = 1
        self.groups: dict[str, tuple[str, str, str]] = {}  # group name -> (mode, link, vlan)
        self.instance_ips: dict[str, str] = {}  # ip -> instance name
        self.external: set[str] = set()
        self.external.add(str(self.net.network_address))
        self.external.add(str(self.net.broadcast_address))
        if gateway:
            self.external.add(gateway)
        self._hint = 0

    def touch(self) -> None:
        self.mtime = time.time()
        self.serial_no += 1

    def contains(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in self.net
        except ValueError:
            return False

    def is_free(self, ip: str) -> bool:
        return self.contains(ip) and ip not in self.instance_ips and ip not in self.external

    def pick_free(self) -> str | None:
        size = self.net.num_addresses
        base = int(self.net.network_address)
        for step in range(size):
            off = (self._hint + step) % size
            ip = str(ipaddress.ip_address(base + off))
            if ip not in self.instance_ips and ip not in self.external:
                self._hint = off + 1
                return ip
        return None

    def reserve(self, ip: str, owner: str) -> None:
        self.instance_ips[ip] = owner

    def release(self, ip: str) -> None:
        self.instance_ips.pop(ip, None)

    def rename_owner(self, old: str, new: str) -> None:
        for ip, owner in list(self.instance_ips.items()):
            if owner == old:
                self.instance_ips[ip] = new

    def mode_for(self, cluster, group: str = "default") -> str:
        return self._netparams(group)[0]

    def link_for(self, cluster, group: str = "default") -> str:
        return self._netparams(group)[1]

    def _netparams(self, group: str):
        params = self.groups.get(group)
        if params is None:
            raise OpPrereqError(f"No netparams found for network {self.name}. Probably not connected to"
                                f" node's {group} group", ECODE_INVAL)
        return params

    def fields(self) -> dict:
        size = self.net.num_addresses
        base = int(self.net.network_address)
        used = set(self.instance_ips) | self.external
        bitmap = "".join("X" if str(ipaddress.ip_address(base + i)) in used else "." for i in range(size)) \
            if size <= 65536 else ""
        return {
            "name": self.name, "network": str(self.net), "gateway": self.gateway,
            "network6": self.network6, "gateway6": self.gateway6, "mac_prefix": self.mac_prefix,
            "free_count": size - len(used), "reserved_count": len(used), "map": bitmap,
            "group_list": [[g, m, l] for g, (m, l, _v) in sorted(self.groups.items())],
            "inst_list": sorted(set(self.instance_ips.values())),
            "external_reservations": ", ".join(sorted(self.external - {str(self.net.network_address),
                                                                        str(self.net.broadcast_address)})),
            "ctime": self.ctime, "mtime": self.mtime, "uuid": self.uuid, "serial_no": self.serial_no,
            "tags": sorted(self.tags),
        }


def _get(cluster, name: str) -> Network:
    net = cluster.networks.get(name)
    if net is None:
        raise OpPrereqError(f"Network '{name}' not found", ECODE_NOENT)
    return net


def net_lock(name: str) -> str:
    return f"network/{name}"


@register
class NetworkAdd(OpDef):
    op_id = "OP_NETWORK_ADD"
    dsc_field = "network_name"
    params = {"network_name": REQUIRED, "network": REQUIRED, "gateway": None, "network6": None,
              "gateway6": None, "mac_prefix": None, "add_reserved_ips": None, "conflicts_check": True,
              "tags": []}
    types = {"network_name": str, "network": str, "tags": list, "add_reserved_ips": list}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]

    def check(self, cluster, op, ctx):
        if op["network_name"] in cluster.networks:
            raise OpPrereqError("Desired network name '%s' already exists as a network (UUID: %s)"
                                % (op["network_name"], cluster.networks[op["network_name"]].uuid),
                                ECODE_EXISTS)
        try:
            net = Network(op["network_name"], op["network"], op["gateway"], op["network6"], op["gateway6"],
                          op["mac_prefix"], op["tags"] or [])
        except ValueError as err:
            raise OpPrereqError(f"Invalid network '{op['network']}': {err}", ECODE_INVAL)
        if net.net.num_addresses > 65536:
            raise OpPrereqError("Network too big (at most a /16 is supported)", ECODE_INVAL)
        if op["gateway"] and not net.contains(op["gateway"]):
            raise OpPrereqError(f"Gateway IP address '{op['gateway']}' is not in the network", ECODE_INVAL)
        for ip in op["add_reserved_ips"] or []:
            if not net.contains(ip):
                raise OpPrereqError(f"Cannot reserve IP address '{ip}': not in network", ECODE_INVAL)
            net.external.add(ip)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        cluster.networks[op["network_name"]] = plan["network"]
        return None


@register
class NetworkRemove(OpDef):
    op_id = "OP_NETWORK_REMOVE"
    dsc_field = "network_name"
    params = {"network_name": REQUIRED, "force": False}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]

    def check(self, cluster, op, ctx):
        net = _get(cluster, op["network_name"])
        if net.groups:
            raise OpPrereqError("Network still connected", ECODE_STATE)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        cluster.networks.pop(op["network_name"], None)
        return None


@register
class NetworkSetParams(OpDef):
    op_id = "OP_NETWORK_SET_PARAMS"
    dsc_field = "network_name"
    params = {"network_name": REQUIRED, "gateway": None, "network6": None, "gateway6": None,
              "mac_prefix": None, "add_reserved_ips": None, "remove_reserved_ips": None}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]

    def check(self, cluster, op, ctx):
        net = _get(cluster, op["network_name"])
        if op["gateway"] and (op["add_reserved_ips"] or op["remove_reserved_ips"]):
            raise OpPrereqError("Cannot modify gateway and reserved ips at once", ECODE_INVAL)
        if op["gateway"] and op["gateway"] != "none" and op["gateway"] in net.instance_ips:
            raise OpPrereqError("Gateway IP address '%s' is already reserved" % op["gateway"], ECODE_STATE)
        for ip in op["add_reserved_ips"] or []:
            if not net.is_free(ip):
                raise OpPrereqError(f"IP address '{ip}' is already reserved", ECODE_STATE)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        if op["gateway"]:
            if net.gateway:
                net.external.discard(net.gateway)
            net.gateway = None if op["gateway"] == "none" else op["gateway"]
            if net.gateway:
                net.external.add(net.gateway)
        for key in ("network6", "gateway6", "mac_prefix"):
            if op[key]:
                setattr(net, key, None if op[key] == "none" else op[key])
        for ip in op["add_reserved_ips"] or []:
            net.external.add(ip)
        for ip in op["remove_reserved_ips"] or []:
            net.external.discard(ip)
        net.touch()
        return None


@register
class NetworkConnect(OpDef):
    op_id = "OP_NETWORK_CONNECT"
    dsc_field = "network_name"
    params = {"group_name": REQUIRED, "network_name": REQUIRED, "network_mode": REQUIRED,
              "network_link": REQUIRED, "network_vlan": "", "conflicts_check": True}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]

    def check(self, cluster, op, ctx):
        net = _get(cluster, op["network_name"])
        if op["group_name"] not in cluster.groups:
            raise OpPrereqError(f"Group '{op['group_name']}' not found", ECODE_NOENT)
        if op["network_mode"] not in C.NIC_MODES:
            raise OpPrereqError("Invalid NIC mode '%s'" % op["network_mode"], ECODE_INVAL)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        if op["group_name"] in net.groups:
            ctx.log(f"Network '{net.name}' is already mapped to group '{op['group_name']}'")
        net.groups[op["group_name"]] = (op["network_mode"], op["network_link"], op["network_vlan"] or "")
        net.touch()
        return None


@register
class NetworkDisconnect(OpDef):
    op_id = "OP_NETWORK_DISCONNECT"
    dsc_field = "network_name"
    params = {"group_name": REQUIRED, "network_name": REQUIRED}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]

    def check(self, cluster, op, ctx):
        net = _get(cluster, op["network_name"])
        if op["group_name"] not in cluster.groups:
            raise OpPrereqError(f"Group '{op['group_name']}' not found", ECODE_NOENT)
        users = sorted(n for n, i in cluster.instances.items() if any(nic.get("network") == net.name
                                                                      for nic in i.nics))
        if users:
            raise OpPrereqError("Conflicting IP addresses found;  remove/modify the corresponding network"
                                " interfaces", ECODE_STATE)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        if net.groups.pop(op["group_name"], None) is None:
            ctx.log(f"Network '{net.name}' is not mapped to group '{op['group_name']}'")
        net.touch()
        return None


@register
class NetworkRename(OpDef):
    op_id = "OP_NETWORK_RENAME"
    dsc_field = "network_name"
    params = {"network_name": REQUIRED, "new_name": REQUIRED}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"]), net_lock(op["new_name"])]

    def check(self, cluster, op, ctx):
        net = _get(cluster, op["network_name"])
        if op["new_name"] in cluster.networks:
            raise OpPrereqError("Desired new name '%s' clashes with existing network (UUID: %s)"
                                % (op["new_name"], cluster.networks[op["new_name"]].uuid), ECODE_EXISTS)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        old = net.name
        cluster.networks.pop(old)
        net.name = op["new_name"]
        cluster.networks[net.name] = net
        for inst in cluster.instances.values():
            for nic in inst.nics:
                if nic.get("network") == old:
                    nic["network"] = net.name
        net.touch()
        return net.name


# --- handlers --------------------------------------------------------------------------------

def get_networks(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        if req.bulk():
            return [cl.networks[n].fields() for n in sorted(cl.networks)]
        return [{"name": n, "uri": f"/2/networks/{n}"} for n in sorted(cl.networks)]


def post_networks(sim, req, res):
    body = dict(req.body or {}) if isinstance(req.body, dict) else req.body
    if isinstance(body, dict) and "name" in body:
        body["network_name"] = body.pop("name")
    return submit(sim, req, res, "OP_NETWORK_ADD", body, {"dry_run": req.dry_run()})


def get_network(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        net = cl.networks.get(req.items[0])
        if net is None:
            raise HttpNotFound()
        return net.fields()


def delete_network(sim, req, res):
    return submit(sim, req, res, "OP_NETWORK_REMOVE", req.body_params(),
                  {"network_name": req.items[0], "dry_run": req.dry_run()})


def put_network_connect(sim, req, res):
    return submit(sim, req, res, "OP_NETWORK_CONNECT", req.body_params(),
                  {"network_name": req.items[0], "dry_run": req.dry_run()})


def put_network_disconnect(sim, req, res):
    return submit(sim, req, res, "OP_NETWORK_DISCONNECT", req.body_params(),
                  {"network_name": req.items[0], "dry_run": req.dry_run()})


def put_network_modify(sim, req, res):
    return submit(sim, req, res, "OP_NETWORK_SET_PARAMS", req.body_params(), {"network_name": req.items[0]})


def put_network_rename(sim, req, res):
    return submit(sim, req, res, "OP_NETWORK_RENAME", req.body_params(),
                  {"network_name": req.items[0], "dry_run": req.dry_run()})
