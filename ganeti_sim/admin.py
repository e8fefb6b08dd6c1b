"""Admin endpoints outside /2/ for drills: faults and changes made behind the product's back.

Same authentication as RAPI; changes need the write option. These are not Ganeti
APIs, so they answer plain JSON objects.
"""
from __future__ import annotations

import time

from . import constants as C
from .cluster import Instance, new_uuid
from .errors import HttpBadRequest, HttpNotFound, OpPrereqError


def _body(req) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise HttpBadRequest("Invalid body contents, not a dictionary")
    return req.body


def get_faults(sim, req, res):
    return sim.faults.as_dict()


def post_faults(sim, req, res):
    try:
        sim.faults.update(_body(req))
    except ValueError as err:
        raise HttpBadRequest(str(err))
    return sim.faults.as_dict()


def delete_faults(sim, req, res):
    sim.faults.reset()
    return sim.faults.as_dict()


def get_meter(sim, req, res):
    """RAPI requests per second and the most in flight, as this cluster saw them (meter.py)."""
    return sim.meter.as_dict()


def delete_meter(sim, req, res):
    sim.meter.reset()
    return sim.meter.as_dict()


def post_down(sim, req, res):
    """Take the cluster down for `seconds` (default 5): the answer is sent, then it goes."""
    import threading
    seconds = float(_body(req).get("seconds", 5))
    if seconds <= 0:
        raise HttpBadRequest("seconds must be positive")
    threading.Timer(0.05, sim.down, kwargs={"seconds": seconds}).start()
    return {"down_for": seconds}


def get_state(sim, req, res):
    cl = sim.cluster
    with cl.lock:
        return {"name": cl.name, "instances": len(cl.instances), "nodes": len(cl.nodes),
                "jobs": len(sim.queue.jobs), "up": sim.is_up,
                "job_duration": sim.queue.job_duration}


def post_node(sim, req, res):
    """Set offline / drained / down (unreachable) / vm_capable on a node, out of band."""
    cl = sim.cluster
    body = _body(req)
    with cl.lock:
        node = cl.nodes.get(req.items[0])
        if node is None:
            raise HttpNotFound()
        for key in ("offline", "drained", "down", "vm_capable", "master_candidate"):
            if key in body:
                setattr(node, key, bool(body[key]))
        node.mtime = time.time()
        node.serial_no += 1
        return cl.node_fields(node)


def post_instance_crash(sim, req, res):
    """The instance's process dies: it stays admin up, so Ganeti reports ERROR_down."""
    cl = sim.cluster
    with cl.lock:
        inst = cl.instances.get(req.items[0])
        if inst is None:
            raise HttpNotFound()
        cl.set_running(inst, False)
        return {"name": inst.name, "status": cl.instance_status(inst)}


def post_instance_state(sim, req, res):
    """Set run state, admin state or wrong-node flag directly (ERROR_up, ERROR_wrongnode...)."""
    cl = sim.cluster
    body = _body(req)
    with cl.lock:
        inst = cl.instances.get(req.items[0])
        if inst is None:
            raise HttpNotFound()
        if "admin_state" in body:
            if body["admin_state"] not in (C.ADMIN_UP, C.ADMIN_DOWN, C.ADMIN_OFFLINE):
                raise HttpBadRequest("admin_state must be up, down or offline")
            inst.admin_state = body["admin_state"]
        if "running" in body:
            cl.set_running(inst, bool(body["running"]))
        if "wrong_node" in body:
            inst.wrong_node = bool(body["wrong_node"])
        inst.touch()
        return {"name": inst.name, "status": cl.instance_status(inst)}


def put_instance_beparams(sim, req, res):
    """Change beparams out of band (as `gnt-instance modify` by an operator would)."""
    cl = sim.cluster
    body = _body(req)
    with cl.lock:
        inst = cl.instances.get(req.items[0])
        if inst is None:
            raise HttpNotFound()
        old = cl.fill_be(inst)
        be = dict(body)
        if "memory" in be:
            be["maxmem"] = be["minmem"] = be.pop("memory")
        unknown = set(be) - set(C.DEFAULT_BEPARAMS)
        if unknown:
            raise HttpBadRequest("unknown beparams: %s" % ", ".join(sorted(unknown)))
        inst.beparams.update(be)
        cl.resize_running_memory(inst, old)
        inst.touch()
        return cl.instance_fields(inst)


def post_instance(sim, req, res):
    """Add an instance behind the product's back (no job): name, memory, vcpus, disk sizes,
    disk_template, pnode/snode, nics [{mac, ip, mode, link}], running, os, tags."""
    cl = sim.cluster
    body = _body(req)
    name = body.get("name")
    if not name:
        raise HttpBadRequest("name is required")
    with cl.lock:
        if name in cl.instances:
            raise HttpBadRequest(f"Instance '{name}' is already in the cluster")
        template = body.get("disk_template", "plain")
        sizes = [int(s) for s in body.get("disks", [1024])]
        mem = int(body.get("memory", 512))
        running = bool(body.get("running", True))
        try:
            if body.get("pnode"):
                nodes = [body["pnode"]] + ([body["snode"]] if body.get("snode") else [])
                for n in nodes:
                    cl.get_node(n)
            else:
                nodes = cl.allocate(mem, cl.disk_need(template, sizes), template in C.DTS_INT_MIRROR,
                                    check_memory=running)
        except OpPrereqError as err:
            raise HttpBadRequest(err.args[0])
        nics = []
        for spec in body.get("nics", [{}]):
            net = cl.networks.get(spec.get("network"))
            nics.append({"mac": spec.get("mac") or cl.generate_mac(net.mac_prefix if net else None),
                         "ip": spec.get("ip"), "mode": spec.get("mode"), "link": spec.get("link"),
                         "vlan": spec.get("vlan"), "network": net.uuid if net else None,
                         "uuid": new_uuid(), "name": spec.get("name")})
        be = {"maxmem": mem, "minmem": mem, "vcpus": int(body.get("vcpus", 1))}
        inst = Instance(name=name, os=body.get("os", "debootstrap+default"), pnode=nodes[0],
                        snodes=nodes[1:] if template in C.DTS_INT_MIRROR else [], disk_template=template,
                        disks=[{"size": s, "mode": "rw", "uuid": new_uuid(), "name": None, "spindles": None}
                               for s in sizes], nics=nics, beparams=be, hvparams={},
                        tags=set(body.get("tags", [])),
                        admin_state=C.ADMIN_UP if running else C.ADMIN_DOWN, running=running)
        cl.add_instance(inst)
        for nic in nics:
            net = cl.network_by_uuid(nic["network"])
            if net is not None and net.contains(nic["ip"]):
                net.reserved.add(net.offset(nic["ip"]))
        return cl.instance_fields(inst)


def delete_instance(sim, req, res):
    """Remove an instance behind the product's back (no job)."""
    cl = sim.cluster
    with cl.lock:
        inst = cl.instances.get(req.items[0])
        if inst is None:
            raise HttpNotFound()
        for nic in inst.nics:
            net = cl.network_by_uuid(nic.get("network"))
            if net is not None:
                net.unuse(nic.get("ip"))
        cl.remove_instance(inst)
        return {"removed": inst.name}
