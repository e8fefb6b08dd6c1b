"""Quotas end to end, through the API, against the real stack (workers, simulator over HTTP):
what a user sees of their limits and usage as servers and networks come and go, the 413
(overLimit) refusals, and the administrators' changes (docs/quotas.md)."""
from __future__ import annotations

from itertools import count

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import act, active_server, creates_failing, jobs_failing, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)]

_users = count()


def _user(stack, name: str) -> tuple[str, dict]:
    user_id = f"q-{name}-{stack.kind}-{next(_users)}"
    return user_id, user_headers(stack, user_id)


def quotas(stack, headers) -> dict:
    response = stack.client.get("/api/v1/quotas", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["quotas"]


def set_limits(stack, user_id: str, **limits) -> dict:
    body = {name.replace("__", "."): value for name, value in limits.items()}
    response = stack.client.patch(f"/api/v1/quotas/{user_id}", json=body, headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json["quotas"]


def usage(stack, headers, resource: str) -> int:
    return quotas(stack, headers)[resource]["usage"]


def test_servers_count_until_destroyed_and_the_next_create_is_refused(stack):
    user_id, headers = _user(stack, "vm")
    shown = set_limits(stack, user_id, **{"cyclades.vm": 2})
    assert shown["cyclades.vm"] == {"limit": 2, "usage": 0, "pending": 0, "default": False, "over": False}
    assert shown["cyclades.ram"]["limit"] is None and shown["cyclades.ram"]["default"] is True  # no limit
    first = active_server(stack, headers=headers, name="q1")
    status, _second = stack.create_server(headers=headers, name="q2")
    assert status == 202
    mine = quotas(stack, headers)
    # flavor 1: 1 CPU, 1024 MiB, 10 GiB
    assert {name: mine[name]["usage"] for name in mine} == {
        "cyclades.vm": 2, "cyclades.total_cpu": 2, "cyclades.cpu": 2, "cyclades.total_ram": 2048,
        "cyclades.ram": 2048, "cyclades.disk": 20, "cyclades.network.private": 0, "cyclades.floating_ip": 0}

    status, refused = stack.create_server(headers=headers, name="q3")
    assert status == 413, refused
    assert refused["status"] == "overLimit"
    assert (refused["resource"], refused["limit"], refused["usage"], refused["requested"]) == ("cyclades.vm", 2, 2, 1)
    assert "cyclades.vm" in refused["message"]
    names = [s["name"] for s in stack.client.get("/api/v1/servers", headers=headers).json["servers"]]
    assert sorted(names) == ["q1", "q2"]  # nothing written for the refused one

    gone = stack.client.delete(f"/api/v1/servers/{first['id']}", headers=headers)
    assert gone.status_code == 202, gone.json
    wait_for(lambda: usage(stack, headers, "cyclades.vm") == 1, 30, what="the destroyed server given back")
    assert usage(stack, headers, "cyclades.disk") == 10
    status, created = stack.create_server(headers=headers, name="q4")
    assert status == 202, created


def test_start_and_shutdown_move_the_started_resources(stack):
    user_id, headers = _user(stack, "cpu")
    set_limits(stack, user_id, **{"cyclades.cpu": 1})
    server = active_server(stack, headers=headers, name="c1")
    assert usage(stack, headers, "cyclades.cpu") == 1
    status, refused = stack.create_server(headers=headers, name="c2")  # a new server would be started
    assert status == 413 and refused["resource"] == "cyclades.cpu", refused

    op = act(stack, server["id"], headers=headers, action="shutdown").json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    mine = quotas(stack, headers)
    assert (mine["cyclades.cpu"]["usage"], mine["cyclades.ram"]["usage"]) == (0, 0)
    assert (mine["cyclades.total_cpu"]["usage"], mine["cyclades.vm"]["usage"]) == (1, 1)

    status, other = stack.create_server(headers=headers, name="c2")  # the CPU is free again
    assert status == 202, other
    stack.wait_status(other["id"], {"ACTIVE"})
    refused = act(stack, server["id"], headers=headers, action="start")
    assert refused.status_code == 413, refused.json
    assert (refused.json["resource"], refused.json["limit"], refused.json["usage"]) == ("cyclades.cpu", 1, 1)
    assert stack.server(server["id"])["status"] == "STOPPED"

    set_limits(stack, user_id, **{"cyclades.cpu": "unlimited"})
    started = act(stack, server["id"], headers=headers, action="start")
    assert started.status_code == 202, started.json
    assert quotas(stack, headers)["cyclades.cpu"]["pending"] == 1  # reserved while it runs
    assert wait_operation(stack, started.json["id"])["status"] == "SUCCEEDED"
    mine = quotas(stack, headers)
    assert (mine["cyclades.cpu"]["usage"], mine["cyclades.cpu"]["pending"]) == (2, 0)


def test_a_failed_start_gives_its_reservation_back(stack):
    user_id, headers = _user(stack, "fail")
    server = active_server(stack, headers=headers, name="f1")
    op = act(stack, server["id"], headers=headers, action="shutdown").json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    with jobs_failing(stack):
        op = act(stack, server["id"], headers=headers, action="start").json
        assert wait_operation(stack, op["id"])["status"] == "FAILED"
    mine = quotas(stack, headers)
    assert (mine["cyclades.cpu"]["usage"], mine["cyclades.cpu"]["pending"]) == (0, 0)
    # The retry reserves again, checked: over the limit it is refused; within it, it succeeds once.
    set_limits(stack, user_id, **{"cyclades.cpu": 0})
    refused = stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=headers)
    assert refused.status_code == 413 and refused.json["resource"] == "cyclades.cpu", refused.json
    set_limits(stack, user_id, **{"cyclades.cpu": None})  # back to the default: none
    retried = stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=headers)
    assert retried.status_code == 202, retried.json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    mine = quotas(stack, headers)
    assert (mine["cyclades.cpu"]["usage"], mine["cyclades.cpu"]["pending"]) == (1, 0)


def test_a_failed_create_holds_until_destroyed(stack):
    user_id, headers = _user(stack, "err")
    with creates_failing(stack):
        status, created = stack.create_server(headers=headers, name="e1")
        assert status == 202
        assert wait_operation(stack, created["operation"]["id"])["status"] == "FAILED"
    assert stack.server(created["id"])["status"] == "ERROR"
    assert usage(stack, headers, "cyclades.vm") == 1 and usage(stack, headers, "cyclades.cpu") == 1
    assert stack.client.delete(f"/api/v1/servers/{created['id']}", headers=headers).status_code == 202
    wait_for(lambda: usage(stack, headers, "cyclades.vm") == 0, 30, what="the ERROR server given back")
    assert all(q["usage"] == 0 and q["pending"] == 0 for q in quotas(stack, headers).values())


def test_resize_moves_the_deltas(stack):
    user_id, headers = _user(stack, "resize")
    flavor = stack.client.post("/api/v1/flavors", json={"cpu": 3, "ram": 1536, "disk": 10, "name": f"r-{user_id}"},
                               headers=stack.admin_headers)
    assert flavor.status_code == 201, flavor.json
    server = active_server(stack, headers=headers, name="r1")
    op = act(stack, server["id"], headers=headers, action="shutdown").json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    set_limits(stack, user_id, **{"cyclades.total_cpu": 2})
    refused = act(stack, server["id"], headers=headers, action="resize", flavor_id=flavor.json["id"])
    assert refused.status_code == 413, refused.json
    assert (refused.json["resource"], refused.json["limit"], refused.json["usage"], refused.json["requested"]) == (
        "cyclades.total_cpu", 2, 1, 2)
    set_limits(stack, user_id, **{"cyclades.total_cpu": 3})
    op = act(stack, server["id"], headers=headers, action="resize", flavor_id=flavor.json["id"]).json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    mine = quotas(stack, headers)
    assert (mine["cyclades.total_cpu"]["usage"], mine["cyclades.total_ram"]["usage"]) == (3, 1536)
    assert (mine["cyclades.cpu"]["usage"], mine["cyclades.total_cpu"]["pending"]) == (0, 0)  # still stopped


def test_limits_bad_input_and_a_limit_below_usage(stack):
    user_id, headers = _user(stack, "bad")
    active_server(stack, headers=headers, name="b1")
    for body, field in (({"cyclades.vm": -1}, "cyclades.vm"), ({"cyclades.ram": -5}, "cyclades.ram"),
                        ({"cyclades.vm": "lots"}, "cyclades.vm"), ({"cyclades.vm": 1.5}, "cyclades.vm"),
                        ({"cyclades.gpu": 1}, "cyclades.gpu")):
        response = stack.client.patch(f"/api/v1/quotas/{user_id}", json=body, headers=stack.admin_headers)
        assert response.status_code == 422, (body, response.json)
        assert field in response.json["message"] and field in str(response.json["errors"]), response.json
    assert quotas(stack, headers)["cyclades.vm"]["limit"] is None  # nothing changed

    shown = set_limits(stack, user_id, **{"cyclades.vm": 0})  # below the usage: accepted
    assert shown["cyclades.vm"] == {"limit": 0, "usage": 1, "pending": 0, "default": False, "over": True}
    status, refused = stack.create_server(headers=headers, name="b2")
    assert status == 413 and (refused["limit"], refused["usage"]) == (0, 1), refused

    assert stack.client.patch(f"/api/v1/quotas/{user_id}", json={"cyclades.vm": 5},
                              headers=headers).status_code == 403
    assert stack.client.get("/api/v1/quotas", query_string={"user_id": "someone-else"},
                            headers=headers).status_code == 403
    response = stack.client.get("/api/v1/quotas", query_string={"user_id": user_id}, headers=stack.admin_headers)
    assert response.status_code == 200 and response.json["user_id"] == user_id
    assert response.json["quotas"]["cyclades.vm"]["usage"] == 1


def test_private_networks_are_counted(stack):
    user_id, headers = _user(stack, "net")
    set_limits(stack, user_id, **{"cyclades.network.private": 1})
    first = stack.client.post("/api/v1/networks", json={"name": "n1"}, headers=headers)
    assert first.status_code == 201, first.json
    refused = stack.client.post("/api/v1/networks", json={"name": "n2"}, headers=headers)
    assert refused.status_code == 413, refused.json
    assert (refused.json["resource"], refused.json["limit"], refused.json["usage"]) == (
        "cyclades.network.private", 1, 1)
    names = [n["name"] for n in stack.client.get("/api/v1/networks", headers=headers).json["networks"]
             if n["user_id"] == user_id]
    assert names == ["n1"]
    assert stack.client.delete(f"/api/v1/networks/{first.json['id']}", headers=headers).status_code == 200
    assert usage(stack, headers, "cyclades.network.private") == 0
    assert stack.client.post("/api/v1/networks", json={"name": "n3"}, headers=headers).status_code == 201
