"""The RAPI HTTP layer: a thin WSGI app (werkzeug request/response, own router).

Request processing follows Ganeti's RAPI daemon: resolve the resource (404), check
the method (501), authenticate (401, or 403 when a read-only user writes), parse
the JSON body (415/400), run the handler, answer JSON. Errors use Ganeti's body
{code, message, explain}. Kept thin so a job poll costs a dict lookup and a cached
serialisation.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from urllib.parse import parse_qs, unquote

from . import constants as C
from .errors import (HttpBadRequest, HttpError, HttpForbidden, HttpNotFound, HttpNotImplemented, HttpUnauthorized,
                     HttpUnsupportedMediaType, error_json)
from .resource import RawJSON, Request, Resource
from .routes import ROUTES

JSON_TYPE = "application/json"


class Users:
    """RAPI users: name -> (password spec, options). Passwords may be {CLEARTEXT}x or {HA1}md5."""

    def __init__(self, users: dict | None = None):
        self.users = dict(users or {})

    @classmethod
    def from_file(cls, path) -> "Users":
        """Ganeti's users file: `<user> <password> [options]`, options comma-separated."""
        users = {}
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(None, 2)
                if len(parts) < 2:
                    continue
                options = [o.strip() for o in parts[2].split(",")] if len(parts) > 2 else []
                users[parts[0]] = (parts[1], set(o for o in options if o))
        return cls(users)

    def add(self, name: str, password: str, write: bool = True) -> None:
        self.users[name] = (password, {C.RAPI_ACCESS_WRITE} if write else set())

    def check(self, name: str, password: str):
        """Options of the user if the password matches, else None."""
        entry = self.users.get(name)
        if entry is None:
            return None
        expected, options = entry
        if not expected.startswith("{"):
            expected = "{CLEARTEXT}" + expected
        end = expected.find("}", 1)
        scheme, value = expected[:end + 1].upper(), expected[end + 1:]
        if scheme == "{CLEARTEXT}":
            ok = password == value
        elif scheme == "{HA1}":
            digest = hashlib.md5(f"{name}:{C.AUTH_REALM}:{password}".encode()).hexdigest()
            ok = value.lower() == digest
        else:
            ok = False
        return options if ok else None


class RapiApp:
    """WSGI app of one simulated cluster (`sim` is a SimCluster)."""

    def __init__(self, sim, require_auth: bool = True):
        self.sim = sim
        self.require_auth = require_auth
        self._static: dict[tuple, Resource] = {}
        self._patterns: list[tuple[tuple, Resource]] = []
        for pattern, resource in ROUTES:
            self.route(pattern, resource)

    def route(self, pattern: str, resource: Resource) -> None:
        """Patterns are '/'-separated; '*' matches one path segment (an item)."""
        parts = tuple(p for p in pattern.split("/") if p)
        if "*" in parts:
            self._patterns.append((parts, resource))
        else:
            self._static[parts] = resource

    def resolve(self, path: str):
        parts = tuple(unquote(p) for p in path.split("/") if p)
        res = self._static.get(parts)
        if res is not None:
            return res, []
        for pattern, res in self._patterns:
            if len(pattern) != len(parts):
                continue
            items = []
            for want, got in zip(pattern, parts):
                if want == "*":
                    items.append(got)
                elif want != got:
                    break
            else:
                return res, items
        raise HttpNotFound()

    # --- WSGI ------------------------------------------------------------------

    def __call__(self, environ, start_response):
        meter = getattr(self.sim, "meter", None)
        if meter is None or (environ.get("PATH_INFO") or "/").startswith("/sim"):
            return self._answer(environ, start_response)
        meter.begin()  # the cluster's side of the orchestrator's request budget (meter.py)
        try:
            return self._answer(environ, start_response)
        finally:
            meter.end()

    def _answer(self, environ, start_response):
        try:
            status, body, headers = self.handle(environ)
        except HttpError as err:
            status, body = err.code, error_json(err.code, err.message)
            headers = [("Content-Type", JSON_TYPE)] + list(err.headers.items())
        except Exception as err:  # a simulator bug answers like Ganeti's 500
            import logging
            logging.getLogger(__name__).exception("RAPI handler failed")
            status, body, headers = 500, error_json(500, str(err)), [("Content-Type", JSON_TYPE)]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_phrase(status)}", headers)
        return [body]

    def handle(self, environ):
        faults = self.sim.faults
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO") or "/"
        if faults.latency and not path.startswith("/sim"):
            time.sleep(faults.latency)
        resource, items = self.resolve(path)
        fn = resource.methods.get(method)
        if fn is None:
            raise HttpNotImplemented("Method %s is unsupported for path %s" % (method, path))
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        req = Request(method, path, items, query, environ)
        self._authenticate(req, resource.access[method], environ)
        if not path.startswith("/sim"):
            code = faults.http_error()
            if code is not None:
                raise _http_error(code, "Simulated HTTP error injected by ganeti_sim")
        req.body = self._read_body(environ)
        result = fn(self.sim, req, resource)
        if isinstance(result, RawJSON):
            return 200, result.data, [("Content-Type", JSON_TYPE)]
        return 200, json.dumps(result).encode(), [("Content-Type", JSON_TYPE)]

    def _authenticate(self, req: Request, access: list, environ) -> None:
        header = environ.get("HTTP_AUTHORIZATION")
        if not (self.require_auth or access or header):
            return
        options = None
        if header:
            parts = header.strip().split(None, 2)
            if parts and parts[0].lower() == "basic":
                if len(parts) < 2:
                    raise HttpBadRequest("Basic authentication requires credentials")
                try:
                    creds = base64.b64decode(parts[1].encode("ascii")).decode("ascii")
                except (binascii.Error, UnicodeError, ValueError):
                    creds = ""
                if ":" in creds:
                    user, password = creds.split(":", 1)
                    options = self.sim.users.check(user, password)
                    req.user = user
        if options is None:
            raise HttpUnauthorized(headers={"WWW-Authenticate": f'Basic realm="{C.AUTH_REALM}"'})
        if access and not (set(options) & set(access)):
            raise HttpForbidden()

    @staticmethod
    def _read_body(environ):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return None
        raw = environ["wsgi.input"].read(length)
        if not raw:
            return None
        ctype = (environ.get("CONTENT_TYPE") or "application/octet-stream").split(";")[0].strip().lower()
        if ctype != JSON_TYPE:
            raise HttpUnsupportedMediaType()
        try:
            return json.loads(raw)
        except ValueError:
            raise HttpBadRequest("Unable to parse JSON data")


def _phrase(code: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _http_error(code: int, message: str) -> HttpError:
    err = HttpError(message)
    err.code = code
    return err


__all__ = ["RapiApp", "Users"]
