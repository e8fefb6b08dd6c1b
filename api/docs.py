"""/docs: Swagger UI rendering /openapi.json, served offline.

The Swagger UI files come with the `flask-swagger-ui` package (its `dist/`), served here
under /docs/assets/, so the page needs no CDN. Without that package, the CDN is used.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory

ASSETS_URL = "/docs/assets/"
CDN_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
          "favicon-16x16.png")


def assets_dir() -> Path | None:
    try:
        import flask_swagger_ui
    except ImportError:
        return None
    path = Path(flask_swagger_ui.__file__).parent / "dist"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def swagger_ui_url() -> str:
    return ASSETS_URL if assets_dir() is not None else CDN_URL


def install(app: Flask) -> None:
    directory = assets_dir()
    if directory is None:
        return

    @app.get(ASSETS_URL + "<path:filename>")
    def swagger_ui_asset(filename: str):
        if filename not in ASSETS:
            abort(404)
        return send_from_directory(directory, filename, max_age=86400)


def config() -> dict:
    """flask-smorest's settings for the spec and the interactive docs."""
    return {
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": swagger_ui_url(),
        "API_SPEC_OPTIONS": {
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    }
