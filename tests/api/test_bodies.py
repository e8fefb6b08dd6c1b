"""Request bodies as the spec describes them (what schemathesis's coverage phase found):
a body the spec requires is required, it is JSON, and its booleans are JSON's."""
from __future__ import annotations

import pytest

from tests.integration.helpers import user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


@pytest.fixture
def own_server(stack):
    headers = user_headers(stack, "bodies")
    status, created = stack.create_server(headers=headers, name="bodies")
    assert status == 202, created
    stack.wait_status(created["id"], {"ACTIVE"})
    return headers, created["id"]


def _error(response, code: int) -> dict:
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    body = response.json
    assert body["code"] == code and body["status"] and body["message"]
    return body


def test_a_patch_without_a_body_is_a_422_and_changes_nothing(api, stack, own_server):
    headers, server_id = own_server
    body = _error(api.patch(f"/api/v1/servers/{server_id}", headers=headers), 422)
    assert "JSON body is required" in body["message"]
    assert api.get(f"/api/v1/servers/{server_id}", headers=headers).json["name"] == "bodies"
    _error(api.patch("/api/v1/backends/1", headers=stack.admin_headers), 422)
    _error(api.post("/api/v1/servers", headers=headers), 422)


def test_a_body_that_is_not_json_is_a_415(api, stack, own_server):
    headers, server_id = own_server
    response = api.patch(f"/api/v1/servers/{server_id}", data='{"name": "renamed"}',
                         headers={**headers, "Content-Type": "text/plain"})
    _error(response, 415)
    assert api.get(f"/api/v1/servers/{server_id}", headers=headers).json["name"] == "bodies"
    # A JSON body still is one, whatever its parameters say.
    response = api.patch(f"/api/v1/servers/{server_id}", data='{"name": "renamed"}',
                         headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200 and response.json["name"] == "renamed"


@pytest.fixture(scope="module")
def own_flavor(stack):
    """A flavor of this module's: a boolean taken for `true` would delete it, not flavor 1 under
    the other tests."""
    response = stack.client.post("/api/v1/flavors", json={"cpu": 3, "ram": 1536, "disk": 7, "name": "bodies"},
                                 headers=stack.admin_headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["id"]


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_booleans_in_a_body_are_true_or_false(api, stack, own_flavor, value):
    user = user_headers(stack, "bodies")
    response = api.post("/api/v1/images", json={"name": "b", "location": "b.img", "public": value}, headers=user)
    assert "public" in str(_error(response, 422)["errors"])
    response = api.patch(f"/api/v1/flavors/{own_flavor}", json={"deleted": value}, headers=stack.admin_headers)
    assert "deleted" in str(_error(response, 422)["errors"])
    assert api.get(f"/api/v1/flavors/{own_flavor}", headers=user).json["deleted"] is False


def test_booleans_in_a_query_string_are_still_words(api, stack):
    user = user_headers(stack, "bodies")
    assert api.get("/api/v1/flavors", query_string={"deleted": "false"}, headers=user).status_code == 200
    assert api.get("/api/v1/backends", query_string={"drained": "true"}, headers=stack.admin_headers).status_code == 200
