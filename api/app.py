"""The Flask application factory."""
from __future__ import annotations

from flask import Flask, g
from werkzeug.routing import IntegerConverter
from flask_smorest import Api

from orchestrator.db import get_sessionmaker
from orchestrator.logs import setup_logging
from orchestrator.settings import Settings, get_settings

from . import docs, errors, metrics
from orchestrator.vmconfig import ConfigStore

from .views import admin, catalog, health, operations, servers


class OrchestratorApi(Api):
    ERROR_SCHEMA = errors.ErrorSchema


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: ids are 32-bit in the database, so a larger number matches no
    route (404) instead of overflowing a query (500); the spec says so (maximum)."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        SETTINGS=settings,
        API_TITLE="Ganeti orchestrator",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=docs.swagger_ui_url(),
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
            },
            "security": [{"bearer": []}],
        },
    )
    if not app.debug:
        setup_logging()
    sessions = get_sessionmaker(settings.database_url)
    app.extensions["sessions"] = sessions

    @app.before_request
    def _open_session() -> None:
        g.db = sessions()

    @app.teardown_request
    def _close_session(_exc) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    api = OrchestratorApi(app)
    app.extensions["vmconfig"] = ConfigStore.from_url(settings.redis_url, settings.vm_config_ttl_s)
    blueprints = (servers.blp, operations.blp, operations.config_blp, catalog.backends_blp,
                  catalog.flavors_blp, catalog.images_blp, admin.blp, admin.refresh_blp, health.blp)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    errors.register(app)
    docs.install(app)
    metrics.install(app, settings.database_url)
    return app
