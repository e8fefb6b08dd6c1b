"""Servers: every action answers 202 with its durable operation."""
from __future__ import annotations

import logging

from flask import Response, current_app, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from orchestrator import backends, inspect, servers, vmconfig
from orchestrator.errors import Invalid
from orchestrator.models import Backend
from orchestrator.models import Server as ServerModel
from orchestrator.tasks import ops

from .. import pagination
from ..auth import principal, require_admin, require_principal
from ..errors import documents
from ..schemas import (ActionSchema, OperationSchema, ServerAcceptedSchema, ServerCreateSchema, ServerImportSchema,
                       ServerInspectSchema, ServerModifySchema, ServerPageSchema, ServerQuerySchema, ServerSchema)

log = logging.getLogger(__name__)

blp = Blueprint("servers", __name__, url_prefix="/api/v1/servers", description="Virtual machines")
blp.before_request(require_principal)


def _enqueue(op) -> None:
    """The operation is committed first, so a broker failure here loses nothing: recovery re-drives it."""
    try:
        ops.enqueue(op.id)
    except Exception:
        log.exception("op=%s server=%s could not be enqueued; recovery will re-drive it", op.id, op.server_id)


def _config_urls(store: vmconfig.ConfigStore, password: str, server_name: str) -> tuple[str, str]:
    """Two one-time URLs with the same content: the user's and the OS installer's."""
    base = current_app.config["SETTINGS"].public_api_url.rstrip("/")
    config = {"password": password, "config": {"hostname": server_name}}
    return tuple(f"{base}/api/v1/config/{store.put(config)}" for _ in range(2))


@blp.route("")
class Servers(MethodView):
    @blp.arguments(ServerQuerySchema, location="query")
    @blp.response(200, ServerPageSchema)
    @documents(blp, 401, 422)
    def get(self, query):
        """The caller's servers (everyone's for an administrator), by id, a page at a time.

        Filters: status, backend_id, user_id, flavor_id, image_id, name (exact); deleted
        servers only with `deleted=true` or `status=DELETED`. `next` is the cursor of the
        following page, null on the last.
        """
        who = principal()
        limit = query.pop("limit")
        cursor = query.pop("cursor", None)
        after = pagination.decode(cursor) if cursor else None
        owner = query.pop("user_id", None)
        rows = servers.search_servers(g.db, user_id=who.user_id, admin=who.admin, owner=owner, after=after,
                                      limit=limit + 1, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"servers": rows, "next": next_cursor}

    @blp.arguments(ServerCreateSchema)
    @blp.response(202, ServerAcceptedSchema)
    @documents(blp, 400, 401, 422)
    def post(self, data):
        """Create a server: the row and its operation are committed, then the chain is enqueued.

        The response's `config_url` returns the VM's password once; it is never stored.
        """
        who = principal()
        password = data.pop("password") or vmconfig.generate_password()
        # Validate before touching Redis, so bad input leaves nothing anywhere.
        servers.usable_flavor(g.db, data["flavor_id"])
        servers.visible_image(g.db, data["image_id"], who.user_id, admin=who.admin)
        user_url, installer_url = _config_urls(current_app.extensions["vmconfig"], password, data["name"])
        server, op = servers.request_create(
            g.db, user_id=who.user_id, admin=who.admin, config_url=installer_url, **data
        )
        g.db.commit()
        _enqueue(op)
        server.operation = op
        server.config_url = user_url
        return server


@blp.route("/<int:server_id>")
class ServerById(MethodView):
    @blp.etag
    @blp.response(200, ServerSchema)
    @documents(blp, 401, 404)
    def get(self, server_id: int):
        """One server, as the database knows it."""
        who = principal()
        return servers.get_server(g.db, server_id, user_id=who.user_id, admin=who.admin)

    @blp.arguments(ServerModifySchema)
    @blp.response(200, ServerSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, server_id: int):
        """Rename (the owner); suspend or unsuspend (administrators): a suspended server
        refuses its user's actions."""
        who = principal()
        server = servers.get_server(g.db, server_id, user_id=who.user_id, admin=who.admin)
        servers.modify_server(g.db, server, user_id=who.user_id, admin=who.admin, **data)
        g.db.commit()
        return server

    @blp.response(202, OperationSchema)
    @documents(blp, 401, 404, 409)
    def delete(self, server_id: int):
        """Destroy a server; supersedes whatever action is queued for it."""
        return _act(server_id, "destroy", {})


@blp.route("/<int:server_id>/actions")
class ServerActions(MethodView):
    @blp.arguments(ActionSchema)
    @blp.response(202, OperationSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def post(self, data, server_id: int):
        """start, shutdown, reboot (type soft|hard), resize (flavor_id); admin: suspend, unsuspend."""
        action = data.pop("action")
        return _act(server_id, action, {k: v for k, v in data.items() if v is not None})


@blp.route("/<int:server_id>/inspect")
class ServerInspect(MethodView):
    @blp.response(200, ServerInspectSchema)
    @documents(blp, 401, 403, 404)
    def get(self, server_id: int):
        """Administrators: the database row beside the live instance from its cluster (one
        GET /2/instances/<name>), the cluster's last jobs for it and the last operations, as
        snf-manage server-inspect. A cluster that does not answer is told in `cluster_error`."""
        require_admin()
        server = servers.get_server(g.db, server_id, user_id="", admin=True)
        return inspect.inspect_server(g.db, server, backends.cluster_client)


@blp.route("/import")
class ServerImport(MethodView):
    @blp.arguments(ServerImportSchema)
    @blp.response(201, ServerSchema)
    @documents(blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Administrators: adopt an existing Ganeti instance (as snf-manage server-import).

        The instance must be named BACKEND_PREFIX_ID<id> with an id no server has: the server
        gets that id and the instance is left untouched (no shutdown, rename or restart). Any
        other name is refused with the rename to do first. The flavor is the one matching the
        instance's vCPUs, memory, disks and template, unless given (then checked).
        """
        who = require_admin()
        backend = g.db.get(Backend, data["backend_id"])
        if backend is None:
            raise Invalid(f"backend {data['backend_id']} does not exist", field="backend_id")
        server, _op = inspect.import_server(
            g.db, backend, data["instance_name"], user_id=data["user_id"], client=backends.cluster_client(backend),
            flavor_id=data["flavor_id"], image_id=data["image_id"], name=data["name"], by=who.user_id)
        g.db.commit()
        return server


@blp.route("/<int:server_id>/events")
class ServerEvents(MethodView):
    @blp.doc(responses={"200": {"description": "server-sent events: one `state` event per change",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
    @documents(blp, 401, 404)
    def get(self, server_id: int):
        """Stream the server's state, build progress and NICs until no operation is in flight."""
        who = principal()
        servers.get_server(g.db, server_id, user_id=who.user_id, admin=who.admin)  # 404 if not theirs
        sessions = current_app.extensions["sessions"]
        return Response(stream_with_context(_server_events(sessions, server_id)), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _server_events(sessions, server_id: int, interval: float = 0.25, limit_s: float = 900.0):
    """Reads the database (the source of truth) and sends what changed; ends with the operation."""
    import json
    import time

    from orchestrator.state import api_status

    last = None
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with sessions() as session:
            server = session.get(ServerModel, server_id)
            busy = servers.in_flight(session, server_id) is not None
            state = {"id": server.id, "status": api_status(server), "build_percentage": server.build_percentage,
                     "backend_job_status": server.backend_job_status, "backend_opcode": server.backend_opcode,
                     "nics": server.nics or []}
        if state != last:
            yield f"event: state\ndata: {json.dumps(state)}\n\n"
            last = state
        if not busy and state["status"] not in ("BUILD", "REBOOT", "RESIZE"):
            yield "event: end\ndata: {}\n\n"
            return
        time.sleep(interval)


def _act(server_id: int, action: str, params: dict):
    who = principal()
    server = servers.get_server(g.db, server_id, user_id=who.user_id, admin=who.admin)
    op = servers.request_action(g.db, server, action, user_id=who.user_id, admin=who.admin, **params)
    g.db.commit()
    if not op.is_finished:
        _enqueue(op)
    return op
