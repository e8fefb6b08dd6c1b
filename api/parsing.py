"""Request bodies as the API reads them: JSON a parser can take, bounded in depth.

webargs parses with the standard library, which raises RecursionError on deep nesting
and a plain ValueError on integers beyond Python's digit limit, and accepts NaN and
Infinity, none of which is JSON (RFC 8259). Each is a 400 with the API's error body here.
The body's size is bounded before it is read (MAX_CONTENT_LENGTH, api.app).
"""
from __future__ import annotations

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


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the parser above."""

    ARGUMENTS_PARSER = JsonParser()
