"""Request bodies as the API reads them: JSON a parser can take, bounded in depth, and there
when the endpoint needs one.

webargs parses with the standard library, which raises RecursionError on deep nesting
and a plain ValueError on integers beyond Python's digit limit, and accepts NaN and
Infinity, none of which is JSON (RFC 8259). Each is a 400 with the API's error body here.
The body's size is bounded before it is read (MAX_CONTENT_LENGTH, api.app).

webargs reads a request without a JSON body (none, or one of another media type) as `{}`, so
an endpoint whose schema requires no field took it (a PATCH without a body was a 200) while
the spec says the body is required (flask-smorest's `required=True`, the default). A required
body is required here: none is a 422, one of another media type a 415.
"""
from __future__ import annotations

import functools
import json
from typing import Any

import flask
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

MAX_DEPTH = 32  # arrays and objects inside each other; the API's own bodies need three


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _bad_body(reason: str) -> None:
    abort(400, messages={"json": [f"Invalid JSON body: {reason}."]})


def _deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


class JsonParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # as webargs: a 400 saying the body is not JSON
            raise json.JSONDecodeError(f"Bytes decoding error : {exc.reason}", doc=str(exc.object),
                                       pos=exc.start) from exc
        try:
            value = json.loads(text, parse_constant=_not_json)
        except json.JSONDecodeError:
            raise  # webargs: an empty body is no body, anything else a 400
        except RecursionError:
            _bad_body(f"nested deeper than {MAX_DEPTH} levels")
        except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
            _bad_body(str(exc) if "JSON" in str(exc) else "a number too large")
        if _deeper_than(value, MAX_DEPTH):
            _bad_body(f"nested deeper than {MAX_DEPTH} levels")
        return value


def _require_json_body(req: flask.Request) -> None:
    """The body a required `json` argument needs: there, and JSON (whether it parses is the
    parser's to say)."""
    present = req.get_data(cache=True) != b""
    if is_json_request(req) and present:
        return
    if present:
        flask_smorest.abort(415, message="the body must be JSON (Content-Type: application/json)")
    abort(422, messages={"json": ["a JSON body is required (Content-Type: application/json)."]})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the parser above; a JSON body documented as required (the
    default) must be sent."""

    ARGUMENTS_PARSER = JsonParser()

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        # An instance, made once: given a class, webargs builds (and deep-copies the fields
        # of) a new schema for every request. Loading keeps no state on the schema.
        if isinstance(schema, type):
            schema = schema()
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse

        def decorator(func):
            parsed = parse(func)

            @functools.wraps(parsed)  # keeps flask-smorest's _apidoc
            def view(*args, **kw):
                _require_json_body(flask.request)
                return parsed(*args, **kw)

            return view

        return decorator
