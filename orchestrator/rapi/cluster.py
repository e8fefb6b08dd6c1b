"""RAPI calls on the cluster itself, its nodes and its node groups (all reads)."""
from __future__ import annotations

from typing import Any

from .params import segment
from .transport import Transport


class ClusterCalls:
    """rapi.rst ``/version``, ``/2/info``, ``/2/features``, ``/2/nodes`` and ``/2/groups``."""

    transport: Transport

    def version(self) -> int:
        """rapi.rst ``/version`` GET: the RAPI version, 2."""
        return int(self.transport.request("GET", "/version"))

    def info(self) -> dict[str, Any]:
        """rapi.rst ``/2/info`` GET."""
        return self.transport.request("GET", "/2/info")

    def features(self) -> list[str]:
        """rapi.rst ``/2/features`` GET."""
        return self.transport.request("GET", "/2/features")

    def nodes(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/nodes`` GET: every node's N_FIELDS in one call (names without bulk)."""
        return self.transport.collection("/2/nodes", bulk, "id")

    def node(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/nodes/[node_name]`` GET."""
        return self.transport.request("GET", f"/2/nodes/{segment(name)}")

    def groups(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/groups`` GET."""
        return self.transport.collection("/2/groups", bulk, "name")

    def group(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/groups/[group_name]`` GET."""
        return self.transport.request("GET", f"/2/groups/{segment(name)}")
