"""What a RAPI resource module needs from the HTTP layer: Request, Resource, RawJSON, submit.

Kept apart from app.py so that handler modules can import it while app.py imports
the route table built from them: resource <- handlers/networks/admin <- routes <- app.
"""
from __future__ import annotations

import time

from . import constants as C
from . import opcodes
from .errors import HttpBadRequest


class Request:
    """The parts of a request the handlers use."""

    __slots__ = ("method", "path", "items", "query", "body", "environ", "user")

    def __init__(self, method, path, items, query, environ):
        self.method, self.path, self.items, self.query, self.environ = method, path, items, query, environ
        self.body = None
        self.user = None

    def int_arg(self, name: str, default: int = 0) -> int:
        values = self.query.get(name)
        if not values:
            return default
        try:
            return int(values[0])
        except (TypeError, ValueError):
            raise HttpBadRequest("Invalid value for the '%s' parameter" % name)

    def str_arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def bulk(self) -> bool:
        return bool(self.int_arg("bulk"))

    def dry_run(self) -> bool:
        return bool(self.int_arg("dry-run"))

    def force(self) -> bool:
        return bool(self.int_arg("force"))

    def body_params(self):
        """The body without 'depends', which submit() passes on itself; a non-dict body is
        returned as is so that submit() rejects it as rlib2 does."""
        if not isinstance(self.body, dict):
            return self.body
        return {k: v for k, v in self.body.items() if k != "depends"}


class Resource:
    """Handlers per method; `access` lists what a method needs (empty: any valid user)."""

    def __init__(self, name: str, **methods):
        self.name = name  # the rlib2 class name without R_2_, used in the reason trail
        self.methods = {}
        self.access = {}
        for method, spec in methods.items():
            if isinstance(spec, tuple):
                fn, access = spec
            else:
                fn, access = spec, ([] if method == "GET" else [C.RAPI_ACCESS_WRITE])
            self.methods[method] = fn
            self.access[method] = access


class RawJSON:
    """A pre-serialised JSON body (job polls reuse the job's cached bytes)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


def reason_static(req: Request, resource: Resource) -> dict:
    """rlib2's common static parameters: the reason trail (user reason, then rlib2 source)."""
    trail = []
    user_reason = req.str_arg("reason")
    if user_reason:
        trail.append([C.REASON_SRC_USER, user_reason, time.time_ns()])
    trail.append([f"{C.REASON_SRC_RLIB2}:{resource.name}", "", time.time_ns()])
    return {"reason": trail}


def submit(sim, req: Request, resource: Resource, op_id: str, body, static: dict) -> int:
    """Fill one opcode from body + static params and submit it as a job; returns the job id."""
    if body is not None and not isinstance(body, dict):
        raise HttpBadRequest("Invalid body contents, not a dictionary")
    body = dict(body or {})
    if isinstance(req.body, dict) and "depends" in req.body:
        # As given, whatever it is: the opcode's check refuses what is not None or a list of
        # [job id, [final statuses]] ("", 0, {} and false included), as Ganeti's does.
        body["depends"] = req.body["depends"]
    full_static = reason_static(req, resource)
    full_static.update(static)
    op = opcodes.build_op(op_id, body, full_static)
    return sim.submit_job([op])


def submit_ops(sim, req: Request, resource: Resource, ops: list[tuple[str, dict]]) -> int:
    """Submit a multi-opcode job (e.g. reinstall = shutdown + reinstall + startup)."""
    built = []
    for op_id, params in ops:
        static = reason_static(req, resource)
        built.append(opcodes.build_op(op_id, params, static))
    return sim.submit_job(built)
