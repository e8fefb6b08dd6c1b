"""The baseline of bench_api.py: a bare Flask route, served by gunicorn exactly as the product is.

It answers the same method and path as the product's create, reads the same JSON body and
answers 202 with a small JSON, and does nothing else: no session, no token, no broker.
"""
from __future__ import annotations

import itertools

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    ids = itertools.count(1)

    @app.get("/healthz")
    def health():
        return jsonify(status="ok")

    @app.post("/api/v1/servers")
    def create():
        body = request.get_json()
        return jsonify(id=next(ids), name=body.get("name"), status="BUILD"), 202

    return app
