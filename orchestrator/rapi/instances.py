"""RAPI calls on instances. Every write takes `reason`, appended by Ganeti to the job's
reason trail, so a job can be traced back to the operation that submitted it; `dry_run`
and `force` are offered where rapi.rst documents the `dry-run` and `force` arguments.

NICs: a NIC is a dict of OP_INSTANCE_CREATE's / OP_INSTANCE_SET_PARAMS's NIC parameters
(ht.TINicParams: names from constants.INIC_PARAMS, values strings or None), the same in a
create's ``nics`` list and in a modification's ``[action, identifier, params]``; `nic_params`
builds one. Writes that submit a job also take `depends` (params.job_depends), so a create or
a NIC change can wait for the network jobs it needs (baserlib.OpcodeResource._GetDepends).

Versions: NIC modifications naming a NIC by name ([action, "<name>", params]) need Ganeti
2.11+ (OpParams.SetParamsNewName); `depends` in a RAPI body 2.10+. `add_nic`/`remove_nic`
send ``hotplug: true`` and never ``hotplug_if_possible``, as Ganeti 3.1 takes them: there
``hotplug`` defaults to true and means "hotplug if the instance and hypervisor can, else
warn and change only the configuration" (LUInstanceSetParams._CheckHotplug; an instance
not marked up is changed without hotplug), and ``hotplug_if_possible`` is gone (NEWS 3.1.0,
#1730: rlib2 refuses it with a 400). On Ganeti 2.10 to 3.0, ``hotplug: true`` is strict:
the job fails ("Hotplug is not possible", wrong_state) on an instance that is not running
under KVM, so these calls are meant for Ganeti 3.1 (or running KVM instances before it).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .params import Dependency, job_id, segment, with_depends, write_params
from .transport import Transport

# constants.INIC_PARAMS: what a NIC dict may hold (bridge is the deprecated alias of link).
NIC_PARAMS = frozenset({"mac", "ip", "mode", "link", "name", "vlan", "bridge", "network"})


def nic_params(*, network: str | None = None, ip: str | None = None, mac: str | None = None,
               name: str | None = None, mode: str | None = None, link: str | None = None,
               vlan: str | None = None) -> dict[str, str]:
    """One NIC's parameters as OP_INSTANCE_CREATE's ``nics`` items and OP_INSTANCE_SET_PARAMS's
    add/modify params take them; unset ones are left out (Ganeti's defaults apply):

    - `network`: a Ganeti network's name; the NIC then takes the mode, link and vlan of that
      network's connection to the primary node's group, so `mode`/`link` may not be given
      with it (Ganeti refuses: "If network is given, no mode or link is allowed");
    - `ip`: an address (on a network: free in its pool, else the job fails with
      resource_not_unique), "pool" (the network's next free address; needs `network`) or
      "none";
    - `mac`: an address, or "generate"/"auto" (Ganeti's default: from the network's
      mac_prefix, else the cluster's);
    - `name`: the NIC's name, unique in the instance and never purely numeric
      (utils.ValidateDeviceNames): modifications name a NIC by it.
    """
    nic = {key: value for key, value in (("network", network), ("ip", ip), ("mac", mac), ("name", name),
                                         ("mode", mode), ("link", link), ("vlan", vlan)) if value is not None}
    for key, value in nic.items():
        if not isinstance(value, str):
            raise TypeError(f"NIC parameter {key} is a string, got {type(value).__name__}")
    if network is not None and network.lower() != "none" and (mode is not None or link is not None):
        raise ValueError("a NIC on a network takes its mode and link from the network's connection")
    if ip is not None and ip.lower() == "pool" and (network is None or network.lower() == "none"):
        raise ValueError("ip=pool draws from a network's pool: give the network too")
    if name is not None and _numeric(name):
        raise ValueError(f"NIC names are never purely numeric (Ganeti refuses {name!r})")
    return nic


def _numeric(value: str) -> bool:
    """Whether Ganeti reads the identifier as an index (int() succeeds), not a name."""
    try:
        int(value)
    except ValueError:
        return False
    return True


class InstanceCalls:
    """rapi.rst ``/2/instances`` and ``/2/instances/[instance_name]/...``; writes answer a job id."""

    transport: Transport

    def instances(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/instances`` GET: every instance's I_FIELDS in one call."""
        return self.transport.collection("/2/instances", bulk, "id")

    def instance(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/instances/[instance_name]`` GET; RapiNotFound if unknown."""
        return self.transport.request("GET", f"/2/instances/{segment(name)}")

    def create_instance(self, spec: dict[str, Any], *, depends: Iterable[Dependency] | None = None,
                        reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances`` POST with request version 1: `spec` is OP_INSTANCE_CREATE's
        parameters, its ``nics`` a list of NIC dicts (`nic_params`: network, ip, mac, name, ...);
        `depends` makes the job wait for others, e.g. the connects of the networks its NICs are
        on (a NIC on a network not connected to the node's group fails the job). The job's
        result is the list of nodes chosen (also with dry_run, which creates nothing)."""
        body = with_depends({"__version__": 1, **spec}, depends)
        return job_id(self.transport.request("POST", "/2/instances", query=write_params(reason, dry_run=dry_run),
                                             body=body))

    def delete_instance(self, name: str, *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]`` DELETE."""
        return job_id(self.transport.request("DELETE", f"/2/instances/{segment(name)}",
                                             query=write_params(reason, dry_run=dry_run)))

    def instance_info(self, name: str, *, static: bool = False, reason: str | None = None) -> int:
        """rapi.rst ``/2/instances/[instance_name]/info`` GET: submits a job whose result
        is {name: details}; `static` skips asking the nodes for live state."""
        query = [("static", 1)] if static else []
        if reason:
            query.append(("reason", reason))
        return job_id(self.transport.request("GET", f"/2/instances/{segment(name)}/info", query=query))

    def startup(self, name: str, *, reason: str | None = None, force: bool = False, dry_run: bool = False,
                no_remember: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/startup`` PUT."""
        params = write_params(reason, force=force, dry_run=dry_run, no_remember=no_remember)
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/startup", query=params))

    def shutdown(self, name: str, *, reason: str | None = None, timeout: int | None = None,
                 dry_run: bool = False, no_remember: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/shutdown`` PUT; `timeout` (seconds before
        the hypervisor forces it off) is a body parameter."""
        body = {"timeout": timeout} if timeout is not None else None
        params = write_params(reason, dry_run=dry_run, no_remember=no_remember)
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/shutdown", query=params,
                                             body=body))

    def reboot(self, name: str, *, reboot_type: str = "soft", reason: str | None = None, dry_run: bool = False,
               ignore_secondaries: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/reboot`` POST, type soft, hard or full."""
        params = write_params(reason, type=reboot_type, dry_run=dry_run, ignore_secondaries=ignore_secondaries)
        return job_id(self.transport.request("POST", f"/2/instances/{segment(name)}/reboot", query=params))

    def modify(self, name: str, *, reason: str | None = None, dry_run: bool = False, force: bool = False,
               depends: Iterable[Dependency] | None = None, **changes: Any) -> int:
        """rapi.rst ``/2/instances/[instance_name]/modify`` PUT; `changes` are the body
        (OP_INSTANCE_SET_PARAMS: beparams, hvparams, nics [[op, index, params]], disks,
        hotplug, runtime_mem, ...). This resource takes no query arguments (only the
        reason), so `dry_run` and `force` travel as the opcode's body parameters, and
        `depends` as the body's ``depends``. ``hotplug_if_possible`` is refused here: Ganeti
        3.1 dropped it (``hotplug`` is the default there) and answers it with a 400."""
        if "hotplug_if_possible" in changes:
            raise ValueError("hotplug_if_possible is gone in Ganeti 3.1, where hotplug (the default) "
                             "falls back to a configuration-only change; pass hotplug=False to skip it")
        body = dict(changes)
        if dry_run:
            body["dry_run"] = True
        if force:
            body["force"] = True
        with_depends(body, depends)
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/modify",
                                             query=write_params(reason), body=body))

    def add_nic(self, name: str, nic: Mapping[str, str | None], *, index: int = -1, hotplug: bool = True,
                conflicts_check: bool | None = None, depends: Iterable[Dependency] | None = None,
                reason: str | None = None, dry_run: bool = False) -> int:
        """Add a NIC (`nic_params`: network, ip, mac, name) to an instance: ``/2/instances/
        [instance_name]/modify`` PUT with ``nics: [["add", index, nic]]`` (-1: after the last)
        and ``hotplug: true``, so a running KVM instance gets the device at once (the job's
        result then lists "hotplug:done"); otherwise Ganeti 3.1 changes the configuration only
        and the guest sees the NIC at its next restart (see the module's note on versions).
        `conflicts_check` (Ganeti's default: true) refuses an address already used, or
        externally reserved, in the network. The job id."""
        unknown = set(nic) - NIC_PARAMS
        if unknown:
            raise ValueError(f"not NIC parameters: {sorted(unknown)}")
        if isinstance(index, bool) or not isinstance(index, int) or index < -1:
            raise ValueError(f"a NIC is added at an index >= 0, or at -1 (the end), got {index!r}")
        changes: dict[str, Any] = {"nics": [["add", index, dict(nic)]], "hotplug": bool(hotplug)}
        if conflicts_check is not None:
            changes["conflicts_check"] = bool(conflicts_check)
        return self.modify(name, reason=reason, dry_run=dry_run, depends=depends, **changes)

    def remove_nic(self, name: str, nic: str | int, *, hotplug: bool = True,
                   depends: Iterable[Dependency] | None = None, reason: str | None = None,
                   dry_run: bool = False) -> int:
        """Remove a NIC from an instance, named by its name or UUID (or an int index; -1 the
        last): ``/2/instances/[instance_name]/modify`` PUT with ``nics: [["remove", nic, {}]]``
        and ``hotplug: true`` (as `add_nic`). Its address goes back to its network's pool when
        the job commits. A string that reads as a number would be taken by Ganeti as an index
        (GetItemFromContainer), never a name, so it is refused: pass an int. The job id."""
        if isinstance(nic, bool) or not isinstance(nic, (str, int)):
            raise TypeError(f"a NIC is named by its name, UUID or index, got {type(nic).__name__}")
        if isinstance(nic, str) and (not nic or _numeric(nic)):
            raise ValueError(f"{nic!r} is not a NIC name (Ganeti would read it as an index): pass an int")
        if isinstance(nic, int) and nic < -1:
            raise ValueError(f"a NIC index is >= 0, or -1 (the last), got {nic}")
        return self.modify(name, reason=reason, dry_run=dry_run, depends=depends,
                           nics=[["remove", nic, {}]], hotplug=bool(hotplug))

    def rename_instance(self, name: str, new_name: str, *, ip_check: bool | None = None,
                        name_check: bool | None = None, reason: str | None = None) -> int:
        """rapi.rst ``/2/instances/[instance_name]/rename`` PUT (the instance must be down)."""
        body: dict[str, Any] = {"new_name": new_name}
        if ip_check is not None:
            body["ip_check"] = ip_check
        if name_check is not None:
            body["name_check"] = name_check
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/rename",
                                             query=write_params(reason), body=body))

    def instance_tags(self, name: str) -> list[str]:
        """rapi.rst ``/2/instances/[instance_name]/tags`` GET."""
        return self.transport.request("GET", f"/2/instances/{segment(name)}/tags")

    def add_instance_tags(self, name: str, tags: Iterable[str], *, reason: str | None = None,
                          dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/tags`` PUT: tags as repeated `tag` arguments."""
        query = [("tag", t) for t in tags] + write_params(reason, dry_run=dry_run)
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/tags", query=query))

    def delete_instance_tags(self, name: str, tags: Iterable[str], *, reason: str | None = None,
                             dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/tags`` DELETE ``?tag=[tag]&tag=[tag]``."""
        query = [("tag", t) for t in tags] + write_params(reason, dry_run=dry_run)
        return job_id(self.transport.request("DELETE", f"/2/instances/{segment(name)}/tags", query=query))
