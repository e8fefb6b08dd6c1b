"""The operator console (`/console`): server-rendered pages for administrators, with a
session cookie instead of a bearer token, CSRF on every POST, and small vanilla JS for the
buttons. An adapter like api/views: it parses, calls one service, renders."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from orchestrator.services.context import Context
from orchestrator.settings import Settings

from .views import blp


def secret_key(settings: Settings) -> bytes:
    """CONSOLE_SECRET_KEY when the settings have one, else derived from the admin token
    (HMAC, so the token itself never signs a cookie)."""
    given = settings.console_secret_key
    if given:
        return given.encode() if isinstance(given, str) else given
    return hmac.new(settings.admin_token.encode(), b"orchestrator console session key v1", hashlib.sha256).digest()


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure whenever the request came over https (or
    CONSOLE_COOKIE_SECURE says always), and never written for a request outside /console."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (bool(request) and request.is_secure)

    def should_set_cookie(self, app: Flask, session) -> bool:
        return request.path.startswith("/console") and super().should_set_cookie(app, session)


def install(app: Flask, context: Context, settings: Settings) -> None:
    if not app.secret_key:
        app.secret_key = secret_key(settings)
    ttl = settings.console_session_ttl_s
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.console_cookie_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=ttl),
        CONSOLE_SESSION_TTL_S=ttl,
        CONSOLE_FLOWER_URL=settings.flower_url,
    )
    app.session_interface = ConsoleSessions()
    app.register_blueprint(blp)
