"""Backends through the API: added after one /2/info call, drained by default, modified,
removed only when no live server is on them, and never showing their credentials."""
from __future__ import annotations

import socket

import pytest

from tests.api.conftest import SECRETS
from tests.integration.helpers import user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

EXTRA_PASSWORD = "extra-cluster-secret"


@pytest.fixture(scope="module")
def extra_cluster():
    """A third simulated cluster, not registered by the demo seed."""
    from ganeti_sim import SimFleet

    fleet = SimFleet(clusters=1, base_port=0, host="127.0.0.1", job_duration=0.3, user="rapi",
                     password=EXTRA_PASSWORD, name_format="extra{n}.sim.local")
    fleet.start()
    yield fleet.clusters[0]
    fleet.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _body(cluster, **extra):
    return {"host": "127.0.0.1", "port": cluster.port, "scheme": "http", "username": "rapi",
            "password": EXTRA_PASSWORD, "verify_tls": False, **extra}


def _backend_count(api, stack) -> int:
    return len(api.get("/api/v1/backends", headers=stack.admin_headers).json)


@pytest.fixture
def added(api, stack, extra_cluster):
    response = api.post("/api/v1/backends", json=_body(extra_cluster), headers=stack.admin_headers)
    assert response.status_code == 201, response.json
    backend = response.json
    # The public networks other tests left on the stack are put on it first.
    for op_id in _network_operations(stack, backend["id"]):
        assert wait_operation(stack, op_id, timeout=60)["status"] == "SUCCEEDED"
    yield backend
    # Never leave an undrained extra backend behind for other tests' allocations.
    api.patch(f"/api/v1/backends/{backend['id']}", json={"drained": True}, headers=stack.admin_headers)
    for op_id in _network_operations(stack, backend["id"]):
        wait_operation(stack, op_id, timeout=60)
    api.delete(f"/api/v1/backends/{backend['id']}", headers=stack.admin_headers)


def _network_operations(stack, backend_id: int) -> list[int]:
    from orchestrator.models import Operation

    with stack.session() as session:
        return [op.id for op in session.query(Operation).filter(Operation.backend_id == backend_id,
                                                                Operation.network_id.is_not(None))]


def test_add_checks_the_cluster_and_is_drained_by_default(api, stack, added, extra_cluster):
    assert added["clustername"] == "extra1.sim.local"  # from /2/info
    assert added["drained"] is True and added["offline"] is False
    assert "plain" in added["disk_templates"]
    assert "password" not in added and "username" not in added
    again = api.post("/api/v1/backends", json=_body(extra_cluster, clustername="other"), headers=stack.admin_headers)
    assert again.status_code == 409 and "already reaches" in again.json["message"]

    shown = api.get(f"/api/v1/backends/{added['id']}", headers=stack.admin_headers)
    assert shown.status_code == 200 and shown.headers["ETag"]
    assert not set(shown.json) & {"password", "username"}
    cached = api.get(f"/api/v1/backends/{added['id']}",
                     headers={**stack.admin_headers, "If-None-Match": shown.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""


def test_add_refuses_bad_credentials_and_silent_clusters(api, stack, extra_cluster):
    before = _backend_count(api, stack)
    wrong = api.post("/api/v1/backends", json=_body(extra_cluster, password="wrong-password-123"),
                     headers=stack.admin_headers)
    assert wrong.status_code == 422, wrong.json
    assert "rejected the RAPI credentials" in wrong.json["message"]
    assert wrong.json["errors"]["json"]["password"]
    silent = api.post("/api/v1/backends", json={**_body(extra_cluster), "port": closed_port()},
                      headers=stack.admin_headers)
    assert silent.status_code == 422 and "does not answer" in silent.json["message"], silent.json
    bad_host = api.post("/api/v1/backends", json=_body(extra_cluster, host="no such host!"),
                        headers=stack.admin_headers)
    assert bad_host.status_code == 422 and "host" in bad_host.json["message"]
    missing = api.post("/api/v1/backends", json={"host": "127.0.0.1"}, headers=stack.admin_headers)
    assert missing.status_code == 422 and "username" in missing.json["message"]
    assert _backend_count(api, stack) == before
    for response in (wrong, silent):
        assert not any(secret in response.get_data(as_text=True) for secret in SECRETS)


def test_modify_drained_offline_templates_and_credentials(api, stack, added, extra_cluster):
    url = f"/api/v1/backends/{added['id']}"
    h = stack.admin_headers
    changed = api.patch(url, json={"drained": False, "disk_templates": ["plain", "drbd"]}, headers=h)
    assert changed.status_code == 200, changed.json
    assert (changed.json["drained"], changed.json["disk_templates"]) == (False, ["plain", "drbd"])
    offline = api.patch(url, json={"offline": True}, headers=h).json
    assert offline["offline"] is True and "administrator" in offline["offline_reason"]
    online = api.patch(url, json={"offline": False, "drained": True}, headers=h).json
    assert (online["offline"], online["offline_reason"], online["drained"]) == (False, None, True)

    wrong = api.patch(url, json={"password": "wrong-password-123"}, headers=h)
    assert wrong.status_code == 422 and "rejected the RAPI credentials" in wrong.json["message"]
    refreshed = api.post(f"{url}/refresh", headers=h)  # the stored credentials still work
    assert refreshed.status_code == 200, refreshed.json
    # a refresh reads what the cluster enables and keeps the operator's restriction
    assert refreshed.json["disk_templates"] == ["plain", "drbd"]
    assert set(refreshed.json["cluster_disk_templates"]) == {"drbd", "plain", "file", "diskless"}
    silent = api.patch(url, json={"port": closed_port()}, headers=h)
    assert silent.status_code == 422 and "does not answer" in silent.json["message"]
    same = api.patch(url, json={"username": "rapi", "password": EXTRA_PASSWORD}, headers=h)
    assert same.status_code == 200
    bogus = api.patch(url, json={"disk_templates": ["floppy"]}, headers=h)
    assert bogus.status_code == 422
    assert api.patch("/api/v1/backends/999999", json={"drained": True}, headers=h).status_code == 404


def test_remove_is_refused_while_a_server_lives_on_it(api, stack, added):
    h = stack.admin_headers
    url = f"/api/v1/backends/{added['id']}"
    created = api.post("/api/v1/servers", json={"name": "on-extra", "flavor_id": 1, "image_id": 1,
                                                  "backend_id": added["id"]}, headers=h)
    assert created.status_code == 202, created.json
    server = stack.wait_status(created.json["id"], {"ACTIVE", "ERROR"})
    assert (server["status"], server["backend_id"]) == ("ACTIVE", added["id"])

    refused = api.delete(url, headers=h)
    assert refused.status_code == 409 and "1 server(s)" in refused.json["message"]
    destroy = api.delete(f"/api/v1/servers/{server['id']}", headers=h)
    assert wait_operation(stack, destroy.json["id"])["status"] == "SUCCEEDED"
    assert api.delete(url, headers=h).status_code == 204
    assert api.get(url, headers=h).status_code == 404
    # The deleted server keeps its row; it no longer names the removed backend.
    assert stack.server(server["id"])["status"] == "DELETED"


def test_users_see_no_backend(api, stack):
    user = user_headers(stack, "backend-peeker")
    assert api.get("/api/v1/backends", headers=user).status_code == 403
    assert api.get("/api/v1/backends/1", headers=user).status_code == 403
    assert api.post("/api/v1/backends/1/refresh", headers=user).status_code == 403
    assert api.patch("/api/v1/backends/1", json={"drained": True}, headers=user).status_code == 403
    assert api.delete("/api/v1/backends/1", headers=user).status_code == 403
    listed = api.get("/api/v1/backends", headers=stack.admin_headers)
    assert listed.status_code == 200 and all("password" not in b for b in listed.json)


def test_a_backend_added_gets_the_public_networks_before_it_can_be_undrained(api, stack, extra_cluster):
    import requests


    public = api.post("/api/v1/networks", headers=stack.admin_headers, json={
        "name": "pub-for-new", "type": "CUSTOM", "shared": True, "cidr": "203.0.120.0/24"})
    assert public.status_code == 202, public.json
    for op in public.json["operations"]:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    response = api.post("/api/v1/backends", json=_body(extra_cluster, drained=False), headers=stack.admin_headers)
    assert response.status_code == 201, response.json
    backend = response.json
    try:
        assert backend["drained"] is True  # asked undrained, added drained: it has networks to get first
        placed = _network_operations(stack, backend["id"])
        assert placed, "no network_create operation for the new backend"
        refused = api.patch(f"/api/v1/backends/{backend['id']}", json={"drained": False}, headers=stack.admin_headers)
        # Its jobs take 0.3 s each on the simulator: the network is not ACTIVE there yet.
        assert refused.status_code == 409 and "drained" in refused.json["errors"]["json"], refused.json
        named = refused.json["message"].split("public network(s) ", 1)[1].split(" are ", 1)[0].split(", ")
        assert str(public.json["id"]) in named, refused.json
        assert {wait_operation(stack, op_id, timeout=60)["status"] for op_id in placed} == {"SUCCEEDED"}
        name = f"{stack.ctx.settings.backend_prefix_id}net-{public.json['id']}"
        found = requests.get(f"{extra_cluster.url}/2/networks/{name}", auth=("rapi", EXTRA_PASSWORD), timeout=5)
        assert found.status_code == 200 and [g[0] for g in found.json()["group_list"]] == ["default"]
        shown = api.get(f"/api/v1/networks/{public.json['id']}", headers=stack.admin_headers).json
        assert backend["id"] in [b["backend_id"] for b in shown["backends"] if b["status"] == "ACTIVE"]
        undrained = api.patch(f"/api/v1/backends/{backend['id']}", json={"drained": False},
                              headers=stack.admin_headers)
        assert undrained.status_code == 200 and undrained.json["drained"] is False, undrained.json
    finally:
        api.patch(f"/api/v1/backends/{backend['id']}", json={"drained": True}, headers=stack.admin_headers)
        for op_id in _network_operations(stack, backend["id"]):
            wait_operation(stack, op_id, timeout=60)
        assert api.delete(f"/api/v1/backends/{backend['id']}", headers=stack.admin_headers).status_code == 204
    shown = api.get(f"/api/v1/networks/{public.json['id']}", headers=stack.admin_headers).json
    assert shown["status"] == "ACTIVE" and backend["id"] not in [b["backend_id"] for b in shown["backends"]]
    removed = api.delete(f"/api/v1/networks/{public.json['id']}", headers=stack.admin_headers)
    for op in removed.json["operations"]:
        if op["kind"] == "network_remove":
            assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
