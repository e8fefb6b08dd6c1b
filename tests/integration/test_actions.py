"""Every server action through the API, a real worker and the simulated clusters."""
from __future__ import annotations

import pytest

from tests.integration.helpers import act, active_server, instances_named, user_headers, wait_operation

pytestmark = pytest.mark.integration


def test_shutdown_start_reboot_follow_ganeti(stack):
    server = active_server(stack, name="cycle")
    name = f"snf-{server['id']}"

    response = act(stack, server["id"], action="shutdown")
    assert response.status_code == 202, response.json
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "STOPPED"
    assert instances_named(stack, name)[0]["status"] == "ADMIN_down"

    response = act(stack, server["id"], action="start")
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "ACTIVE"
    assert instances_named(stack, name)[0]["status"] == "running"

    response = act(stack, server["id"], action="reboot", type="hard")
    assert response.status_code == 202
    assert stack.server(server["id"])["status"] == "REBOOT"
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "ACTIVE"


def test_resize_changes_memory_and_cpus_on_the_cluster(stack):
    server = active_server(stack, name="grow", flavor_id=1)
    assert wait_operation(stack, act(stack, server["id"], action="shutdown").json["id"])["status"] == "SUCCEEDED"

    # c1r1024d10 -> a flavor with the same disk and template but more CPU and memory
    response = stack.client.post("/api/v1/flavors", json={"name": "c2r2048d10", "cpu": 2, "ram": 2048, "disk": 10},
                                 headers=stack.admin_headers)
    flavor_id = response.json["id"] if response.status_code == 201 else next(
        f["id"] for f in stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json
        if f["name"] == "c2r2048d10")
    response = act(stack, server["id"], action="resize", flavor_id=flavor_id)
    assert response.status_code == 202, response.json
    assert stack.server(server["id"])["status"] == "RESIZE"
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    after = stack.server(server["id"])
    assert (after["status"], after["flavor_id"]) == ("STOPPED", flavor_id)
    beparams = instances_named(stack, f"snf-{server['id']}")[0]["beparams"]
    assert (beparams["maxmem"], beparams["vcpus"]) == (2048, 2)


def test_resize_of_a_running_server_is_refused(stack):
    server = active_server(stack, name="hot")
    response = act(stack, server["id"], action="resize", flavor_id=2)
    assert response.status_code == 409
    assert "STARTED" in response.json["message"]


def test_destroy_removes_the_instance(stack):
    server = active_server(stack, name="bye")
    response = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    assert wait_operation(stack, response.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "DELETED"
    assert instances_named(stack, f"snf-{server['id']}") == []
    again = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
    assert again.status_code == 409 and "deleted" in again.json["message"]


def test_second_action_in_flight_is_a_409_naming_it_and_destroy_supersedes(stack):
    server = active_server(stack, name="busy")
    first = act(stack, server["id"], action="reboot")
    assert first.status_code == 202
    second = act(stack, server["id"], action="shutdown")
    assert second.status_code == 409
    assert f"operation {first.json['id']}" in second.json["message"]

    destroy = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
    assert destroy.status_code == 202
    assert wait_operation(stack, destroy.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "DELETED"
    assert instances_named(stack, f"snf-{server['id']}") == []


def test_suspended_server_refuses_user_actions(stack):
    owner = user_headers(stack, "alice")
    server = active_server(stack, headers=owner, name="s")
    assert act(stack, server["id"], headers=owner, action="suspend").status_code == 403
    response = act(stack, server["id"], action="suspend")
    assert response.status_code == 202 and response.json["status"] == "SUCCEEDED"
    refused = act(stack, server["id"], headers=owner, action="shutdown")
    assert refused.status_code == 409 and "suspended" in refused.json["message"]
    assert act(stack, server["id"], action="unsuspend").status_code == 202
    assert act(stack, server["id"], headers=owner, action="shutdown").status_code == 202


def test_another_users_server_is_a_404(stack):
    server = active_server(stack, headers=user_headers(stack, "bob"), name="mine")
    other = user_headers(stack, "carol")
    assert stack.client.get(f"/api/v1/servers/{server['id']}", headers=other).status_code == 404
    assert act(stack, server["id"], headers=other, action="shutdown").status_code == 404


def test_bad_actions_name_the_field(stack):
    server = active_server(stack, name="picky")
    response = act(stack, server["id"], action="explode")
    assert response.status_code == 422 and "action" in response.json["message"]
    response = act(stack, server["id"], action="reboot", type="gentle")
    assert response.status_code == 422 and "type" in response.json["message"]
    response = act(stack, 999999, action="start")
    assert response.status_code == 404


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_server_whose_create_found_no_backend_can_only_be_destroyed(stack):
    """Every backend drained: the create fails at allocation (ERROR, on no backend); a start,
    a shutdown or a reboot of it is a 409 and writes nothing (a start's submit once crashed on
    the missing backend and left its operation in flight); a destroy ends it at once."""
    backends = stack.client.get("/api/v1/backends", headers=stack.admin_headers).json
    try:
        for backend in backends:
            drained = stack.client.patch(f"/api/v1/backends/{backend['id']}", json={"drained": True},
                                         headers=stack.admin_headers)
            assert drained.status_code == 200, drained.json
        status, created = stack.create_server(name="nowhere")
        assert status == 202, created
        assert wait_operation(stack, created["operation"]["id"])["status"] == "FAILED"
    finally:
        for backend in backends:
            stack.client.patch(f"/api/v1/backends/{backend['id']}", json={"drained": False}, headers=stack.admin_headers)
    server = stack.server(created["id"])
    assert server["status"] == "ERROR" and server["backend_id"] is None
    before = stack.client.get(f"/api/v1/operations?server_id={created['id']}", headers=stack.admin_headers).json
    for body in ({"action": "start"}, {"action": "shutdown"}, {"action": "reboot", "type": "soft"}):
        refused = act(stack, created["id"], **body)
        assert refused.status_code in (409,), (body, refused.json)
    after = stack.client.get(f"/api/v1/operations?server_id={created['id']}", headers=stack.admin_headers).json
    assert after == before
    destroy = stack.client.delete(f"/api/v1/servers/{created['id']}", headers=stack.admin_headers)
    assert destroy.status_code == 202 and destroy.json["status"] == "SUCCEEDED", destroy.json
