"""Bearer-token authentication for every /api/v1 request."""
from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import abort

from orchestrator.auth import Principal
from orchestrator.services import tokens


def context():
    """The process's services context (orchestrator.services.context.Context)."""
    return current_app.extensions["context"]


def require_principal() -> None:
    """A before_request hook for the protected blueprints."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, message="missing bearer token: send 'Authorization: Bearer <token>'",
              headers={"WWW-Authenticate": "Bearer"})
    principal = tokens.authenticate(context(), g.db, token.strip())
    if principal is None:
        abort(401, message="invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    g.principal = principal


def principal() -> Principal:
    return g.principal


def require_admin() -> Principal:
    if not g.principal.admin:
        abort(403, message="administrators only")
    return g.principal


def admin_only() -> None:
    """A before_request hook for admin-only blueprints (a hook must return None)."""
    require_admin()
