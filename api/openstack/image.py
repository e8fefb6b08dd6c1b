"""Image (Glance v2), the read side: list and show the images a caller may use (the public
ones and their own), from the product's catalog."""
from __future__ import annotations

from flask import Blueprint, g, request

from orchestrator import catalog as catalog_rules
from orchestrator.services import catalog as catalog_services

from .common import (OpenStackError, base_url, context, glance_error, install_errors, int_id, json_response, principal,
                     require_token)

blp = Blueprint("openstack_image", __name__, url_prefix="/image")
install_errors(blp, glance_error)
UNAUTHENTICATED = {"openstack_image.versions"}

require_token(blp, UNAUTHENTICATED)


@blp.get("")
@blp.get("/")
@blp.get("/versions")
def versions():
    base = base_url()
    return json_response({"versions": [{"id": "v2.9", "status": "CURRENT",
                                        "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}]})


def _stamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def render_image(image) -> dict:
    properties = catalog_rules.public_properties(image)
    body = {str(k): v for k, v in properties.items() if k not in ("format",)}
    body.update({
        "id": str(image.id), "name": image.name, "status": "active",
        "visibility": "public" if image.public else "private", "protected": False, "os_hidden": False,
        "disk_format": catalog_rules.image_disk_format(image), "container_format": "bare",
        "min_disk": 0, "min_ram": 0, "size": None, "virtual_size": None, "checksum": None, "os_hash_algo": None,
        "os_hash_value": None, "owner": image.owner, "tags": [], "created_at": _stamp(image.created_at),
        "updated_at": _stamp(image.updated_at), "os": image.os, "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file", "schema": "/v2/schemas/image",
    })
    return body


@blp.get("/v2/images")
def list_images():
    filters = {}
    if request.args.get("name"):
        filters["name"] = request.args["name"]
    visibility = request.args.get("visibility")
    if visibility in ("public", "private"):
        filters["public"] = visibility == "public"
    elif visibility not in (None, "all", "shared", "community"):
        raise OpenStackError(400, f"Invalid visibility value: {visibility}")
    images = catalog_services.list_images(context(), g.db, principal(), **filters)
    marker, limit = request.args.get("marker"), request.args.get("limit")
    if marker:
        after = int_id(marker, "Image", 400)
        images = [i for i in images if i.id > after]
    body = {"images": [], "schema": "/v2/schemas/images", "first": "/v2/images"}
    if limit:
        if not (limit.isascii() and limit.isdigit()):
            raise OpenStackError(400, "limit param must be an integer")
        if len(images) > int(limit):
            images = images[:int(limit)]
            body["next"] = f"/v2/images?marker={images[-1].id}&limit={limit}"
    body["images"] = [render_image(i) for i in images]
    return json_response(body)


@blp.get("/v2/images/<image_id>")
def show_image(image_id: str):
    try:
        image = catalog_services.get_image(context(), g.db, principal(), int_id(image_id, "Image"))
    except OpenStackError:
        raise OpenStackError(404, f"No image found with ID {image_id}") from None
    return json_response(render_image(image))
