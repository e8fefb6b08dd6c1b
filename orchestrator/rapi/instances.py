"""RAPI calls on instances. Every write takes `reason`, appended by Ganeti to the job's
reason trail, so a job can be traced back to the operation that submitted it; `dry_run`
and `force` are offered where rapi.rst documents the `dry-run` and `force` arguments."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .params import job_id, segment, write_params
from .transport import Transport


class InstanceCalls:
    """rapi.rst ``/2/instances`` and ``/2/instances/[instance_name]/...``; writes answer a job id."""

    transport: Transport

    def instances(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/instances`` GET: every instance's I_FIELDS in one call."""
        return self.transport.collection("/2/instances", bulk, "id")

    def instance(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/instances/[instance_name]`` GET; RapiNotFound if unknown."""
        return self.transport.request("GET", f"/2/instances/{segment(name)}")

    def create_instance(self, spec: dict[str, Any], *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances`` POST with request version 1; the job's result is the
        list of nodes chosen (also with dry_run, which creates nothing)."""
        body = {"__version__": 1, **spec}
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
               **changes: Any) -> int:
        """rapi.rst ``/2/instances/[instance_name]/modify`` PUT; `changes` are the body
        (OP_INSTANCE_SET_PARAMS: beparams, hvparams, nics [[op, index, params]], disks,
        hotplug, runtime_mem, ...). This resource takes no query arguments, so `dry_run`
        and `force` travel as the opcode's body parameters."""
        body = dict(changes)
        if dry_run:
            body["dry_run"] = True
        if force:
            body["force"] = True
        return job_id(self.transport.request("PUT", f"/2/instances/{segment(name)}/modify",
                                             query=write_params(reason), body=body))

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
