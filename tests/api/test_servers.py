"""Servers through the API: filtered, paginated lists, ETags, modify, inspect and import."""
from __future__ import annotations

import pytest
import requests

from tests.integration.helpers import RAPI_AUTH, act, active_server, user_headers, wait_operation

pytestmark = pytest.mark.integration
SQLITE = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def _page(api, headers, **query):
    response = api.get("/api/v1/servers", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


@SQLITE
def test_list_filters_and_cursor_pagination(api, stack):
    pager = user_headers(stack, "pager")
    ids = []
    for i in range(3):
        status, created = stack.create_server(headers=pager, name=f"page-{i}", flavor_id=2 if i == 2 else 1)
        assert status == 202, created
        ids.append(created["id"])
    for sid in ids:
        stack.wait_status(sid, {"ACTIVE"})

    first = _page(api, pager, limit=2)
    assert [s["id"] for s in first["servers"]] == ids[:2] and first["next"]
    second = _page(api, pager, limit=2, cursor=first["next"])
    assert [s["id"] for s in second["servers"]] == ids[2:] and second["next"] is None
    assert [s["id"] for s in _page(api, pager)["servers"]] == ids

    assert [s["id"] for s in _page(api, pager, name="page-1")["servers"]] == [ids[1]]
    assert [s["id"] for s in _page(api, pager, flavor_id=2)["servers"]] == [ids[2]]
    assert [s["id"] for s in _page(api, pager, status="ACTIVE")["servers"]] == ids
    assert _page(api, pager, status="STOPPED")["servers"] == []
    backend = stack.server(ids[0])["backend_id"]
    assert ids[0] in [s["id"] for s in _page(api, pager, backend_id=backend)["servers"]]
    admin_view = _page(api, stack.admin_headers, user_id="pager")["servers"]
    assert [s["id"] for s in admin_view] == ids
    # A user's user_id filter never widens the view beyond their own servers.
    assert _page(api, pager, user_id="someone-else")["servers"] == []

    bad = api.get("/api/v1/servers", query_string={"cursor": "not-a-cursor"}, headers=pager)
    assert bad.status_code == 422 and "cursor" in bad.json["message"]
    assert api.get("/api/v1/servers", query_string={"status": "FLYING"}, headers=pager).status_code == 422

    destroy = api.delete(f"/api/v1/servers/{ids[0]}", headers=pager)
    assert wait_operation(stack, destroy.json["id"])["status"] == "SUCCEEDED"
    assert ids[0] not in [s["id"] for s in _page(api, pager)["servers"]]
    assert ids[0] in [s["id"] for s in _page(api, pager, status="DELETED")["servers"]]
    assert ids[0] in [s["id"] for s in _page(api, pager, deleted="true")["servers"]]


@SQLITE
def test_etag_on_server_and_operation(api, stack):
    server = active_server(stack, name="etagged")
    url = f"/api/v1/servers/{server['id']}"
    first = api.get(url, headers=stack.admin_headers)
    etag = first.headers["ETag"]
    assert api.get(url, headers={**stack.admin_headers, "If-None-Match": etag}).status_code == 304
    api.patch(url, json={"name": "etagged-renamed"}, headers=stack.admin_headers)
    changed = api.get(url, headers={**stack.admin_headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag

    op_url = f"/api/v1/operations/{server['operation']['id']}"
    op_etag = api.get(op_url, headers=stack.admin_headers).headers["ETag"]
    assert api.get(op_url, headers={**stack.admin_headers, "If-None-Match": op_etag}).status_code == 304


@SQLITE
def test_modify_rename_and_suspend(api, stack):
    owner = user_headers(stack, "modifier")
    server = active_server(stack, headers=owner, name="before")
    url = f"/api/v1/servers/{server['id']}"
    renamed = api.patch(url, json={"name": "after"}, headers=owner)
    assert renamed.status_code == 200 and renamed.json["name"] == "after"
    refused = api.patch(url, json={"suspended": True}, headers=owner)
    assert refused.status_code == 403

    suspended = api.patch(url, json={"suspended": True}, headers=stack.admin_headers)
    assert suspended.status_code == 200 and suspended.json["suspended"] is True
    assert act(stack, server["id"], owner, action="shutdown").status_code == 409
    assert api.patch(url, json={"name": "again"}, headers=owner).status_code == 409
    ops = api.get("/api/v1/operations", query_string={"server_id": server["id"], "kind": "suspend"},
                  headers=stack.admin_headers).json
    assert len(ops) == 1 and ops[0]["status"] == "SUCCEEDED"
    assert api.patch(url, json={"suspended": False}, headers=stack.admin_headers).json["suspended"] is False
    assert api.patch(url, json={"name": ""}, headers=owner).status_code == 422


@SQLITE
def test_inspect_shows_the_row_the_live_instance_and_its_jobs(api, stack):
    server = active_server(stack, name="inspected")
    response = api.get(f"/api/v1/servers/{server['id']}/inspect", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    report = response.json
    name = f"snf-{server['id']}"
    assert report["instance_name"] == name and report["server"]["id"] == server["id"]
    assert report["instance"]["name"] == name and report["instance"]["status"] == "running"
    assert report["backend"]["id"] == server["backend_id"] and report["cluster_error"] is None
    assert report["jobs"] and report["jobs"][0]["status"] == "success"
    assert any("INSTANCE_CREATE" in s for s in report["jobs"][-1]["summary"])
    assert report["operations"][0]["kind"] == "create"
    user = user_headers(stack, "nosy")
    assert api.get(f"/api/v1/servers/{server['id']}/inspect", headers=user).status_code == 403
    assert api.get("/api/v1/servers/999999/inspect", headers=stack.admin_headers).status_code == 404


def _sim_instance(stack, cluster_index: int, **body) -> dict:
    cluster = stack.sim.clusters[cluster_index]
    response = requests.post(f"{cluster.url}/sim/instances", json=body, auth=RAPI_AUTH, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def _free_id(stack) -> int:
    with stack.session() as session:
        from sqlalchemy import func, select

        from orchestrator.models import Server

        return (session.scalar(select(func.max(Server.id))) or 0) + 1000


@pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)
def test_import_an_existing_instance(api, stack):
    h = stack.admin_headers
    sid = _free_id(stack)
    name = f"snf-{sid}"
    # c1r1024d10: 1 vCPU, 1024 MiB, 10 GiB plain
    _sim_instance(stack, 1, name=name, memory=1024, vcpus=1, disks=[10240], disk_template="plain", running=True)
    backend_id = 2

    imported = api.post("/api/v1/servers/import", json={"backend_id": backend_id, "instance_name": name,
                                                          "user_id": "importee", "image_id": 1}, headers=h)
    assert imported.status_code == 201, imported.json
    server = imported.json
    assert (server["id"], server["user_id"], server["status"], server["flavor_id"], server["backend_id"]) == \
        (sid, "importee", "ACTIVE", 1, backend_id)
    assert server["nics"] and server["nics"][0]["mac"]
    again = api.post("/api/v1/servers/import", json={"backend_id": backend_id, "instance_name": name,
                                                       "user_id": "importee", "image_id": 1}, headers=h)
    assert again.status_code == 409

    # The imported server is driven like any other: a shutdown goes through the chain.
    op = act(stack, sid, action="shutdown")
    assert op.status_code == 202, op.json
    assert wait_operation(stack, op.json["id"])["status"] == "SUCCEEDED"
    assert stack.server(sid)["status"] == "STOPPED"
    # ...and servers created after it still get fresh ids (PostgreSQL's sequence moved on).
    status, created = stack.create_server(name="after-import")
    assert status == 202 and created["id"] > sid
    stack.wait_status(created["id"], {"ACTIVE"})


@SQLITE
def test_import_refusals(api, stack):
    h = stack.admin_headers
    _sim_instance(stack, 0, name="legacy-web", memory=1024, vcpus=1, disks=[10240])
    other = api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": "legacy-web",
                                                       "user_id": "u", "image_id": 1}, headers=h)
    assert other.status_code == 422 and "gnt-instance rename legacy-web snf-" in other.json["message"]

    sid = _free_id(stack)
    _sim_instance(stack, 0, name=f"snf-{sid}", memory=777, vcpus=3, disks=[10240])
    nomatch = api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": f"snf-{sid}",
                                                         "user_id": "u", "image_id": 1}, headers=h)
    assert nomatch.status_code == 422 and "no flavor matches" in nomatch.json["message"]
    wrong = api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": f"snf-{sid}",
                                                       "user_id": "u", "image_id": 1, "flavor_id": 1}, headers=h)
    assert wrong.status_code == 422 and "does not match" in wrong.json["message"]
    absent = api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": f"snf-{sid + 1}",
                                                        "user_id": "u", "image_id": 1}, headers=h)
    assert absent.status_code == 422 and "does not exist" in absent.json["message"]
    no_backend = api.post("/api/v1/servers/import", json={"backend_id": 99999, "instance_name": f"snf-{sid}",
                                                            "user_id": "u"}, headers=h)
    assert no_backend.status_code == 422
    user = user_headers(stack, "importer")
    assert api.post("/api/v1/servers/import", json={"backend_id": 1, "instance_name": f"snf-{sid}",
                                                      "user_id": "u"}, headers=user).status_code == 403
    for cluster, name in ((0, "legacy-web"), (0, f"snf-{sid}")):
        requests.delete(f"{stack.sim.clusters[cluster].url}/sim/instances/{name}", auth=RAPI_AUTH, timeout=5)


@SQLITE
def test_operations_list_filters(api, stack):
    owner = user_headers(stack, "op-filter")
    server = active_server(stack, headers=owner, name="op-filtered")
    mine = api.get("/api/v1/operations", query_string={"server_id": server["id"]}, headers=owner).json
    assert [o["kind"] for o in mine] == ["create"]
    by_user = api.get("/api/v1/operations", query_string={"user_id": "op-filter", "kind": "create"},
                      headers=stack.admin_headers).json
    assert [o["id"] for o in by_user] == [mine[0]["id"]]
    assert api.get("/api/v1/operations", query_string={"user_id": "op-filter"},
                   headers=user_headers(stack, "op-other")).json == []
    assert api.get("/api/v1/operations", query_string={"status": "DONE"}, headers=owner).status_code == 422
