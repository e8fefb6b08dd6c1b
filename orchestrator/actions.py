"""What each kind of operation sends to Ganeti, and which opcode reports on it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import Operation, Server
from .rapi import RapiClient
from .ganeti import OP_CREATE, OP_REBOOT, OP_REMOVE, OP_SET_PARAMS, OP_SHUTDOWN, OP_STARTUP

Submit = Callable[[RapiClient, Operation, Server, str, str], int]


@dataclass(frozen=True)
class Action:
    kind: str
    opcode: str
    submit: Submit  # (client, op, server, instance name, reason) -> job id
    allocates: bool = False
    task: str | None = None  # what the API shows while it runs, instead of the operstate


def create_spec(op: Operation, server: Server, name: str) -> dict:
    flavor, image = server.flavor, server.image
    osparams = {"img_id": image.location, "img_format": image.properties.get("format", "diskdump")}
    if op.params.get("config_url"):
        osparams["config_url"] = op.params["config_url"]
    return {
        "mode": "create",
        "instance_name": name,
        "disk_template": flavor.disk_template,
        "disks": [{"size": flavor.disk * 1024}],
        "nics": [{}],
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


def _resize_beparams(op: Operation) -> dict:
    return {"maxmem": op.params["ram"], "minmem": op.params["ram"], "vcpus": op.params["cpu"]}


ACTIONS: dict[str, Action] = {
    a.kind: a
    for a in (
        Action("create", OP_CREATE, lambda c, op, s, n, r: c.create_instance(create_spec(op, s, n), reason=r),
               allocates=True),
        Action("start", OP_STARTUP, lambda c, op, s, n, r: c.startup(n, reason=r)),
        Action("shutdown", OP_SHUTDOWN, lambda c, op, s, n, r: c.shutdown(n, reason=r)),
        Action("reboot", OP_REBOOT,
               lambda c, op, s, n, r: c.reboot(n, reboot_type=op.params.get("type", "soft"), reason=r),
               task="REBOOT"),
        Action("resize", OP_SET_PARAMS,
               lambda c, op, s, n, r: c.modify(n, beparams=_resize_beparams(op), reason=r), task="RESIZE"),
        Action("destroy", OP_REMOVE, lambda c, op, s, n, r: c.delete_instance(n, reason=r)),
    )
}
