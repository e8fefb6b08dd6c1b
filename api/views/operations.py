"""Operations: what was asked, where it stands, and retrying what failed."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from orchestrator import operations, queries
from orchestrator.tasks import ops

from ..auth import principal, require_principal
from ..errors import documents
from ..schemas import OperationQuerySchema, OperationSchema, VmConfigSchema

blp = Blueprint("operations", __name__, url_prefix="/api/v1/operations", description="Durable operations")
blp.before_request(require_principal)
config_blp = Blueprint("config", __name__, url_prefix="/api/v1/config", description="One-time VM configuration")


@blp.route("")
class Operations(MethodView):
    @blp.arguments(OperationQuerySchema, location="query")
    @blp.response(200, OperationSchema(many=True))
    @documents(blp, 401, 422)
    def get(self, query):
        """Newest first; filter by status (e.g. FAILED), kind, server or user (administrators)."""
        who = principal()
        return queries.search_operations(g.db, user_id=who.user_id, admin=who.admin, **query)


@blp.route("/<int:op_id>")
class OperationById(MethodView):
    @blp.etag
    @blp.response(200, OperationSchema)
    @documents(blp, 401, 404)
    def get(self, op_id: int):
        """One operation: its step, attempts, Ganeti job and last error."""
        who = principal()
        return operations.get_operation(g.db, op_id, user_id=who.user_id, admin=who.admin)


@blp.route("/<int:op_id>/retry")
class OperationRetry(MethodView):
    @blp.response(202, OperationSchema)
    @documents(blp, 401, 404, 409)
    def post(self, op_id: int):
        """Resume a FAILED operation at the step that failed."""
        who = principal()
        op = operations.get_operation(g.db, op_id, user_id=who.user_id, admin=who.admin)
        operations.reopen(g.db, op)
        g.db.commit()
        ops.enqueue(op.id)
        return op


@config_blp.route("/<string:key>")
class VmConfig(MethodView):
    @config_blp.doc(security=[])
    @config_blp.response(200, VmConfigSchema)
    @documents(config_blp, 404)
    def get(self, key: str):
        """The VM's password and configuration, once; then 404. The key is the credential."""
        from orchestrator.errors import NotFound

        config = current_app.extensions["vmconfig"].pop(key) if key.isalnum() else None
        if config is None:
            raise NotFound("no such configuration, or it was already read")
        return config
