"""One JSON error shape everywhere: code, status, message, and the fields at fault."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import marshmallow as ma
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from orchestrator.errors import DomainError

log = logging.getLogger(__name__)

STATUS_NAMES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
                413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
                428: "Precondition Required",
                500: "Internal Server Error", 503: "Service Unavailable"}

# What each documented error means, for the spec.
ERROR_DESCRIPTIONS = {
    400: "the body is not valid JSON, or nested too deeply",
    401: "missing, invalid or revoked bearer token",
    403: "administrators only",
    404: "no such resource, or not the caller's to see",
    409: "conflicts with the resource's state",
    413: "the request body is larger than API_MAX_BODY_BYTES, or (`overLimit`) it would take the user past a "
         "quota: `resource`, `limit`, `usage` and `requested` say which",
    415: "the body is not JSON (Content-Type: application/json)",
    422: "invalid input: `errors` names the fields at fault",
}


class ErrorSchema(ma.Schema):
    """Every 4xx and 5xx body."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    message = ma.fields.String(required=True, metadata={"description": "What was wrong"})
    errors = ma.fields.Dict(metadata={"description": "Messages by location and field"})
    # overLimit (413) only: the quota that refused the request.
    resource = ma.fields.String(metadata={"description": "overLimit: the quota resource, e.g. cyclades.vm"})
    limit = ma.fields.Integer(metadata={"description": "overLimit: the user's limit of it"})
    usage = ma.fields.Integer(metadata={"description": "overLimit: what the user holds and has reserved"})
    requested = ma.fields.Integer(metadata={"description": "overLimit: what the request asked for"})


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
    if error.code == 304:  # ETag matched (If-None-Match): no body
        from flask import Response

        return Response(status=304)
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
    if getattr(error, "valid_methods", None):  # 405: say which methods are allowed
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_domain_error(error: DomainError):
    errors = {"json": {error.field: [error.message]}} if error.field else None
    message = f"{error.field}: {error.message}" if error.field else error.message
    body = error_body(error.status, message, errors)
    if getattr(error, "status_name", None):
        body["status"] = error.status_name
    body.update(getattr(error, "details", None) or {})
    response = jsonify(body)
    response.status_code = error.status
    return response


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)


def documents(blp, *codes: int):
    """Document error responses (the one error shape) on an endpoint; one that takes a body
    (documents 400) also answers 413 to a body over API_MAX_BODY_BYTES and 415 to a body that
    is not JSON (api.parsing)."""
    if 400 in codes:
        codes = (*codes, *(code for code in (413, 415) if code not in codes))

    def decorator(func):
        for code in sorted(codes, reverse=True):
            func = blp.alt_response(code, schema=ErrorSchema, description=ERROR_DESCRIPTIONS.get(code))(func)
        return func

    return decorator


@contextmanager
def named_as_sent(names: dict[str, str]) -> Iterator[None]:
    """An error names the field as this API's body does (`type`, not the service's `flavor`)."""
    try:
        yield
    except DomainError as exc:
        exc.field = names.get(exc.field, exc.field)
        raise
