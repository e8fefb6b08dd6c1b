"""The WSGI entry point (gunicorn 'api.wsgi:app_from_env()'): settings from the process's environment."""
from __future__ import annotations

from orchestrator.settings import Settings

from .app import create_app


def app_from_env():
    return create_app(Settings.from_env())
