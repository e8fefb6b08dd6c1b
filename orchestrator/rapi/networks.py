"""RAPI calls on networks (OP_NETWORK_*): list, create, connect to a node group,
disconnect, modify and delete; writes answer a job id."""
from __future__ import annotations

from typing import Any

from .params import job_id, segment, write_params
from .transport import Transport


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
                       add_reserved_ips: list[str] | None = None, tags: list[str] | None = None,
                       conflicts_check: bool | None = None, reason: str | None = None,
                       dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks`` POST (OP_NETWORK_ADD)."""
        body: dict[str, Any] = {"network_name": name, "network": network}
        for key, value in (("gateway", gateway), ("network6", network6), ("gateway6", gateway6),
                           ("mac_prefix", mac_prefix), ("add_reserved_ips", add_reserved_ips),
                           ("tags", tags), ("conflicts_check", conflicts_check)):
            if value is not None:
                body[key] = list(value) if key in ("add_reserved_ips", "tags") else value
        return job_id(self.transport.request("POST", "/2/networks", query=write_params(reason, dry_run=dry_run),
                                             body=body))

    def delete_network(self, name: str, *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]`` DELETE (it must be disconnected first)."""
        return job_id(self.transport.request("DELETE", f"/2/networks/{segment(name)}",
                                             query=write_params(reason, dry_run=dry_run)))

    def connect_network(self, name: str, group_name: str, mode: str, link: str, vlan: str = "", *,
                        conflicts_check: bool | None = None, reason: str | None = None,
                        dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/connect`` PUT (OP_NETWORK_CONNECT)."""
        body: dict[str, Any] = {"group_name": group_name, "network_mode": mode, "network_link": link,
                                "network_vlan": vlan}
        if conflicts_check is not None:
            body["conflicts_check"] = conflicts_check
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/connect",
                                             query=write_params(reason, dry_run=dry_run), body=body))

    def disconnect_network(self, name: str, group_name: str, *, reason: str | None = None,
                           dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/disconnect`` PUT (OP_NETWORK_DISCONNECT)."""
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/disconnect",
                                             query=write_params(reason, dry_run=dry_run),
                                             body={"group_name": group_name}))

    def modify_network(self, name: str, *, reason: str | None = None, **changes: Any) -> int:
        """rapi.rst ``/2/networks/[network_name]/modify`` PUT; `changes` are the body
        (OP_NETWORK_SET_PARAMS: gateway, network6, gateway6, mac_prefix, add_reserved_ips,
        remove_reserved_ips)."""
        return job_id(self.transport.request("PUT", f"/2/networks/{segment(name)}/modify",
                                             query=write_params(reason), body=changes))
