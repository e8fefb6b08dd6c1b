"""The OpenStack-compatible API (issue 17): Identity v3, Compute v2.1, Image v2 and Network
v2.0 under /identity, /compute, /image and /network, for OpenStack's own clients
(openstacksdk, the `openstack` CLI). Adapters only: each view parses OpenStack's body, calls
one use case of orchestrator/services and renders OpenStack's body. docs/openstack.md."""
from __future__ import annotations

from flask import Flask

from . import compute, identity, image, network

BLUEPRINTS = (identity.blp, compute.blp, image.blp, network.blp)


def install(app: Flask, context=None, settings=None) -> None:
    """Register the blueprints (plain Flask ones: the bodies are OpenStack's, not this API's)."""
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
