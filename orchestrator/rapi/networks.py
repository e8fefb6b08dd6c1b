"""RAPI calls on networks (OP_NETWORK_*): list, create, connect to a node group,
disconnect, modify and delete; writes answer a job id.

As lib/rapi/rlib2.py serves them (R_2_networks*, each an OpcodeResource whose body is the
opcode's parameters) and src/Ganeti/OpCodes.hs defines the opcodes:

- create: POST /2/networks, OP_NETWORK_ADD (network_name, network, gateway, network6,
  gateway6, mac_prefix, add_reserved_ips, conflicts_check, tags), ``dry-run``;
- connect: PUT .../connect, OP_NETWORK_CONNECT (group_name, network_mode, network_link,
  network_vlan, conflicts_check), ``dry-run``;
- disconnect: PUT .../disconnect, OP_NETWORK_DISCONNECT (group_name only), ``dry-run``;
- modify: PUT .../modify, OP_NETWORK_SET_PARAMS (gateway, network6, gateway6, mac_prefix,
  add_reserved_ips, remove_reserved_ips: not the network itself), no ``dry-run``;
- delete: DELETE /2/networks/[name], OP_NETWORK_REMOVE, ``dry-run``.

Every one of them also takes `depends` in its body (baserlib.OpcodeResource._GetDepends,
Ganeti 2.10+; see params.job_depends), so a connect can wait for its network's add and a
delete for the disconnects; the delete sends it as a DELETE body, as lib/rapi/client.py's
DeleteInstance sends its body. Address lists may be given as a list or, as Ganeti's own
client takes them, a comma-separated string.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .params import Dependency, address_list, job_id, segment, with_depends, write_params
from .transport import Transport

# OP_NETWORK_CONNECT's network_mode (constants.NIC_VALID_MODES); rlib2 answers others with a 400.
NETWORK_MODES = frozenset({"bridged", "routed", "openvswitch"})


def _addressing(gateway, network6, gateway6, mac_prefix, add_reserved_ips, remove_reserved_ips=None
                ) -> dict[str, Any]:
    """The addressing fields OP_NETWORK_ADD and OP_NETWORK_SET_PARAMS share, those given only."""
    body = {key: value for key, value in (("gateway", gateway), ("network6", network6), ("gateway6", gateway6),
                                          ("mac_prefix", mac_prefix)) if value is not None}
    for key, value in (("add_reserved_ips", add_reserved_ips), ("remove_reserved_ips", remove_reserved_ips)):
        if value is not None:
            body[key] = address_list(value)
    return body


class NetworkCalls:
    """rapi.rst ``/2/networks`` and ``/2/networks/[network_name]/...``."""

    transport: Transport

    def networks(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/networks`` GET: every network's NET_FIELDS in one call."""
        return self.transport.collection("/2/networks", bulk, "name")

    def network(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/networks/[network_name]`` GET."""
        return self.transport.request("GET", f"/2/networks/{segment(name)}")

    def create_network(self, name: str, network: str, *, gateway: str | None = None,
                       network6: str | None = None, gateway6: str | None = None, mac_prefix: str | None = None,
                       add_reserved_ips: str | Iterable[str] | None = None,
                       tags: str | Iterable[str] | None = None, conflicts_check: bool | None = None,
                       depends: Iterable[Dependency] | None = None, reason: str | None = None,
                       dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks`` POST (OP_NETWORK_ADD): `network` an IPv4 network in CIDR
        form (the pool: more than a /30, at most a /16), `mac_prefix` three octets,
        `add_reserved_ips` addresses kept out of the pool. `conflicts_check` (Ganeti's
        default: true) also reserves the nodes' own addresses in the network."""
        body: dict[str, Any] = {"network_name": name, "network": network,
                                **_addressing(gateway, network6, gateway6, mac_prefix, add_reserved_ips)}
        if tags is not None:
            body["tags"] = address_list(tags)
        if conflicts_check is not None:
            body["conflicts_check"] = bool(conflicts_check)
        with_depends(body, depends)
        return job_id(self.transport.request("POST", "/2/networks", query=write_params(reason, dry_run=dry_run),
                                             body=body))

    def delete_network(self, name: str, *, depends: Iterable[Dependency] | None = None,
                       reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]`` DELETE (OP_NETWORK_REMOVE): refused while
        connected to any node group, so disconnect it first (or depend on the disconnects)."""
        body = with_depends({}, depends) or None
        return job_id(self.transport.request("DELETE", f"/2/networks/{segment(name)}",
                                             query=write_params(reason, dry_run=dry_run), body=body))

    def connect_network(self, name: str, group_name: str, mode: str, link: str, vlan: str = "", *,
                        conflicts_check: bool | None = None, depends: Iterable[Dependency] | None = None,
                        reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/connect`` PUT (OP_NETWORK_CONNECT): map the
        network to a node group with its NICs' `mode` (bridged, routed, openvswitch), `link`
        and `vlan` (sent always, as lib/rapi/client.py does; "" is the opcode's default).
        `conflicts_check` (Ganeti's default: true) refuses the connect while NICs of the
        group's instances use addresses in the network. Instances on the network can only be
        created (or get NICs on it) in groups it is connected to."""
        body: dict[str, Any] = {"group_name": group_name, "network_mode": mode, "network_link": link,
                                "network_vlan": vlan}
        if conflicts_check is not None:
            body["conflicts_check"] = bool(conflicts_check)
        with_depends(body, depends)
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/connect",
                                             query=write_params(reason, dry_run=dry_run), body=body))

    def disconnect_network(self, name: str, group_name: str, *, depends: Iterable[Dependency] | None = None,
                           reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/disconnect`` PUT (OP_NETWORK_DISCONNECT, whose
        only parameter is the group: it has no conflicts_check): refused while NICs of the
        group's instances are on the network."""
        body = with_depends({"group_name": group_name}, depends)
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/disconnect",
                                             query=write_params(reason, dry_run=dry_run), body=body))

    def modify_network(self, name: str, *, gateway: str | None = None, network6: str | None = None,
                       gateway6: str | None = None, mac_prefix: str | None = None,
                       add_reserved_ips: str | Iterable[str] | None = None,
                       remove_reserved_ips: str | Iterable[str] | None = None,
                       depends: Iterable[Dependency] | None = None, reason: str | None = None) -> int:
        """rapi.rst ``/2/networks/[network_name]/modify`` PUT (OP_NETWORK_SET_PARAMS): only the
        parameters given change ("none" clears gateway, network6, gateway6 or mac_prefix);
        the gateway and the reserved addresses cannot change in one job. The network's
        address range cannot change. The resource takes no ``dry-run``."""
        body = _addressing(gateway, network6, gateway6, mac_prefix, add_reserved_ips, remove_reserved_ips)
        with_depends(body, depends)
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/modify",
                                             query=write_params(reason), body=body))
