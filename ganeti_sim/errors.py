"""Ganeti's error vocabulary, as the simulator reports it.

Job failures carry Ganeti's error class name and arguments (message, error code)
because clients decide whether to retry from exactly those; HTTP failures carry
Ganeti's JSON error body {code, message, explain}.
"""
from __future__ import annotations

import html
import json
from http import HTTPStatus

# Error classifications (errors.ECODE_* in Ganeti; values from its constants).
ECODE_RESOLVER = "resolver_error"
ECODE_NORES = "insufficient_resources"
ECODE_TEMP_NORES = "temp_insufficient_resources"
ECODE_INVAL = "wrong_input"
ECODE_STATE = "wrong_state"
ECODE_NOENT = "unknown_entity"
ECODE_EXISTS = "already_exists"
ECODE_NOTUNIQUE = "resource_not_unique"
ECODE_FAULT = "internal_error"
ECODE_ENVIRON = "environment_error"
ECODE_ALL = frozenset([ECODE_RESOLVER, ECODE_NORES, ECODE_TEMP_NORES, ECODE_INVAL, ECODE_STATE,
                       ECODE_NOENT, ECODE_EXISTS, ECODE_NOTUNIQUE, ECODE_FAULT, ECODE_ENVIRON])


class GanetiError(Exception):
    """Base of the errors a job's opcode can fail with (Ganeti's GenericError)."""

    def encode(self) -> list:
        """Ganeti's encoded form: [class name, list of arguments]."""
        return [type(self).__name__, list(self.args)]


class GenericError(GanetiError):
    pass


class OpPrereqError(GanetiError):
    """A prerequisite check failed: nothing was changed, args are (message[, ecode])."""


class OpExecError(GanetiError):
    """The opcode failed while executing."""


class OpRetryNotSupportedError(GanetiError):
    pass


class HooksAbort(GanetiError):
    pass


class HooksFailure(GanetiError):
    pass


class JobCanceled(GanetiError):
    pass


class TagError(GanetiError):
    pass


class HypervisorError(GanetiError):
    pass


class ConfigurationError(GanetiError):
    """A configuration value is invalid (e.g. objects.NIC.CheckParameterSyntax)."""


class AddressPoolError(GanetiError):
    """An address pool operation failed (lib/network.py, Ganeti.Network)."""


class ReservationError(GanetiError):
    """A temporary reservation (IP, MAC) failed (Ganeti.WConfd.TempRes)."""


# --- HTTP errors -----------------------------------------------------------

class HttpError(Exception):
    """An HTTP error answered with Ganeti's JSON error body."""

    code = 500

    def __init__(self, message: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.code, self.message)


def _http(name: str, code: int) -> type[HttpError]:
    return type(name, (HttpError,), {"code": code})


HttpBadRequest = _http("HttpBadRequest", 400)
HttpUnauthorized = _http("HttpUnauthorized", 401)
HttpForbidden = _http("HttpForbidden", 403)
HttpNotFound = _http("HttpNotFound", 404)
HttpMethodNotAllowed = _http("HttpMethodNotAllowed", 405)
HttpConflict = _http("HttpConflict", 409)
HttpUnsupportedMediaType = _http("HttpUnsupportedMediaType", 415)
HttpInternalServerError = _http("HttpInternalServerError", 500)
HttpNotImplemented = _http("HttpNotImplemented", 501)
HttpBadGateway = _http("HttpBadGateway", 502)
HttpServiceUnavailable = _http("HttpServiceUnavailable", 503)
HttpGatewayTimeout = _http("HttpGatewayTimeout", 504)


def error_body(code: int, message: str | None = None) -> dict:
    """Ganeti's error body: message defaults to the status phrase, explain is the
    standard long description of the status (as Python's http.server gives it)."""
    try:
        status = HTTPStatus(code)
        short, explain = status.phrase, status.description
    except ValueError:
        short = explain = "Unknown"
    return {"code": code, "message": html.escape(message or short), "explain": explain}


def error_json(code: int, message: str | None = None) -> bytes:
    return json.dumps(error_body(code, message)).encode()
