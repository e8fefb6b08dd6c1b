"""Servers: every action answers 202 with its durable operation."""
from __future__ import annotations

import logging

from flask import Response, current_app, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from orchestrator import servers, vmconfig
from orchestrator.models import Server as ServerModel
from orchestrator.tasks import ops

from ..auth import principal, require_principal
from ..errors import ErrorSchema
from ..schemas import ActionSchema, OperationSchema, ServerAcceptedSchema, ServerCreateSchema, ServerSchema

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
    @blp.response(200, ServerSchema(many=True))
    @blp.alt_response(401, schema=ErrorSchema)
    def get(self):
        """List the caller's servers (all of them for an administrator)."""
        who = principal()
        return servers.list_servers(g.db, user_id=who.user_id, admin=who.admin)

    @blp.arguments(ServerCreateSchema)
    @blp.response(202, ServerAcceptedSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(422, schema=ErrorSchema)
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
    @blp.response(200, ServerSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, server_id: int):
        """One server, as the database knows it."""
        who = principal()
        return servers.get_server(g.db, server_id, user_id=who.user_id, admin=who.admin)

    @blp.response(202, OperationSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(409, schema=ErrorSchema)
    def delete(self, server_id: int):
        """Destroy a server; supersedes whatever action is queued for it."""
        return _act(server_id, "destroy", {})


@blp.route("/<int:server_id>/actions")
class ServerActions(MethodView):
    @blp.arguments(ActionSchema)
    @blp.response(202, OperationSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(409, schema=ErrorSchema)
    @blp.alt_response(422, schema=ErrorSchema)
    def post(self, data, server_id: int):
        """start, shutdown, reboot (type soft|hard), resize (flavor_id); admin: suspend, unsuspend."""
        action = data.pop("action")
        return _act(server_id, action, {k: v for k, v in data.items() if v is not None})


@blp.route("/<int:server_id>/events")
class ServerEvents(MethodView):
    @blp.doc(responses={"200": {"description": "server-sent events: one `state` event per change",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
    @blp.alt_response(404, schema=ErrorSchema)
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
