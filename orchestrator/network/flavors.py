"""Synnefo's network flavors: what each gives a network for Ganeti (mode, link, MAC prefix).

| flavor | mode | link | MAC prefix |
| --- | --- | --- | --- |
| MAC_FILTERED | bridged | DEFAULT_MAC_FILTERED_BRIDGE (prv0), shared | its own, from the MAC-prefix pool |
| PHYSICAL_VLAN | bridged | its own bridge, from the bridge pool | DEFAULT_MAC_PREFIX |
| IP_LESS_ROUTED | routed | DEFAULT_ROUTING_TABLE | DEFAULT_MAC_PREFIX |
| CUSTOM | administrator's (bridged) | administrator's (DEFAULT_BRIDGE) | administrator's (DEFAULT_MAC_PREFIX) |

Isolation of MAC_FILTERED networks is by MAC prefix (ebtables on the shared bridge), of
PHYSICAL_VLAN ones by bridge: those values are drawn from the pools, one network each.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..models import NetworkFlavor, PoolType

FLAVORS = tuple(f.value for f in NetworkFlavor)
MODES = ("bridged", "routed")
# Which value of a flavor comes from which pool; an administrator may not override it.
FROM_POOL = {NetworkFlavor.MAC_FILTERED.value: ("mac_prefix", PoolType.MAC_PREFIX.value),
             NetworkFlavor.PHYSICAL_VLAN.value: ("link", PoolType.BRIDGE.value)}


@dataclass(frozen=True)
class FlavorDefaults:
    """The settings the flavors read (orchestrator.settings.Settings' values)."""

    default_mac_prefix: str = "aa:00:0"
    default_bridge: str = "br0"
    mac_filtered_bridge: str = "prv0"
    routing_table: str = "snf_public"

    @classmethod
    def from_settings(cls, settings) -> "FlavorDefaults":
        return cls(default_mac_prefix=settings.default_mac_prefix, default_bridge=settings.default_bridge,
                   mac_filtered_bridge=settings.mac_filtered_bridge, routing_table=settings.routing_table)


def defaults(flavor: str, d: FlavorDefaults) -> dict[str, str | None]:
    """The flavor's mode, link and MAC prefix; None where the value is drawn from a pool."""
    if flavor == NetworkFlavor.MAC_FILTERED.value:
        return {"mode": "bridged", "link": d.mac_filtered_bridge, "mac_prefix": None}
    if flavor == NetworkFlavor.PHYSICAL_VLAN.value:
        return {"mode": "bridged", "link": None, "mac_prefix": d.default_mac_prefix}
    if flavor == NetworkFlavor.IP_LESS_ROUTED.value:
        return {"mode": "routed", "link": d.routing_table, "mac_prefix": d.default_mac_prefix}
    return {"mode": "bridged", "link": d.default_bridge, "mac_prefix": d.default_mac_prefix}
