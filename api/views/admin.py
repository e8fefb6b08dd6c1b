"""Operator-only views: reconciliation runs, backend refresh."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from orchestrator.services import backends, reconciliation

from ..auth import admin_only, context, require_principal
from ..errors import documents
from ..parsing import Blueprint
from ..schemas import BackendSchema, ReconciliationRunDetailSchema, ReconciliationRunSchema

blp = Blueprint("reconciliation", __name__, url_prefix="/api/v1/reconciliation", description="Reconciliation (admin)")
refresh_blp = Blueprint("backend_refresh", __name__, url_prefix="/api/v1/backends",
                        description="Ganeti clusters (admin)")
for _blp in (blp, refresh_blp):
    _blp.before_request(require_principal)
    _blp.before_request(admin_only)


@blp.route("/runs")
class Runs(MethodView):
    @blp.response(200, ReconciliationRunSchema(many=True))
    @documents(blp, 401, 403)
    def get(self):
        """The latest 100 runs, newest first."""
        return reconciliation.list_runs(context(), g.db)


@blp.route("/runs/<int:run_id>")
class RunById(MethodView):
    @blp.etag
    @blp.response(200, ReconciliationRunDetailSchema)
    @documents(blp, 401, 403, 404)
    def get(self, run_id: int):
        """One run with every finding: kind, server, what was seen, whether and how it was fixed."""
        return reconciliation.get_run(context(), g.db, run_id)


@refresh_blp.route("/<int:backend_id>/refresh")
class BackendRefresh(MethodView):
    @refresh_blp.response(200, BackendSchema)
    @documents(refresh_blp, 401, 403, 404)
    def post(self, backend_id: int):
        """Read the cluster's capacity now (an operator's explicit request: one bulk nodes call)."""
        backend, = backends.refresh(context(), g.db, backend_id)
        return backend
