"""Networks in the cluster configuration: lookups and the network query fields.

Lookups as lib/config does them (LookupNetwork: by UUID or name, "Network 'x' not found";
GetGroupNetParams: a network's parameters in the group of a node; CheckIPInNodeGroup:
the first network connected to a node's group that contains an address). A group holds
its connections as Ganeti does (NodeGroup.networks: network UUID -> mode, link, vlan), in
UUID order as Ganeti's containers iterate.

Query fields as src/Ganeti/Query/Network.hs computes them: group_list is one
[group name, mode, link, vlan] per connected group ("-" for a missing value), in group
UUID order; inst_list names the instances with a NIC on the network, in instance UUID
order; gateway, network6, gateway6 and mac_prefix are null when unset; bulk listings are
sorted by name as Ganeti's niceSort does (digit runs compare as numbers).
"""
from __future__ import annotations

import re

from .errors import ECODE_NOENT, OpPrereqError

NET_FIELDS = ["name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
              "reserved_count", "map", "group_list", "inst_list", "external_reservations",
              "ctime", "mtime", "uuid", "serial_no", "tags"]


def lookup(cluster, target):
    """cfg.LookupNetwork: the network a name or UUID designates (None for None)."""
    if target is None:
        return None
    net = cluster.network_by_uuid(target) or cluster.networks.get(target)
    if net is None:
        raise OpPrereqError("Network '%s' not found" % target, ECODE_NOENT)
    return net


def groups_of(cluster, net) -> list:
    """The groups the network is connected to, in UUID order."""
    return sorted((g for g in cluster.groups.values() if net.uuid in g.networks), key=lambda g: g.uuid)


def node_netparams(cluster, net, node_name: str) -> dict | None:
    """cfg.GetGroupNetParams: the network's mode, link and vlan in the node's group."""
    group = cluster.group_of(node_name)
    return None if group is None else group.networks.get(net.uuid)


def network_for_ip(cluster, ip, node_name: str):
    """cfg.CheckIPInNodeGroup: the network of the node's group that contains `ip`, if any."""
    group = cluster.group_of(node_name)
    if ip is None or group is None:
        return None
    for uuid in sorted(group.networks):
        net = cluster.network_by_uuid(uuid)
        if net is not None and net.contains(ip):
            return net
    return None


def group_instances(cluster, group) -> list:
    """cfg.GetNodeGroupInstances: instances with a node in the group, by name."""
    members = {n.name for n in cluster.nodes.values() if n.group_uuid == group.uuid}
    return [i for _, i in sorted(cluster.instances.items())
            if i.pnode in members or members & set(i.snodes)]


def nice_key(name: str):
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", name)]


def network_fields(cluster, net) -> dict:
    def dash(value):
        return "-" if value is None else value

    users = sorted((i for i in cluster.instances.values() if any(n.get("network") == net.uuid for n in i.nics)),
                   key=lambda i: i.uuid)
    return {
        "name": net.name, "network": str(net.net), "gateway": net.gateway, "network6": net.network6,
        "gateway6": net.gateway6, "mac_prefix": net.mac_prefix, "free_count": net.free_count(),
        "reserved_count": net.reserved_count(), "map": net.map(),
        "group_list": [[g.name, dash(p.get("mode")), dash(p.get("link")), dash(p.get("vlan"))]
                       for g in groups_of(cluster, net) for p in (g.networks[net.uuid],)],
        "inst_list": [i.name for i in users],
        "external_reservations": net.external_reservations(),
        "ctime": net.ctime, "mtime": net.mtime, "uuid": net.uuid, "serial_no": net.serial_no,
        "tags": sorted(net.tags),
    }
