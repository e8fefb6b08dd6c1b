"""The Flask application factory: `create_app(settings)`, or `create_app(settings, context)`
with a context of one's own (the tests' dispatcher on their own broker)."""
from __future__ import annotations

from flask import Flask, g, request
from flask_smorest import Api, abort
from werkzeug.routing import IntegerConverter

from orchestrator.logs import setup_logging
from orchestrator.services.context import Context, build_context
from orchestrator.settings import Settings

from . import console, docs, errors, metrics, openstack
from .views import admin, catalog, floating_ips, health, networks, operations, quotas, servers

BLUEPRINTS = (servers.blp, operations.blp, operations.config_blp, catalog.backends_blp, catalog.flavors_blp,
              catalog.images_blp, *networks.BLUEPRINTS, floating_ips.blp, quotas.blp, admin.blp, admin.refresh_blp,
              health.blp)


class OrchestratorApi(Api):
    ERROR_SCHEMA = errors.ErrorSchema


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: ids are 32-bit in the database, so a larger number matches no
    route (404) instead of overflowing a query (500); the spec says so (maximum)."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(settings: Settings, context: Context | None = None) -> Flask:
    context = context or build_context(settings)
    app = Flask(__name__)
    app.url_map.converters["int"] = IdConverter
    # A body larger than this is refused (413) before it is read, and never read past it.
    app.config.update(SETTINGS=settings, API_TITLE="Ganeti orchestrator", API_VERSION="v1",
                      MAX_CONTENT_LENGTH=settings.api_max_body_bytes, **docs.config())
    app.extensions["context"] = context
    if not app.debug:
        setup_logging(settings.log_level, settings.log_levels)
    _bounded_bodies(app, settings.api_max_body_bytes)
    _session_per_request(app, context)
    api = OrchestratorApi(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.register(app)
    docs.install(app)
    metrics.install(app, context, settings)
    openstack.install(app, context, settings)
    console.install(app, context, settings)
    return app


def _bounded_bodies(app: Flask, limit: int) -> None:
    """Whatever the endpoint, a declared length over the limit is a 413 at once; a body
    without one (chunked) is cut at the limit by MAX_CONTENT_LENGTH when it is read."""
    @app.before_request
    def _refuse_large_bodies() -> None:
        if request.content_length is not None and request.content_length > limit:
            abort(413, message=f"the request body is larger than {limit} bytes (API_MAX_BODY_BYTES)")


def _session_per_request(app: Flask, context: Context) -> None:
    @app.before_request
    def _open_session() -> None:
        g.db = context.sessions()

    @app.teardown_request
    def _close_session(_exc) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()
