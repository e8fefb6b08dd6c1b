"""Servers: create answers 202 with the BUILD server and its operation."""
from __future__ import annotations

import logging

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from orchestrator import servers
from orchestrator.tasks import ops

from ..auth import principal, require_principal
from ..errors import ErrorSchema
from ..schemas import ServerAcceptedSchema, ServerCreateSchema, ServerSchema

log = logging.getLogger(__name__)

blp = Blueprint("servers", __name__, url_prefix="/api/v1/servers", description="Virtual machines")
blp.before_request(require_principal)


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
        """Create a server: the row and its operation are committed, then the chain is enqueued."""
        who = principal()
        server, op = servers.request_create(
            g.db, user_id=who.user_id, admin=who.admin, **data
        )
        g.db.commit()
        try:
            ops.enqueue(op.id)
        except Exception:  # the operation is durable; recovery re-drives it
            log.exception("op=%s server=%s could not be enqueued", op.id, server.id)
        server.operation = op
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
