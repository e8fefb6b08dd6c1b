"""Ganeti networks: the OP_NETWORK_* opcodes and the /2/networks resources.

As lib/cmdlib/network.py and lib/rapi/rlib2.py do it (the pool: addrpool.py; lookups and
query fields: netconfig.py):

- add (POST /2/networks, ``name`` renamed to ``network_name``): the name must be a
  non-empty string and not taken (already_exists); ``network`` an IPv4 network in CIDR
  form, the gateway an IPv4 address, network6/gateway6 IPv6 ones, reserved addresses
  IPv4 ones, else rlib2 answers 400 (a network with host bits set escapes Ganeti's check:
  500). The MAC prefix must be three octets. The pool is made when the job executes:
  more than a /16, less than a /30 or a gateway outside the network fail the job with
  OpExecError "Cannot create IP address pool for network ...". With conflicts_check (the
  default) the nodes' primary and secondary addresses in the network are reserved too.
- remove: refused while connected to a group ("Network still connected", wrong_state);
  a network with NICs on it cannot be disconnected, so it cannot be removed either.
- connect (mode bridged/routed/openvswitch, link, vlan): already connected only warns;
  with conflicts_check, NICs of the group's instances with an address in the network
  refuse it ("Conflicting IP addresses found; ...", wrong_state). Disconnect: refused
  while NICs of the group's instances are on the network; not connected only warns.
- modify: gateway ("none" clears it) and reserved addresses may not change at once;
  addresses that cannot be reserved or released are warnings, not failures.
"""
from __future__ import annotations

import re

from . import constants as C
from . import ht, netconfig
from .addrpool import Network
from .errors import (ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE, AddressPoolError, HttpBadRequest,
                     HttpNotFound, OpExecError, OpPrereqError, TagError)
from .opcodes import REQUIRED, OpDef, register
from .resource import submit

NET_FIELDS = netconfig.NET_FIELDS
_MAC_PREFIX_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){2}$", re.I)
_TAG_RE = re.compile(r"^[\w.+*/:@-]+$")


def mac_prefix(value: str) -> str:
    """utils.NormalizeAndValidateThreeOctetMacPrefix."""
    if _MAC_PREFIX_RE.match(value):
        return value.lower()
    raise OpPrereqError("Invalid MAC address prefix '%s'" % value, ECODE_INVAL)


def validate_tag(tag) -> None:
    """objects.TaggableObject.ValidateTag."""
    if not isinstance(tag, str):
        raise TagError("Invalid tag type (not a string)")
    if len(tag) > 128:
        raise TagError("Tag too long (>%d characters)" % 128)
    if not tag:
        raise TagError("Tags cannot be empty")
    if not _TAG_RE.match(tag):
        raise TagError("Tag contains invalid characters")


def net_lock(name: str) -> str:
    return f"network/{name}"


class _NetworkOp(OpDef):
    dsc_field = "network_name"

    def locks(self, cluster, op):
        return [net_lock(op["network_name"])]


def _conflicts(cluster, net, group, check_fn) -> list:
    """_NetworkConflictCheck's findings: (instance, [(nic index, ip)])."""
    found = []
    for inst in netconfig.group_instances(cluster, group):
        hits = [(idx, nic.get("ip")) for idx, nic in enumerate(inst.nics) if check_fn(nic)]
        if hits:
            found.append((inst.name, hits))
    return found


def _refuse_conflicts(ctx, net, group, action: str, found: list) -> None:
    if not found:
        return
    details = ", ".join("%s: %s" % (name, ", ".join("nic%s/%s" % hit for hit in hits)) for name, hits in found)
    ctx.warning("IP addresses from network '%s', which is about to %s node group '%s', are in use: %s"
                % (net.name, action, group.name, details))
    raise OpPrereqError("Conflicting IP addresses found;  remove/modify the corresponding network"
                        " interfaces", ECODE_STATE)


def _group(cluster, name: str):
    group = cluster.groups.get(name)
    if group is None:
        raise OpPrereqError("Node group '%s' not found" % name, ECODE_NOENT)
    return group


@register
class NetworkAdd(_NetworkOp):
    op_id = "OP_NETWORK_ADD"
    params = {"network_name": REQUIRED, "network": REQUIRED, "gateway": None, "network6": None,
              "gateway6": None, "mac_prefix": None, "add_reserved_ips": None, "conflicts_check": True,
              "tags": []}
    checks = {"network_name": ht.non_empty_string, "network": ht.ipv4_network,
              "gateway": ht.maybe(ht.ipv4_address), "network6": ht.maybe(ht.ipv6_network),
              "gateway6": ht.maybe(ht.ipv6_address), "mac_prefix": ht.maybe(ht.non_empty_string),
              "add_reserved_ips": ht.maybe(ht.list_of(ht.ipv4_address)), "conflicts_check": ht.boolean,
              "tags": ht.list_of(ht.non_empty_string)}

    def check(self, cluster, op, ctx):
        if op["mac_prefix"]:
            op["mac_prefix"] = mac_prefix(op["mac_prefix"])
        existing = cluster.networks.get(op["network_name"])
        if existing is not None:
            raise OpPrereqError("Desired network name '%s' already exists as a network (UUID: %s)"
                                % (op["network_name"], existing.uuid), ECODE_EXISTS)
        for tag in op["tags"]:
            validate_tag(tag)
        return None

    def execute(self, cluster, op, plan, ctx):
        name = op["network_name"]
        net = Network(name, op["network"], op["gateway"], op["network6"], op["gateway6"], op["mac_prefix"])
        try:
            net.initialize()
        except AddressPoolError as err:
            raise OpExecError("Cannot create IP address pool for network '%s': %s" % (name, err))
        if op["conflicts_check"]:
            for node in cluster.nodes.values():
                for ip in (node.pip, node.sip):
                    try:
                        if net.contains(ip):
                            net.reserve(ip, external=True)
                            ctx.info("Reserved IP address of node '%s' (%s)" % (node.name, ip))
                    except AddressPoolError as err:
                        ctx.warning("Cannot reserve IP address '%s' of node '%s': %s" % (ip, node.name, err))
        for ip in op["add_reserved_ips"] or []:
            try:
                net.reserve(ip, external=True)
            except AddressPoolError as err:
                raise OpExecError("Cannot reserve IP address '%s': %s" % (ip, err))
        net.tags.update(op["tags"])
        cluster.networks[name] = net
        return None


@register
class NetworkRemove(_NetworkOp):
    op_id = "OP_NETWORK_REMOVE"
    params = {"network_name": REQUIRED, "force": False}
    checks = {"network_name": ht.non_empty_string, "force": ht.boolean}

    def check(self, cluster, op, ctx):
        net = netconfig.lookup(cluster, op["network_name"])
        groups = sorted(g.name for g in netconfig.groups_of(cluster, net))
        if groups:
            ctx.warning("Network '%s' is connected to the following node groups: %s"
                        % (op["network_name"], ", ".join(groups)))
            raise OpPrereqError("Network still connected", ECODE_STATE)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        if cluster.networks.get(net.name) is not net:
            raise OpExecError("Network '%s' with UUID %s disappeared" % (op["network_name"], net.uuid))
        del cluster.networks[net.name]
        return None


@register
class NetworkSetParams(_NetworkOp):
    op_id = "OP_NETWORK_SET_PARAMS"
    params = {"network_name": REQUIRED, "gateway": None, "network6": None, "gateway6": None,
              "mac_prefix": None, "add_reserved_ips": None, "remove_reserved_ips": None}
    checks = {"network_name": ht.non_empty_string, "gateway": ht.maybe(ht.ipv4_address),
              "network6": ht.maybe(ht.ipv6_network), "gateway6": ht.maybe(ht.ipv6_address),
              "mac_prefix": ht.maybe(ht.non_empty_string),
              "add_reserved_ips": ht.maybe(ht.list_of(ht.ipv4_address)),
              "remove_reserved_ips": ht.maybe(ht.list_of(ht.ipv4_address))}

    def check(self, cluster, op, ctx):
        if op["gateway"] and (op["add_reserved_ips"] or op["remove_reserved_ips"]):
            raise OpPrereqError("Cannot modify gateway and reserved ips at once", ECODE_INVAL)
        net = netconfig.lookup(cluster, op["network_name"])
        new = {"gateway": net.gateway, "mac_prefix": net.mac_prefix, "network6": net.network6,
               "gateway6": net.gateway6}
        if op["gateway"]:
            if op["gateway"] == "none":
                new["gateway"] = None
            else:
                new["gateway"] = op["gateway"]
                if net.is_reserved(op["gateway"]):  # an address outside: AddressPoolError, as Ganeti
                    raise OpPrereqError("Gateway IP address '%s' is already reserved" % op["gateway"],
                                        ECODE_STATE)
        if op["mac_prefix"]:
            new["mac_prefix"] = None if op["mac_prefix"] == "none" else mac_prefix(op["mac_prefix"])
        for key in ("gateway6", "network6"):
            if op[key]:
                new[key] = None if op[key] == "none" else op[key]
        return {"network": net, "new": new}

    def execute(self, cluster, op, plan, ctx):
        net, new = plan["network"], plan["new"]
        if op["gateway"]:
            if new["gateway"] == net.gateway:
                ctx.warning("Gateway is already %s" % new["gateway"])
            else:
                if new["gateway"]:
                    net.reserve(new["gateway"], external=True)
                if net.gateway:
                    net.release(net.gateway, external=True)
                net.gateway = new["gateway"]
        for ip in op["add_reserved_ips"] or []:
            try:
                net.reserve(ip, external=True)
            except AddressPoolError as err:
                ctx.warning("Cannot reserve IP address %s: %s" % (ip, err))
        for ip in op["remove_reserved_ips"] or []:
            if ip == net.gateway:
                ctx.warning("Cannot unreserve Gateway's IP")
                continue
            try:
                net.release(ip, external=True)
            except AddressPoolError as err:
                ctx.warning("Cannot release IP address %s: %s" % (ip, err))
        for key in ("mac_prefix", "network6", "gateway6"):
            if op[key]:
                setattr(net, key, new[key])
        net.touch()
        return None


@register
class NetworkConnect(_NetworkOp):
    op_id = "OP_NETWORK_CONNECT"
    params = {"group_name": REQUIRED, "network_name": REQUIRED, "network_mode": REQUIRED,
              "network_link": REQUIRED, "network_vlan": "", "conflicts_check": True}
    checks = {"group_name": ht.non_empty_string, "network_name": ht.non_empty_string,
              "network_mode": ht.elem_of(C.NIC_MODES), "network_link": ht.non_empty_string,
              "network_vlan": ht.string, "conflicts_check": ht.boolean}

    def check(self, cluster, op, ctx):
        net = netconfig.lookup(cluster, op["network_name"])
        group = _group(cluster, op["group_name"])
        netparams = {"mode": op["network_mode"], "link": op["network_link"], "vlan": op["network_vlan"]}
        if net.uuid in group.networks:
            ctx.warning("Network '%s' is already mapped to group '%s'" % (net.name, group.name))
            return {"network": net, "group": group, "netparams": None}
        if op["conflicts_check"]:
            _refuse_conflicts(ctx, net, group, "connect to",
                              _conflicts(cluster, net, group, lambda nic: net.contains(nic.get("ip"))))
        return {"network": net, "group": group, "netparams": netparams}

    def execute(self, cluster, op, plan, ctx):
        if plan["netparams"] is not None:
            plan["group"].networks[plan["network"].uuid] = plan["netparams"]
        return None


@register
class NetworkDisconnect(_NetworkOp):
    op_id = "OP_NETWORK_DISCONNECT"
    params = {"group_name": REQUIRED, "network_name": REQUIRED}
    checks = {"group_name": ht.non_empty_string, "network_name": ht.non_empty_string}

    def check(self, cluster, op, ctx):
        net = netconfig.lookup(cluster, op["network_name"])
        group = _group(cluster, op["group_name"])
        if net.uuid not in group.networks:
            ctx.warning("Network '%s' is not mapped to group '%s'" % (net.name, group.name))
            return {"network": net, "group": None}
        _refuse_conflicts(ctx, net, group, "disconnect from",
                          _conflicts(cluster, net, group, lambda nic: nic.get("network") == net.uuid))
        return {"network": net, "group": group}

    def execute(self, cluster, op, plan, ctx):
        if plan["group"] is not None:
            plan["group"].networks.pop(plan["network"].uuid, None)
        return None


@register
class NetworkRename(_NetworkOp):
    op_id = "OP_NETWORK_RENAME"
    dsc_field = None  # Ganeti's opcode has no summary field
    params = {"network_name": REQUIRED, "new_name": REQUIRED}
    checks = {"network_name": ht.non_empty_string, "new_name": ht.non_empty_string}

    def locks(self, cluster, op):
        return [net_lock(op["network_name"]), net_lock(op["new_name"])]

    def check(self, cluster, op, ctx):
        net = netconfig.lookup(cluster, op["network_name"])
        clash = cluster.networks.get(op["new_name"])
        if clash is not None:
            raise OpPrereqError("Desired new name '%s' clashes with existing network (UUID: %s)"
                                % (op["new_name"], clash.uuid), ECODE_EXISTS)
        return {"network": net}

    def execute(self, cluster, op, plan, ctx):
        net = plan["network"]
        cluster.networks.pop(net.name)
        net.name = op["new_name"]
        cluster.networks[net.name] = net
        net.touch()
        return net.name


# --- handlers --------------------------------------------------------------------------------

def get_networks(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        names = sorted(cl.networks, key=netconfig.nice_key)
        if req.bulk():
            return [netconfig.network_fields(cl, cl.networks[n]) for n in names]
        return [{"name": n, "uri": f"/2/networks/{n}"} for n in sorted(cl.networks)]


def post_networks(sim, req, res):
    body = req.body_params()
    if isinstance(body, dict) and "name" in body:
        if "network_name" in body:
            raise HttpBadRequest("Parameter 'name' was renamed to 'network_name', but both are specified")
        body = dict(body)
        body["network_name"] = body.pop("name")
    return submit(sim, req, res, "OP_NETWORK_ADD", body, {"dry_run": req.dry_run()})


def get_network(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        net = cl.networks.get(req.items[0])
        if net is None:
            raise HttpNotFound()
        return netconfig.network_fields(cl, net)


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
