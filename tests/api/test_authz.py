"""Authorization: another user's things are a 404, backends are administrators' only, and
no response of any endpoint carries a RAPI password."""
from __future__ import annotations

import pytest

from tests.api import conftest
from tests.integration.helpers import active_server, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


@pytest.fixture
def alice_world(api, stack):
    alice = user_headers(stack, "alice")
    server = active_server(stack, headers=alice, name="alice-vm")
    image = api.post("/api/v1/images", json={"name": "alice-img", "location": "a.diskdump"}, headers=alice).json
    return alice, server, image


def test_every_user_endpoint_with_another_users_token_is_a_404(api, stack, alice_world):
    alice, server, image = alice_world
    bob = user_headers(stack, "bob")
    sid, op_id = server["id"], server["operation"]["id"]
    calls = [
        ("GET", f"/api/v1/servers/{sid}", None),
        ("PATCH", f"/api/v1/servers/{sid}", {"name": "pwned"}),
        ("DELETE", f"/api/v1/servers/{sid}", None),
        ("POST", f"/api/v1/servers/{sid}/actions", {"action": "shutdown"}),
        ("POST", f"/api/v1/servers/{sid}/actions", {"action": "reboot", "type": "hard"}),
        ("GET", f"/api/v1/servers/{sid}/events", None),
        ("GET", f"/api/v1/operations/{op_id}", None),
        ("POST", f"/api/v1/operations/{op_id}/retry", None),
        ("GET", f"/api/v1/images/{image['id']}", None),
        ("DELETE", f"/api/v1/images/{image['id']}", None),
    ]
    for method, path, body in calls:
        kwargs = {"json": body} if body is not None else {}
        response = api.open(method, path, headers=bob, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code, response.json)
        assert response.json["code"] == 404 and "not found" in response.json["message"]
        # ...exactly what a thing that does not exist answers
        missing = api.open(method, path.replace(str(sid), "999999").replace(str(op_id), "999999")
                           .replace(str(image["id"]), "999999"), headers=bob, **kwargs)
        assert missing.status_code == 404

    # Lists never show another user's things.
    assert sid not in [s["id"] for s in api.get("/api/v1/servers", headers=bob).json["servers"]]
    assert sid not in [s["id"] for s in api.get("/api/v1/servers?user_id=alice", headers=bob).json["servers"]]
    assert op_id not in [o["id"] for o in api.get("/api/v1/operations", headers=bob).json]
    assert image["id"] not in [i["id"] for i in api.get("/api/v1/images", headers=bob).json]
    # Nothing changed for alice.
    after = api.get(f"/api/v1/servers/{sid}", headers=alice).json
    assert (after["name"], after["status"]) == ("alice-vm", "ACTIVE")
    assert api.get(f"/api/v1/images/{image['id']}", headers=alice).status_code == 200


def test_users_learn_nothing_of_clusters_beyond_their_servers_record(api, stack, alice_world):
    alice, server, _ = alice_world
    for path in ("/api/v1/backends", "/api/v1/backends/1", f"/api/v1/servers/{server['id']}/inspect",
                 "/api/v1/reconciliation/runs"):
        assert api.get(path, headers=alice).status_code == 403, path
    assert api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": "snf-1", "user_id": "alice"},
                    headers=alice).status_code == 403
    record = api.get(f"/api/v1/servers/{server['id']}", headers=alice).json
    assert record["backend_id"] == server["backend_id"]
    text = str(record) + str(api.get("/api/v1/operations", headers=alice).json)
    for cluster in stack.sim.clusters:
        assert cluster.name not in text and str(cluster.port) not in text
    ops = api.get("/api/v1/operations", query_string={"backend_id": server["backend_id"]}, headers=alice).json
    assert ops and all(o["user_id"] == "alice" for o in ops)  # backend_id is an administrator's filter only


def test_no_response_of_any_endpoint_carries_a_rapi_password(api, stack, alice_world):
    """A session of calls covering every endpoint, as an administrator and as a user."""
    alice, server, image = alice_world
    start = len(conftest.RECORDED)
    admin = stack.admin_headers
    sid = server["id"]
    for headers in (admin, alice):
        for path in ("/openapi.json", "/docs", "/healthz", "/metrics", "/api/v1/backends", "/api/v1/backends/1",
                     "/api/v1/backends/2", "/api/v1/flavors", "/api/v1/flavors/1", "/api/v1/images",
                     f"/api/v1/images/{image['id']}", "/api/v1/servers", f"/api/v1/servers/{sid}",
                     f"/api/v1/servers/{sid}/inspect", f"/api/v1/servers/{sid}/events", "/api/v1/operations",
                     f"/api/v1/operations/{server['operation']['id']}", "/api/v1/reconciliation/runs"):
            api.get(path, headers=headers)
        api.post("/api/v1/backends/1/refresh", headers=headers)
        api.patch("/api/v1/backends/1", json={"drained": False}, headers=headers)
        api.post("/api/v1/backends", json={"host": "127.0.0.1", "port": stack.sim.clusters[0].port, "scheme": "http",
                                           "username": "rapi", "password": "rapi-secret"}, headers=headers)
        api.post("/api/v1/backends", json={"host": "127.0.0.1", "port": 1, "scheme": "http",
                                           "username": "rapi", "password": "rapi-secret"}, headers=headers)
        api.patch("/api/v1/backends/1", json={"password": "wrong-password-123"}, headers=headers)
        api.patch("/api/v1/backends/1", json={"password": "rapi-secret"}, headers=headers)
        api.delete("/api/v1/backends/1", headers=headers)
        api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": f"snf-{sid}", "user_id": "x"},
                 headers=headers)
    config = api.get("/" + server["config_url"].split("://", 1)[1].split("/", 1)[1])
    assert config.status_code == 200
    shutdown = api.post(f"/api/v1/servers/{sid}/actions", json={"action": "shutdown"}, headers=alice)
    wait_operation(stack, shutdown.json["id"])
    api.get(f"/api/v1/servers/{sid}/inspect", headers=admin)

    session = conftest.RECORDED[start:]
    assert len(session) >= 50 and {200, 202, 403, 409, 422} <= {r.status for r in session}
    assert not conftest.leaks(session), conftest.leaks(session)
    assert not conftest.leaks(), conftest.leaks()  # nor any response of the run so far
