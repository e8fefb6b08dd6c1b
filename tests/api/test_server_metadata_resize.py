"""The native API's side of what the OpenStack API needed: a resize that awaits confirmation
(`resize_pending`, the confirm_resize and revert_resize actions, any other action confirming
it), server metadata (on create, replaced by a PATCH, refused past Nova's limits naming the
field) and subnet delete (409 while ports hold its addresses). On the real stack."""
from __future__ import annotations

import pytest

from tests.integration.helpers import act, active_server, instances_named, jobs_failing, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def _flavor(stack, name: str, cpu: int, ram: int) -> dict:
    response = stack.client.post("/api/v1/flavors", json={"name": name, "cpu": cpu, "ram": ram, "disk": 10},
                                 headers=stack.admin_headers)
    if response.status_code == 201:
        return response.json
    return next(f for f in stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json if f["name"] == name)


def _stopped(stack, headers, name: str, flavor_id: int) -> dict:
    server = active_server(stack, headers=headers, name=name, flavor_id=flavor_id)
    assert wait_operation(stack, act(stack, server["id"], headers, action="shutdown").json["id"])["status"] == "SUCCEEDED"
    return server


def _resized(stack, headers, server_id: int, flavor_id: int) -> dict:
    response = act(stack, server_id, headers, action="resize", flavor_id=flavor_id)
    assert response.status_code == 202, response.json
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    return stack.server(server_id)


def test_a_resize_awaits_confirmation_and_confirm_keeps_it(stack):
    alice = user_headers(stack, "resize-confirm")
    small, big = _flavor(stack, "c1r1024d10", 1, 1024), _flavor(stack, "c2r2048d10", 2, 2048)
    server = _stopped(stack, alice, "confirm-me", small["id"])
    assert stack.server(server["id"])["resize_pending"] is None
    after = _resized(stack, alice, server["id"], big["id"])
    assert (after["status"], after["flavor_id"], after["resize_pending"]) == \
        ("STOPPED", big["id"], {"from_flavor_id": small["id"]})

    confirmed = act(stack, server["id"], alice, action="confirm_resize")
    assert confirmed.status_code == 202, confirmed.json
    assert (confirmed.json["kind"], confirmed.json["status"]) == ("confirm_resize", "SUCCEEDED")
    after = stack.server(server["id"])
    assert (after["flavor_id"], after["resize_pending"]) == (big["id"], None)
    again = act(stack, server["id"], alice, action="confirm_resize")
    assert again.status_code == 409 and "no resize awaits confirmation" in again.json["message"]
    assert act(stack, server["id"], alice, action="revert_resize").status_code == 409


def test_revert_resizes_back_on_the_cluster_and_a_failed_revert_still_waits(stack):
    alice = user_headers(stack, "resize-revert")
    small, big = _flavor(stack, "c1r1024d10", 1, 1024), _flavor(stack, "c2r2048d10", 2, 2048)
    server = _stopped(stack, alice, "revert-me", small["id"])
    _resized(stack, alice, server["id"], big["id"])
    name = f"snf-{server['id']}"
    assert instances_named(stack, name)[0]["beparams"]["maxmem"] == big["ram"]

    with jobs_failing(stack):
        failed = act(stack, server["id"], alice, action="revert_resize")
        assert failed.status_code == 202, failed.json
        assert wait_operation(stack, failed.json["id"])["status"] == "FAILED"
    after = stack.server(server["id"])
    assert (after["flavor_id"], after["resize_pending"]) == (big["id"], {"from_flavor_id": small["id"]})

    reverted = act(stack, server["id"], alice, action="revert_resize")
    assert reverted.status_code == 202 and reverted.json["kind"] == "resize"
    assert stack.server(server["id"])["status"] == "RESIZE"
    assert wait_operation(stack, reverted.json["id"])["status"] == "SUCCEEDED"
    after = stack.server(server["id"])
    assert (after["status"], after["flavor_id"], after["resize_pending"]) == ("STOPPED", small["id"], None)
    beparams = instances_named(stack, name)[0]["beparams"]
    assert (beparams["maxmem"], beparams["vcpus"]) == (small["ram"], small["cpu"])
    quota = stack.client.get("/api/v1/quotas?user_id=resize-revert", headers=stack.admin_headers).json["quotas"]
    assert quota["cyclades.total_ram"]["usage"] == small["ram"] and quota["cyclades.total_cpu"]["usage"] == small["cpu"]


def test_any_other_action_confirms_a_waiting_resize(stack):
    alice = user_headers(stack, "resize-implicit")
    small, big = _flavor(stack, "c1r1024d10", 1, 1024), _flavor(stack, "c2r2048d10", 2, 2048)
    server = _stopped(stack, alice, "start-me", small["id"])
    _resized(stack, alice, server["id"], big["id"])
    started = act(stack, server["id"], alice, action="start")
    assert started.status_code == 202
    assert stack.server(server["id"])["resize_pending"] is None
    assert wait_operation(stack, started.json["id"])["status"] == "SUCCEEDED"
    after = stack.server(server["id"])
    assert (after["status"], after["flavor_id"], after["resize_pending"]) == ("ACTIVE", big["id"], None)


def test_server_metadata_on_create_replaced_and_refused_past_the_limits(stack):
    alice = user_headers(stack, "meta-alice")
    status, created = stack.create_server(headers=alice, name="meta", metadata={"role": "db", "tier": "1"})
    assert status == 202, created
    assert created["metadata"] == {"role": "db", "tier": "1"}
    assert stack.client.get(f"/api/v1/servers/{created['id']}", headers=alice).json["metadata"] == \
        {"role": "db", "tier": "1"}
    patched = stack.client.patch(f"/api/v1/servers/{created['id']}", json={"metadata": {"role": "web"}}, headers=alice)
    assert patched.status_code == 200 and patched.json["metadata"] == {"role": "web"}

    for metadata, status in (({"k" * 256: "v"}, 422), ({"k": "v" * 256}, 422), ({"": "v"}, 422),
                             ({"k": "line\nbreak"}, 422), ({"k": 1}, 422), ("text", 422),
                             ({f"k{i}": "v" for i in range(129)}, 403)):
        refused = stack.client.patch(f"/api/v1/servers/{created['id']}", json={"metadata": metadata}, headers=alice)
        assert refused.status_code == status, (metadata, refused.json)
        assert "metadata" in refused.json["message"] or "metadata" in str(refused.json.get("errors")), refused.json
        refused = stack.client.post("/api/v1/servers", headers=alice, json={
            "name": "meta-refused", "flavor_id": 1, "image_id": 1, "metadata": metadata})
        assert refused.status_code == status, (metadata, refused.json)
    assert stack.server(created["id"])["metadata"] == {"role": "web"}
    assert [s["name"] for s in stack.client.get("/api/v1/servers", headers=alice).json["servers"]] == ["meta"]


def test_subnet_delete_is_refused_while_ports_hold_its_addresses(stack):
    alice = user_headers(stack, "subnet-alice")
    net = stack.client.post("/api/v1/networks", json={"name": "sub-net"}, headers=alice).json
    subnet = stack.client.post("/api/v1/subnets", json={"network_id": net["id"], "cidr": "10.40.0.0/29"},
                               headers=alice).json
    port = stack.client.post("/api/v1/ports", json={"network_id": net["id"]}, headers=alice).json
    busy = stack.client.delete(f"/api/v1/subnets/{subnet['id']}", headers=alice)
    assert busy.status_code == 409 and "One or more ports have an IP allocation" in busy.json["message"]
    bob = user_headers(stack, "subnet-bob")
    assert stack.client.delete(f"/api/v1/subnets/{subnet['id']}", headers=bob).status_code == 404
    assert stack.client.delete(f"/api/v1/ports/{port['id']}", headers=alice).status_code in (200, 204)
    deleted = stack.client.delete(f"/api/v1/subnets/{subnet['id']}", headers=alice)
    assert deleted.status_code == 200, deleted.json
    assert stack.client.get(f"/api/v1/subnets/{subnet['id']}", headers=alice).status_code == 404
    assert stack.client.get(f"/api/v1/networks/{net['id']}", headers=alice).json["subnets"] == []
    assert stack.client.delete(f"/api/v1/subnets/{subnet['id']}", headers=alice).status_code == 404
