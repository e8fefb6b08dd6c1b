"""Liveness for load balancers and operators: the database and the broker."""
from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView

from orchestrator.services import health

from ..auth import context
from ..parsing import Blueprint

blp = Blueprint("health", __name__, url_prefix="/healthz", description="Health")


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    database = ma.fields.String()
    broker = ma.fields.String()


@blp.route("")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema)
    def get(self):
        """No authentication; 503 when the database or the broker does not answer."""
        report = health.check(context(), g.db)
        return report, (200 if report["status"] == "ok" else 503)
