"""What the OpenStack-compatible blueprints share: X-Auth-Token authentication through the
product's own token check (the same as api/auth.py's), URLs built from the request's host,
and each service's error body (Nova's, Neutron's, Keystone's, Glance's)."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from orchestrator.errors import DomainError
from orchestrator.services import tokens


class OpenStackError(Exception):
    """An error a client caused, answered in the body shape of the service it asked."""

    def __init__(self, status: int, message: str, kind: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}


def context():
    return current_app.extensions["context"]


def base_url() -> str:
    """The scheme and host the client reached us by (the catalog and every link use it)."""
    return request.host_url.rstrip("/")


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def empty(status: int, headers: dict | None = None) -> Response:
    return Response(b"", status=status, headers=headers or {})


def body_of(key: str | None = None) -> dict:
    """The request's JSON object (its `key` member when given); anything else a 400."""
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        raise OpenStackError(400, "Malformed request body") from None
    if key is None:
        if not isinstance(data, dict):
            raise OpenStackError(400, "Malformed request body: a JSON object is expected")
        return data
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise OpenStackError(400, f"Malformed request body: '{key}' is a required object")
    return data[key]


def require_token(blp, public: set[str]) -> None:
    """Every endpoint of `blp` but the `public` ones (version documents) asks for a token."""
    @blp.before_request
    def _token():
        if request.endpoint not in public:
            authenticate()


def authenticate() -> None:
    """A before_request hook: X-Auth-Token (or the product's Bearer header) is a product token."""
    token = request.headers.get("X-Auth-Token", "").strip()
    if not token:
        scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else ""
    principal = tokens.authenticate(context(), g.db, token) if token else None
    if principal is None:
        raise OpenStackError(401, "The request you have made requires authentication.", kind=TOKEN_REFUSED,
                             headers={"WWW-Authenticate": f'Keystone uri="{base_url()}/identity"'})
    g.principal = principal


# A token refused (unknown, revoked, expired): in front of every OpenStack service it is
# keystonemiddleware that answers, with Keystone's error body, whatever the service.
TOKEN_REFUSED = "TokenRefused"


def principal():
    return g.principal


def int_id(value: str, what: str, status: int = 404) -> int:
    """The product's ids are integers (OpenStack's are UUIDs): any other text names nothing."""
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    raise OpenStackError(status, f"{what} {value} could not be found.")


def install_errors(blp: Blueprint, render) -> None:
    """Every error raised in `blp`'s views answered by `render(status, message, kind)`."""
    @blp.errorhandler(OpenStackError)
    def _openstack(exc: OpenStackError):
        response = (keystone_error if exc.kind == TOKEN_REFUSED else render)(exc.status, exc.message, exc.kind)
        response.headers.update(exc.headers)
        return response

    @blp.errorhandler(DomainError)
    def _domain(exc: DomainError):
        g.db.rollback()
        message = exc.message if not exc.field or exc.field in exc.message else f"{exc.field}: {exc.message}"
        return render(exc.status, message, type(exc).__name__)

    @blp.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        message = (data.get("message") if isinstance(data, dict) else None) or exc.description or exc.name
        return render(exc.code or 500, str(message), None)


# -- each service's error body -------------------------------------------------------------------

NOVA_FAULTS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
               409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
               501: "notImplemented", 503: "serviceUnavailable"}


def nova_error(status: int, message: str, _kind: str | None = None) -> Response:
    """Nova's fault body: {"itemNotFound": {"code": 404, "message": ...}}. Nova has no 422: a
    request the product finds invalid is a 400 badRequest there."""
    status = 400 if status == 422 else status
    return json_response({NOVA_FAULTS.get(status, "computeFault"): {"code": status, "message": message}}, status)


NEUTRON_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                 413: "OverQuota", 415: "UnsupportedMediaType"}


def neutron_error(status: int, message: str, kind: str | None = None) -> Response:
    """Neutron's: {"NeutronError": {"type", "message", "detail"}}; a 422 of the product is a 400."""
    status = 400 if status == 422 else status
    if status == 413:
        status = 409  # Neutron answers a quota exceeded with 409 OverQuota
    kind = kind if kind and kind.endswith(("NotFound", "InUse")) else NEUTRON_TYPES.get(status, "NeutronError")
    return json_response({"NeutronError": {"type": kind, "message": message, "detail": ""}}, status)


KEYSTONE_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


def keystone_error(status: int, message: str, _kind: str | None = None) -> Response:
    status = 400 if status == 422 else status
    return json_response({"error": {"code": status, "message": message,
                                    "title": KEYSTONE_TITLES.get(status, "Error")}}, status)


def glance_error(status: int, message: str, _kind: str | None = None) -> Response:
    """Glance answers errors as text ("404 Not Found\n\n<message>")."""
    title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    return Response(f"{status} {title}\n\n{message}\n\n   ", status=status, mimetype="text/plain")
