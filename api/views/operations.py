"""Operations: what was asked, where it stands, and retrying what failed."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from orchestrator.services import operations, servers

from ..auth import context, principal, require_principal
from ..errors import documents
from ..parsing import Blueprint
from ..schemas import OperationQuerySchema, OperationSchema, VmConfigSchema

blp = Blueprint("operations", __name__, url_prefix="/api/v1/operations", description="Durable operations")
blp.before_request(require_principal)
config_blp = Blueprint("config", __name__, url_prefix="/api/v1/config", description="One-time VM configuration")


@config_blp.after_request
def _never_cached(response):
    """A VM's password: no cache (browser, proxy) keeps the answer, nor the 404 after it."""
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("")
class Operations(MethodView):
    @blp.arguments(OperationQuerySchema, location="query")
    @blp.response(200, OperationSchema(many=True))
    @documents(blp, 401, 422)
    def get(self, query):
        """Newest first; filter by status (e.g. FAILED), kind, server or user (administrators)."""
        return operations.list_operations(context(), g.db, principal(), **query)


@blp.route("/<int:op_id>")
class OperationById(MethodView):
    @blp.etag
    @blp.response(200, OperationSchema)
    @documents(blp, 401, 404)
    def get(self, op_id: int):
        """One operation: its step, attempts, Ganeti job and last error."""
        return operations.get(context(), g.db, principal(), op_id)


@blp.route("/<int:op_id>/retry")
class OperationRetry(MethodView):
    @blp.response(202, OperationSchema)
    @documents(blp, 401, 404, 409, 413)
    def post(self, op_id: int):
        """Resume a FAILED operation at the step that failed; a start or resize whose growth no
        longer fits the owner's quota is a 413 (overLimit)."""
        return operations.retry(context(), g.db, principal(), op_id)


@blp.route("/<int:op_id>/cancel")
class OperationCancel(MethodView):
    @blp.response(202, OperationSchema)
    @documents(blp, 401, 403, 404, 409)
    def post(self, op_id: int):
        """Stop an operation in flight (administrators): its Ganeti job is canceled if it has
        not started running; the operation ends FAILED, saying who canceled it."""
        return operations.cancel(context(), g.db, principal(), op_id)


@config_blp.route("/<string:key>")
class VmConfig(MethodView):
    @config_blp.doc(security=[])
    @config_blp.response(200, VmConfigSchema)
    @documents(config_blp, 404)
    def get(self, key: str):
        """The VM's password and configuration, once; then 404. The key is the credential."""
        return servers.read_config(context(), key)
