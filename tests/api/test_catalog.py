"""Flavors (one, or a cartesian product; soft delete) and images (register, list, show,
unregister) through the API."""
from __future__ import annotations

import uuid

import pytest

from tests.integration.helpers import active_server, user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def test_flavor_one_or_a_cartesian_product(api, stack):
    h = stack.admin_headers
    one = api.post("/api/v1/flavors", json={"cpu": 3, "ram": 3072, "disk": 33}, headers=h)
    assert one.status_code == 201, one.json
    assert one.json["name"] == "C3R3072D33plain" and one.json["deleted"] is False
    assert api.post("/api/v1/flavors", json={"cpu": 3, "ram": 3072, "disk": 33}, headers=h).status_code == 409

    product = api.post("/api/v1/flavors/product", json={"cpus": [5, 6], "rams": [512, 768], "disks": [7],
                                                          "disk_templates": ["plain", "drbd"]}, headers=h)
    assert product.status_code == 201, product.json
    names = sorted(f["name"] for f in product.json)
    assert len(names) == 8 and "C5R512D7drbd" in names and "C6R768D7plain" in names
    listed = {f["name"] for f in api.get("/api/v1/flavors", headers=h).json}
    assert set(names) <= listed

    # All or nothing: one taken name and nothing is created.
    clash = api.post("/api/v1/flavors/product", json={"cpus": [5, 9], "rams": [512], "disks": [7]}, headers=h)
    assert clash.status_code == 409 and "C5R512D7plain" in clash.json["message"]
    assert "C9R512D7plain" not in {f["name"] for f in api.get("/api/v1/flavors", headers=h).json}

    bad = api.post("/api/v1/flavors/product", json={"cpus": [], "rams": [512], "disks": [7]}, headers=h)
    assert bad.status_code == 422 and "cpus" in bad.json["message"]
    user = user_headers(stack, "flavor-user")
    assert api.post("/api/v1/flavors", json={"cpu": 1, "ram": 128, "disk": 1}, headers=user).status_code == 403
    assert api.get("/api/v1/flavors", headers=user).status_code == 200


def test_deleted_flavor_stays_on_servers_and_cannot_be_chosen(api, stack):
    h = stack.admin_headers
    flavor = api.post("/api/v1/flavors", json={"name": f"doomed-{uuid.uuid4().hex[:6]}", "cpu": 1, "ram": 512,
                                                "disk": 5}, headers=h).json
    server = active_server(stack, name="keeps-flavor", flavor_id=flavor["id"])
    assert api.delete(f"/api/v1/flavors/{flavor['id']}", headers=h).status_code == 204

    assert flavor["id"] not in [f["id"] for f in api.get("/api/v1/flavors", headers=h).json]
    assert flavor["id"] in [f["id"] for f in api.get("/api/v1/flavors?deleted=true", headers=h).json]
    shown = api.get(f"/api/v1/flavors/{flavor['id']}", headers=h)
    assert shown.status_code == 200 and shown.json["deleted"] is True
    assert stack.server(server["id"])["flavor_id"] == flavor["id"]
    refused = api.post("/api/v1/servers", json={"name": "x", "flavor_id": flavor["id"], "image_id": 1}, headers=h)
    assert refused.status_code == 422 and "flavor_id" in refused.json["message"]

    restored = api.patch(f"/api/v1/flavors/{flavor['id']}", json={"deleted": False}, headers=h)
    assert restored.status_code == 200 and restored.json["deleted"] is False
    etag = api.get(f"/api/v1/flavors/{flavor['id']}", headers=h).headers["ETag"]
    assert api.get(f"/api/v1/flavors/{flavor['id']}", headers={**h, "If-None-Match": etag}).status_code == 304
    assert api.get("/api/v1/flavors/999999", headers=h).status_code == 404


def test_images_register_list_show_unregister(api, stack):
    alice, bob = user_headers(stack, "img-alice"), user_headers(stack, "img-bob")
    body = {"name": "alpine", "location": "alpine-3.20.diskdump", "disk_format": "diskdump",
            "properties": {"OSFAMILY": "linux", "ROOT_PARTITION": "1", "users": "root"}}
    created = api.post("/api/v1/images", json=body, headers=alice)
    assert created.status_code == 201, created.json
    image = created.json
    assert (image["owner"], image["public"], image["disk_format"]) == ("img-alice", False, "diskdump")
    assert image["properties"]["OSFAMILY"] == "linux"
    assert api.post("/api/v1/images", json={**body, "public": True}, headers=alice).status_code == 422
    assert api.post("/api/v1/images", json={**body, "disk_format": "qcow9"}, headers=alice).status_code == 422

    public = api.post("/api/v1/images", json={**body, "name": "alpine-public", "public": True},
                      headers=stack.admin_headers).json
    bob_sees = {i["id"] for i in api.get("/api/v1/images", headers=bob).json}
    assert public["id"] in bob_sees and image["id"] not in bob_sees
    assert image["id"] in {i["id"] for i in api.get("/api/v1/images", headers=alice).json}

    shown = api.get(f"/api/v1/images/{image['id']}", headers=alice)
    assert shown.status_code == 200 and shown.json == image
    assert api.get(f"/api/v1/images/{image['id']}", headers={**alice, "If-None-Match": shown.headers["ETag"]}
                   ).status_code == 304
    assert api.get(f"/api/v1/images/{image['id']}", headers=bob).status_code == 404
    assert api.delete(f"/api/v1/images/{image['id']}", headers=bob).status_code == 404
    assert api.delete(f"/api/v1/images/{public['id']}", headers=bob).status_code == 403

    assert api.delete(f"/api/v1/images/{image['id']}", headers=alice).status_code == 204
    assert api.get(f"/api/v1/images/{image['id']}", headers=alice).status_code == 404


def test_unregistered_image_stays_on_its_servers(api, stack):
    h = stack.admin_headers
    image = api.post("/api/v1/images", json={"name": "short-lived", "location": "sl.diskdump", "public": True},
                     headers=h).json
    server = active_server(stack, name="from-short-lived", image_id=image["id"])
    assert api.delete(f"/api/v1/images/{image['id']}", headers=h).status_code == 204
    assert image["id"] not in {i["id"] for i in api.get("/api/v1/images", headers=h).json}
    assert api.get(f"/api/v1/images/{image['id']}", headers=h).status_code == 404
    assert stack.server(server["id"])["image_id"] == image["id"]
    refused = api.post("/api/v1/servers", json={"name": "x", "flavor_id": 1, "image_id": image["id"]}, headers=h)
    assert refused.status_code == 422 and "image_id" in refused.json["message"]
