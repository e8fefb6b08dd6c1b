"""Liveness for load balancers and operators: the database and the broker."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
import marshmallow as ma
from sqlalchemy import text

from orchestrator.celery_app import app as celery_app

blp = Blueprint("health", __name__, url_prefix="/healthz", description="Health")


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    database = ma.fields.String()
    broker = ma.fields.String()


def _database() -> str:
    try:
        g.db.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # report, do not fail the probe with a 500
        return f"error: {type(exc).__name__}"


def _broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@blp.route("")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema)
    def get(self):
        """No authentication; 503 when the database or the broker does not answer."""
        report = {"database": _database(), "broker": _broker()}
        ok = all(v == "ok" for v in report.values())
        report["status"] = "ok" if ok else "degraded"
        return report, (200 if ok else 503)
