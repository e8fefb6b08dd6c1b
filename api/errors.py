"""One JSON error shape everywhere: code, status, message, and the fields at fault."""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from orchestrator.errors import DomainError

log = logging.getLogger(__name__)

STATUS_NAMES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                409: "Conflict", 422: "Unprocessable Entity", 500: "Internal Server Error"}


class ErrorSchema(ma.Schema):
    """Every 4xx and 5xx body."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    message = ma.fields.String(required=True, metadata={"description": "What was wrong"})
    errors = ma.fields.Dict(metadata={"description": "Messages by location and field"})


def _flatten(errors, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        out: list[str] = []
        for key, value in errors.items():
            out += _flatten(value, f"{prefix}{key}." if prefix or key not in ("json", "query") else "")
        return out
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        field = prefix.rstrip(".") or "body"
        return [f"{field}: {' '.join(errors)}"]
    return [f"{prefix.rstrip('.') or 'body'}: {errors}"]


def error_body(code: int, message: str, errors: dict | None = None) -> dict:
    body = {"code": code, "status": STATUS_NAMES.get(code, "Error"), "message": message}
    if errors:
        body["errors"] = errors
    return body


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    message = data.get("message")
    if not message and errors:
        message = "invalid request: " + "; ".join(_flatten(errors))
    if not message:
        message = error.description or error.name
    if isinstance(error, InternalServerError):
        log.error("unhandled error: %s", getattr(error, "original_exception", error), exc_info=True)
        message = "internal error"
        errors = None
    response = jsonify(error_body(error.code or 500, message, errors))
    response.status_code = error.code or 500
    for key, value in (data.get("headers") or {}).items():
        response.headers[key] = value
    return response


def handle_domain_error(error: DomainError):
    errors = {"json": {error.field: [error.message]}} if error.field else None
    message = f"{error.field}: {error.message}" if error.field else error.message
    response = jsonify(error_body(error.status, message, errors))
    response.status_code = error.status
    return response


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
