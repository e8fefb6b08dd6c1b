"""What operators ask of one server beyond the database: inspect it beside its live
instance (as snf-manage server-inspect), and import an instance the database does not
know (as snf-manage server-import).

Both read the cluster because an operator explicitly asked; nothing else on a request
path does.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import Conflict, Invalid
from .ganeti import OP_SHUTDOWN, OP_STARTUP
from .models import Backend, Flavor, Image, Operation, OperState, OpStatus, Server, Step, utcnow
from .quotas import commission as quota
from .rapi import RapiClient, RapiError, RapiNotFound
from .reconciliation import instance_nics, instance_operstate
from .servers import last_operations
from .state import JobReport, apply_job_report
from .validation import check_name

log = logging.getLogger(__name__)

JOB_FIELDS = ("id", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts")


def _job_touches(job: dict[str, Any], name: str) -> bool:
    if any(isinstance(op, dict) and op.get("instance_name") == name for op in job.get("ops") or []):
        return True
    return any(f"({name})" in str(s) for s in job.get("summary") or [])


def inspect_server(session: Session, server: Server, client_for, prefix: str, *, jobs: int = 10) -> dict[str, Any]:
    """The database row, the live instance (one GET /2/instances/<name>) and the cluster's
    last jobs for it (one bulk GET /2/jobs), beside the server's last operations.

    A cluster that does not answer is reported in `cluster_error`, not raised.
    """
    name = server.instance_name(prefix)
    report: dict[str, Any] = {
        "server": server, "instance_name": name, "backend": None, "instance": None, "jobs": [],
        "cluster_error": None, "operations": last_operations(session, server.id, jobs),
    }
    backend = server.backend
    if backend is None:
        report["cluster_error"] = "the server was never placed on a backend"
        return report
    report["backend"] = {"id": backend.id, "clustername": backend.clustername}
    client: RapiClient = client_for(backend)
    try:
        report["instance"] = client.instance(name)
    except RapiNotFound:
        report["cluster_error"] = f"instance {name} does not exist on {backend.clustername}"
    except RapiError as exc:
        report["cluster_error"] = exc.message
        return report
    try:
        found = [j for j in client.jobs() or [] if _job_touches(j, name)]
    except RapiError as exc:
        report["cluster_error"] = exc.message
        return report
    found.sort(key=lambda j: int(j.get("id") or 0), reverse=True)
    report["jobs"] = [{k: j.get(k) for k in JOB_FIELDS} for j in found[:jobs]]
    return report


def _flavor_for(session: Session, inst: dict[str, Any], flavor_id: int | None) -> Flavor:
    beparams = inst.get("beparams") or {}
    ram = beparams.get("maxmem") or beparams.get("memory")
    cpu = beparams.get("vcpus")
    sizes = inst.get("disk.sizes") or []
    disk_gib = sum(int(s) for s in sizes) // 1024 if sizes else None
    template = inst.get("disk_template")
    if ram is None or cpu is None:
        raise Invalid("the instance reports no beparams (vcpus, maxmem)", field="instance_name")
    figures = f"{cpu} vCPU, {ram} MiB, {disk_gib} GiB {template}"
    if flavor_id is not None:
        flavor = session.get(Flavor, flavor_id)
        if flavor is None:
            raise Invalid(f"flavor {flavor_id} does not exist", field="flavor_id")
        if (flavor.cpu, flavor.ram, flavor.disk_template) != (int(cpu), int(ram), template) or (
                disk_gib is not None and flavor.disk != disk_gib):
            raise Invalid(f"flavor {flavor_id} ({flavor.name}) does not match the instance ({figures})",
                          field="flavor_id")
        return flavor
    query = select(Flavor).where(Flavor.cpu == int(cpu), Flavor.ram == int(ram), Flavor.disk_template == template)
    if disk_gib is not None:
        query = query.where(Flavor.disk == disk_gib)
    flavor = session.scalars(query.order_by(Flavor.deleted, Flavor.id)).first()
    if flavor is None:
        raise Invalid(f"no flavor matches the instance ({figures}); create one first", field="flavor_id")
    return flavor


def _image_for(session: Session, inst: dict[str, Any], image_id: int | None) -> Image:
    if image_id is not None:
        image = session.get(Image, image_id)
        if image is None:
            raise Invalid(f"image {image_id} does not exist", field="image_id")
        return image
    location = (inst.get("custom_osparams") or inst.get("osparams") or {}).get("img_id")
    image = session.scalars(select(Image).where(Image.location == location).order_by(Image.id)).first() \
        if location else None
    if image is None:
        raise Invalid("the instance names no known image (osparams img_id); give image_id", field="image_id")
    return image


def server_id_of(name: str, prefix: str) -> int | None:
    """As Server.id_of_instance, but only the one spelling of an id (no leading zero)."""
    server_id = Server.id_of_instance(name, prefix)
    return server_id if server_id is not None and name == f"{prefix}{server_id}" else None


def _advance_sequence(session: Session, server_id: int) -> None:
    """PostgreSQL hands out ids from a sequence: keep it past an id chosen by hand."""
    if session.bind.dialect.name != "postgresql":
        return  # SQLite gives max(id) + 1
    seq = session.scalar(text("SELECT pg_get_serial_sequence('servers', 'id')"))
    if seq:
        session.execute(text("SELECT setval(CAST(:seq AS regclass), GREATEST(:id, "
                             "(SELECT last_value FROM " + seq + ")))"), {"seq": seq, "id": server_id})


def _free_server_id(session: Session, instance_name: str, prefix: str) -> int:
    """The id in the instance's name, if no server has it; otherwise a 4xx saying what to do."""
    server_id = server_id_of(instance_name, prefix)
    if server_id is None:
        next_id = (session.scalar(select(Server.id).order_by(Server.id.desc()).limit(1)) or 0) + 1
        raise Invalid(f"instance {instance_name!r} is not named {prefix}<id>: rename it on the cluster first "
                      f"(gnt-instance rename {instance_name} {prefix}<a free id>, e.g. {prefix}{next_id + 1000})",
                      field="instance_name")
    if server_id > 2**31 - 1:
        raise Invalid(f"server id {server_id} is out of range", field="instance_name")
    if session.get(Server, server_id) is not None:
        raise Conflict(f"server {server_id} already exists; {instance_name} is not an unknown instance",
                       field="instance_name")
    return server_id


def _read_instance(client: RapiClient, backend: Backend, instance_name: str) -> dict[str, Any]:
    try:
        return client.instance(instance_name)
    except RapiNotFound:
        raise Invalid(f"instance {instance_name} does not exist on {backend.clustername}",
                      field="instance_name") from None
    except RapiError as exc:
        raise Invalid(f"cannot read {instance_name} from {backend.clustername}: {exc.message}",
                      field="backend_id") from None


def import_server(session: Session, backend: Backend, instance_name: str, *, prefix: str, user_id: str,
                  client: RapiClient, flavor_id: int | None = None, image_id: int | None = None, name: str | None = None,
                  by: str = "admin") -> tuple[Server, Operation]:
    """Adopt an instance the database does not know, as snf-manage server-import does.

    Every instance the orchestrator drives is named <BACKEND_PREFIX_ID><server id>, and
    that name is how reconciliation, events and every action find it. Synnefo renames the
    instance on import (shutdown, rename, startup: three jobs); this imports only instances
    that already carry such a name whose id is free, and keeps that id, so the instance is
    not touched at all. Any other name is refused with the rename to do first.
    One GET /2/instances/<name>. The flavor is the one matching the instance's beparams and
    disks (or the one given, checked); the image the one whose location is the instance's
    osparams img_id (or the one given). Recorded as a finished `import` operation.
    """
    check_name(user_id, "user_id")
    if name is not None:
        check_name(name, "name")
    server_id = _free_server_id(session, instance_name, prefix)
    inst = _read_instance(client, backend, instance_name)
    flavor = _flavor_for(session, inst, flavor_id)
    image = _image_for(session, inst, image_id)
    server = Server(id=server_id, user_id=user_id, name=name or instance_name, flavor=flavor, image=image,
                    backend_id=backend.id, nics=instance_nics(inst), build_percentage=100)
    running = instance_operstate(inst) == OperState.STARTED.value
    apply_job_report(server, JobReport.local(OP_STARTUP if running else OP_SHUTDOWN, "success",
                                             log_msg=f"imported from {backend.clustername}"))
    try:
        with session.begin_nested():
            session.add(server)
            session.flush()
    except IntegrityError:
        raise Conflict(f"server {server_id} already exists", field="instance_name") from None
    _advance_sequence(session, server_id)
    quota.hold_new_server(session, server)  # an administrator's adoption: held, never refused
    op = Operation(kind="import", server_id=server.id, user_id=by, backend_id=backend.id,
                   status=OpStatus.SUCCEEDED.value, step=Step.DONE.value, finished_at=utcnow(),
                   params={"instance": instance_name, "owner": user_id})
    session.add(op)
    session.flush()
    log.info("server=%s imported from backend=%s instance %s (%s)", server.id, backend.id, instance_name,
             server.operstate)
    return server, op
