"""Operator-only views: reconciliation runs, backend refresh."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from orchestrator import backends
from orchestrator.errors import NotFound
from orchestrator.models import Backend, ReconciliationRun

from ..auth import admin_only, require_principal
from ..errors import documents
from ..schemas import BackendSchema, ReconciliationRunDetailSchema, ReconciliationRunSchema

blp = Blueprint("reconciliation", __name__, url_prefix="/api/v1/reconciliation", description="Reconciliation (admin)")
blp.before_request(require_principal)
blp.before_request(admin_only)
refresh_blp = Blueprint("backend_refresh", __name__, url_prefix="/api/v1/backends",
                        description="Ganeti clusters (admin)")
refresh_blp.before_request(require_principal)
refresh_blp.before_request(admin_only)


@blp.route("/runs")
class Runs(MethodView):
    @blp.response(200, ReconciliationRunSchema(many=True))
    @documents(blp, 401, 403)
    def get(self):
        """The latest 100 runs, newest first."""
        return g.db.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(100)).all()


@blp.route("/runs/<int:run_id>")
class RunById(MethodView):
    @blp.etag
    @blp.response(200, ReconciliationRunDetailSchema)
    @documents(blp, 401, 403, 404)
    def get(self, run_id: int):
        """One run with every finding: kind, server, what was seen, whether and how it was fixed."""
        run = g.db.get(ReconciliationRun, run_id)
        if run is None:
            raise NotFound(f"reconciliation run {run_id} not found")
        return run


@refresh_blp.route("/<int:backend_id>/refresh")
class BackendRefresh(MethodView):
    @refresh_blp.response(200, BackendSchema)
    @documents(refresh_blp, 401, 403, 404)
    def post(self, backend_id: int):
        """Read the cluster's capacity now (an operator's explicit request: one bulk nodes call)."""
        backend = g.db.get(Backend, backend_id)
        if backend is None:
            raise NotFound(f"backend {backend_id} not found")
        backends.refresh_stats(g.db, backend, backends.cluster_client(backend))
        g.db.commit()
        return backend
