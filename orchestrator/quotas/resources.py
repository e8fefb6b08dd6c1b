"""The resources a user's quota counts, with Synnefo's names, and what a server holds.

Amounts are in the units flavors have here (RAM in MiB, disk in GiB), not Synnefo's bytes.
No database here: settings parse QUOTA_DEFAULTS against these names.
"""
from __future__ import annotations

from collections.abc import Mapping

VM = "cyclades.vm"
TOTAL_CPU = "cyclades.total_cpu"
CPU = "cyclades.cpu"
TOTAL_RAM = "cyclades.total_ram"
RAM = "cyclades.ram"
DISK = "cyclades.disk"
PRIVATE_NETWORK = "cyclades.network.private"
FLOATING_IP = "cyclades.floating_ip"

# name -> (what it counts, unit), in the order tables show them.
RESOURCES: dict[str, tuple[str, str]] = {
    VM: ("servers", "count"),
    TOTAL_CPU: ("CPUs of all servers", "count"),
    CPU: ("CPUs of servers not stopped", "count"),
    TOTAL_RAM: ("RAM of all servers", "MiB"),
    RAM: ("RAM of servers not stopped", "MiB"),
    DISK: ("disk of all servers", "GiB"),
    PRIVATE_NETWORK: ("private networks", "count"),
    FLOATING_IP: ("floating IPs", "count"),
}
NAMES = tuple(RESOURCES)

UNLIMITED = -1  # a limit that is no limit (stored and accepted as -1, shown as "unlimited")

# Operstates whose server holds its CPUs and RAM as started ones: all but STOPPED, as
# Synnefo counts them (BUILD and ERROR included), and none once DESTROYED.
_STARTED_STATES = ("BUILD", "STARTED", "ERROR")


def check_name(name: str) -> str:
    if name not in RESOURCES:
        raise ValueError(f"unknown quota resource {name!r}; choose from {', '.join(NAMES)}")
    return name


def server_holding(*, cpu: int, ram: int, disk: int, operstate: str | None, deleted: bool) -> dict[str, int]:
    """What one server holds: nothing once destroyed; otherwise one VM and its flavor's
    figures, and its CPUs and RAM as started ones unless it is STOPPED. A server not flushed
    yet has no operstate: it is BUILD (the column's default)."""
    operstate = operstate or "BUILD"
    if deleted or operstate == "DESTROYED":
        return {}
    held = {VM: 1, TOTAL_CPU: cpu, TOTAL_RAM: ram, DISK: disk}
    if operstate in _STARTED_STATES:
        held.update({CPU: cpu, RAM: ram})
    return held


def difference(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """after - before, resource by resource, zeros left out."""
    out = {name: after.get(name, 0) - before.get(name, 0) for name in NAMES}
    return {name: amount for name, amount in out.items() if amount}


def growth(delta: Mapping[str, int]) -> dict[str, int]:
    """The positive part of a change: what must be reserved for it."""
    return {name: amount for name, amount in delta.items() if amount > 0}
