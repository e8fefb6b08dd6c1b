"""What each kind of operation sends to Ganeti, and which opcode reports on it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import vmconfig
from .models import Operation, Server
from .rapi import RapiClient
from .ganeti import OP_CREATE, OP_REBOOT, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP

# (client, op, server, instance name, reason, secret OS parameters, job dependencies) -> job id
Submit = Callable[[RapiClient, Operation, Server, str, str, dict, list], int]


@dataclass(frozen=True)
class Action:
    kind: str
    opcode: str
    submit: Submit  # (client, op, server, instance name, reason, secret osparams, depends) -> job id
    allocates: bool = False
    task: str | None = None  # what the API shows while it runs, instead of the operstate
    installs: bool = False  # runs the OS installer, which gets its one-time config URL

    def secret_osparams(self, op: Operation, configs: vmconfig.ConfigStore, public_api_url: str) -> dict:
        """What only the OS scripts may see, read from Redis when the write is sent (so it
        is in no row): the installer's one-time URL for a create, nothing for other kinds."""
        if not self.installs:
            return {}
        return vmconfig.installer_osparams(configs, op.id, public_api_url)


def create_spec(op: Operation, server: Server, name: str, secret_osparams: dict | None = None) -> dict:
    """The create request. `secret_osparams` go in Ganeti's `osparams_secret` (2.16+): passed to
    the OS scripts, never written to the cluster's config or job files, never shown by its
    instance or job queries, where `osparams` are all three."""
    flavor, image = server.flavor, server.image
    osparams = {"img_id": image.location, "img_format": image.properties.get("format", "diskdump")}
    spec = {
        "mode": "create",
        "instance_name": name,
        "disk_template": flavor.disk_template,
        "disks": [{"size": flavor.disk * 1024}],
        # Its ports' NICs (orchestrator.network.attach.nic_spec); none asked: the cluster's default NIC.
        "nics": [dict(nic) for nic in op.params.get("nics", [{}])],
        "os_type": image.os,
        "osparams": osparams,
        "beparams": {"maxmem": flavor.ram, "minmem": flavor.ram, "vcpus": flavor.cpu},
        "hvparams": {},
        "iallocator": "hail",
        "start": True,
        "name_check": False,
        "ip_check": False,
        "conflicts_check": False,
        "tags": [op.reason],  # this attempt's: a replay of another attempt never takes it for its own
    }
    if secret_osparams:
        spec["osparams_secret"] = dict(secret_osparams)
    return spec


def _resize_beparams(op: Operation) -> dict:
    return {"maxmem": op.params["ram"], "minmem": op.params["ram"], "vcpus": op.params["cpu"]}


ACTIONS: dict[str, Action] = {
    a.kind: a
    for a in (
        Action("create", OP_CREATE,
               lambda c, op, s, n, r, secret, deps: c.create_instance(create_spec(op, s, n, secret), depends=deps or None,
                                                                      reason=r),
               allocates=True, installs=True),
        Action("start", OP_STARTUP, lambda c, op, s, n, r, _secret, _deps: c.startup(n, reason=r)),
        Action("shutdown", OP_SHUTDOWN, lambda c, op, s, n, r, _secret, _deps: c.shutdown(n, reason=r)),
        Action("reboot", OP_REBOOT,
               lambda c, op, s, n, r, _secret, _deps: c.reboot(n, reboot_type=op.params.get("type", "soft"), reason=r),
               task="REBOOT"),
        Action("resize", OP_SET_PARAMS,
               lambda c, op, s, n, r, _secret, _deps: c.modify(n, beparams=_resize_beparams(op), reason=r),
               task="RESIZE"),
        Action("destroy", OP_REMOVE, lambda c, op, s, n, r, _secret, _deps: c.delete_instance(n, reason=r)),
        # A port's NIC hot-added or hot-removed (hotplug where the instance runs; Ganeti turns it off
        # for one that is down), named as the port's NIC: `params["nic"]` is its attach.nic_spec.
        Action("connect", OP_SET_PARAMS,
               lambda c, op, s, n, r, _secret, deps: c.add_nic(n, op.params["nic"], depends=deps or None, reason=r)),
        Action("disconnect", OP_SET_PARAMS,
               lambda c, op, s, n, r, _secret, _deps: c.remove_nic(n, op.params["nic"]["name"], reason=r)),
    )
}
