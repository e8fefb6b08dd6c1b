"""RAPI 2 handlers, one function per method, named after rlib2's resources.

Reads answer from the cluster's state under its lock; writes validate the body into
an opcode and submit a job, answering the job id (an int) as Ganeti does. Which
path serves which handler is routes.py's table.
"""
from __future__ import annotations

from . import constants as C
from .errors import GanetiError, HttpBadRequest, HttpNotFound
from .jobs import Job
from .opcodes import tag_target
from .resource import RawJSON, Resource, submit, submit_ops

I_FIELDS = ["name", "admin_state", "os", "pnode", "snodes", "disk_template", "nic.ips", "nic.macs",
            "nic.modes", "nic.uuids", "nic.names", "nic.links", "nic.networks", "nic.networks.names",
            "nic.bridges", "network_port", "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids",
            "disk.names", "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
            "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
            "ctime", "mtime", "uuid", "serial_no", "tags"]
N_FIELDS = ["name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal", "spfree",
            "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes", "csockets",
            "pip", "sip", "role", "pinst_list", "sinst_list", "master_capable", "vm_capable", "ndparams",
            "group.uuid", "ctime", "mtime", "uuid", "serial_no", "tags"]
WFJC_TIMEOUT = 10  # seconds /2/jobs/[id]/wait blocks at most, as rlib2


def _uri_list(ids, fmt: str, id_field: str = "id") -> list:
    return [{id_field: i, "uri": fmt % i} for i in sorted(ids)]


def _pick(fields: dict, names: list) -> dict:
    return {n: fields[n] for n in names}


# --- root -------------------------------------------------------------------------------

def get_none(sim, req, res):
    return None


def get_version(sim, req, res):
    return C.RAPI_VERSION


def get_info(sim, req, res):
    with sim.cluster.lock:
        return sim.cluster.info()


def get_features(sim, req, res):
    return list(C.FEATURES)


def get_os(sim, req, res):
    if req.bulk():
        return [{"name": name, "valid": True, "variants": ["default"], "parameters": [],
                 "api_versions": [20], "blacklisted": False, "hidden": False, "trusted": True}
                for name in sim.os_list]
    return [f"{name}+default" for name in sim.os_list]


# --- cluster tags -----------------------------------------------------------------------

def _tags_get(kind):
    def fn(sim, req, res):
        with sim.cluster.lock:
            try:
                target = tag_target(sim.cluster, kind, req.items[0] if req.items else None)
            except GanetiError:
                raise HttpNotFound()
            return sorted(target.tags)
    return fn


def _tags_change(kind, op_id):
    def fn(sim, req, res):
        return submit(sim, req, res, op_id, {}, {
            "kind": kind, "name": req.items[0] if req.items else None,
            "tags": req.query.get("tag", []), "dry_run": req.dry_run()})
    return fn


def tags_resource(name: str, kind: str) -> Resource:
    """/tags of any object kind: GET reads, PUT and DELETE submit OP_TAGS_SET / OP_TAGS_DEL."""
    return Resource(name, GET=_tags_get(kind), PUT=_tags_change(kind, "OP_TAGS_SET"),
                    DELETE=_tags_change(kind, "OP_TAGS_DEL"))


# --- nodes -------------------------------------------------------------------------------

def get_nodes(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        if req.bulk():
            return [_pick(cl.node_fields(n), N_FIELDS) for n in sorted(cl.nodes.values(), key=lambda n: n.name)]
        return _uri_list(list(cl.nodes), "/2/nodes/%s")


def get_node(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        node = cl.nodes.get(req.items[0])
        if node is None:
            raise HttpNotFound()
        return _pick(cl.node_fields(node), N_FIELDS)


def get_node_role(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        node = cl.nodes.get(req.items[0])
        if node is None:
            raise HttpNotFound()
        return C.NR_NAMES[cl.node_role(node)]


def put_node_role(sim, req, res):
    role = req.body
    if not isinstance(role, str):
        raise HttpBadRequest("Body contents: Type is '%s', but 'str' is expected" % type(role).__name__)
    if role == "regular":
        candidate, offline, drained = False, False, False
    elif role == "master-candidate":
        candidate, offline, drained = True, None, None
    elif role == "drained":
        candidate, offline, drained = None, None, True
    elif role == "offline":
        candidate, offline, drained = None, True, None
    else:
        raise HttpBadRequest("Can't set '%s' role" % role)
    return submit(sim, req, res, "OP_NODE_SET_PARAMS", {}, {
        "node_name": req.items[0], "master_candidate": candidate, "offline": offline, "drained": drained,
        "force": req.force(), "auto_promote": bool(req.int_arg("auto-promote"))})


def post_node_modify(sim, req, res):
    return submit(sim, req, res, "OP_NODE_SET_PARAMS", req.body, {"node_name": req.items[0]})


# --- groups ------------------------------------------------------------------------------

G_FIELDS = ["alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy", "diskparams",
            "custom_diskparams", "ndparams", "custom_ndparams", "ctime", "mtime", "uuid", "serial_no", "tags"]


def get_groups(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        if req.bulk():
            return [_pick(cl.group_fields(g), G_FIELDS) for g in sorted(cl.groups.values(), key=lambda g: g.name)]
        return _uri_list(list(cl.groups), "/2/groups/%s", "name")


def get_group(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        group = cl.groups.get(req.items[0])
        if group is None:
            raise HttpNotFound()
        return _pick(cl.group_fields(group), G_FIELDS)


# --- instances -----------------------------------------------------------------------------

def get_instances(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        if req.bulk():
            return [_pick(cl.instance_fields(i), I_FIELDS) for _, i in sorted(cl.instances.items())]
        return _uri_list(list(cl.instances), "/2/instances/%s")


def post_instances(sim, req, res):
    body = req.body
    if not isinstance(body, dict):
        raise HttpBadRequest("Body contents: Type is '%s', but 'dict' is expected" % type(body).__name__)
    version = body.get("__version__", 0)
    if version == 0:
        raise HttpBadRequest("Instance creation request version 0 is no longer supported")
    if version != 1:
        raise HttpBadRequest("Unsupported request data version %s" % version)
    data = dict(body)
    data.pop("__version__", None)
    for old, new in (("os", "os_type"), ("name", "instance_name")):
        if old in data and new in data:
            raise HttpBadRequest("Parameter '%s' was renamed to '%s', but both are specified" % (old, new))
        if old in data:
            data[new] = data.pop(old)
    data.pop("depends", None)
    return submit(sim, req, res, "OP_INSTANCE_CREATE", data, {"dry_run": req.dry_run()})


def get_instance(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        inst = cl.instances.get(req.items[0])
        if inst is None:
            raise HttpNotFound()
        return _pick(cl.instance_fields(inst), I_FIELDS)


def delete_instance(sim, req, res):
    body = req.body if isinstance(req.body, dict) else {}
    body = {k: v for k, v in body.items() if k != "depends"}
    return submit(sim, req, res, "OP_INSTANCE_REMOVE", body, {
        "instance_name": req.items[0], "ignore_failures": False, "dry_run": req.dry_run()})


def get_instance_info(sim, req, res):
    return submit(sim, req, res, "OP_INSTANCE_QUERY_DATA", {}, {
        "instances": [req.items[0]], "static": bool(req.int_arg("static"))})


def post_instance_reboot(sim, req, res):
    return submit(sim, req, res, "OP_INSTANCE_REBOOT", req.body_params(), {
        "instance_name": req.items[0], "reboot_type": req.str_arg("type", C.REBOOT_HARD),
        "ignore_secondaries": bool(req.int_arg("ignore_secondaries")), "dry_run": req.dry_run()})


def put_instance_startup(sim, req, res):
    return submit(sim, req, res, "OP_INSTANCE_STARTUP", {}, {
        "instance_name": req.items[0], "force": req.force(), "dry_run": req.dry_run(),
        "no_remember": bool(req.int_arg("no_remember"))})


def put_instance_shutdown(sim, req, res):
    return submit(sim, req, res, "OP_INSTANCE_SHUTDOWN", req.body_params(), {
        "instance_name": req.items[0], "no_remember": bool(req.int_arg("no_remember")),
        "dry_run": req.dry_run()})


def put_instance_modify(sim, req, res):
    body = req.body
    if not isinstance(body, dict):
        raise HttpBadRequest("Invalid body contents, not a dictionary")
    data = {k: v for k, v in body.items() if k != "depends"}
    for old, new in (("custom_beparams", "beparams"), ("custom_hvparams", "hvparams")):
        if old in data and new in data:
            raise HttpBadRequest("Parameter '%s' was renamed to '%s', but both are specified" % (old, new))
        if old in data:
            data[new] = data.pop(old)
    return submit(sim, req, res, "OP_INSTANCE_SET_PARAMS", data, {"instance_name": req.items[0]})


def put_instance_rename(sim, req, res):
    return submit(sim, req, res, "OP_INSTANCE_RENAME", req.body_params(), {"instance_name": req.items[0]})


def post_instance_reinstall(sim, req, res):
    if req.body:
        if any(k for k in req.query if k not in ("reason", "dry-run")):
            raise HttpBadRequest("Can't combine query and body parameters")
        body = req.body
    elif req.query:
        body = {"os": req.str_arg("os"), "start": not req.int_arg("nostartup")}
    else:
        body = {}
    if not isinstance(body, dict):
        raise HttpBadRequest("Invalid body contents, not a dictionary")
    start = body.get("start", True)
    if not isinstance(start, bool):
        raise HttpBadRequest("Parameter 'start' should be a bool")
    name = req.items[0]
    ops = [("OP_INSTANCE_SHUTDOWN", {"instance_name": name}),
           ("OP_INSTANCE_REINSTALL", {"instance_name": name, "os_type": body.get("os"),
                                      "osparams": body.get("osparams")})]
    if start:
        ops.append(("OP_INSTANCE_STARTUP", {"instance_name": name, "force": False}))
    return submit_ops(sim, req, res, ops)


# --- jobs --------------------------------------------------------------------------------------

J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"]


def get_jobs(sim, req, res):
    q = sim.queue
    with sim.cluster.lock:
        if req.bulk():
            return [dict(zip(J_FIELDS_BULK, job.fields(J_FIELDS_BULK))) for _, job in sorted(q.jobs.items())]
        return _uri_list(list(q.jobs), "/2/jobs/%s")


def _job(sim, req):
    try:
        job_id = int(req.items[0])
    except ValueError:
        raise HttpNotFound()
    job = sim.queue.get(job_id)
    if job is None:
        raise HttpNotFound()
    return job


def get_job(sim, req, res):
    job = _job(sim, req)
    with sim.cluster.lock:
        return RawJSON(job.full_json())


def delete_job(sim, req, res):
    job = _job(sim, req)
    return sim.queue.cancel(job.id)


def get_job_wait(sim, req, res):
    job = _job(sim, req)
    body = req.body if isinstance(req.body, dict) else {}
    if "fields" not in body:
        raise HttpBadRequest("Required parameter 'fields' is missing")
    fields = body["fields"]
    prev_info = body.get("previous_job_info")
    prev_serial = body.get("previous_log_serial")
    if not isinstance(fields, list):
        raise HttpBadRequest("The 'fields' parameter should be a list")
    if not (prev_info is None or isinstance(prev_info, list)):
        raise HttpBadRequest("The 'previous_job_info' parameter should be a list")
    if not (prev_serial is None or (isinstance(prev_serial, int) and not isinstance(prev_serial, bool))):
        raise HttpBadRequest("The 'previous_log_serial' parameter should be a number")
    for f in fields:
        if f not in Job.J_FIELDS and f not in ("opstart", "opexec", "opend", "oppriority", "priority"):
            raise HttpBadRequest("Unknown job field '%s'" % f)
    result = sim.queue.wait_for_change(job, fields, prev_info, prev_serial, sim.wait_timeout)
    if result is None:
        return None
    info, logs = result
    return {"job_info": info, "log_entries": logs}
