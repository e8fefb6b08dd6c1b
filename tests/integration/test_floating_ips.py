"""Floating IPs end to end on real workers and simulated clusters.

An administrator makes a public network a floating-IP pool; a user allocates an address
from it, attaches it to a running server (a connect operation hot-adds a NIC on the public
network holding that address, which the simulated instance then shows), moves it to another
server (detach, then attach), and releases it; the history says which server held it when.
Destroying a server detaches its floating IP and keeps it for its owner. The refusals (an
attached address released, another user's address, a drained network, an address attached
twice) each leave everything as it was."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.models import Backend
from tests.integration.helpers import active_server, instances_named, jobs_failing, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)]


def _json(response, status: int) -> dict:
    assert response.status_code == status, response.json
    return response.json


def _instance(stack, server_id: int) -> dict:
    (inst,) = instances_named(stack, f"{stack.ctx.settings.backend_prefix_id}{server_id}")
    return inst


def _public_pool(stack, cidr: str) -> dict:
    with stack.session() as session:
        backend_ids = [b.id for b in session.query(Backend).order_by(Backend.id)]
    net = _json(stack.client.post("/api/v1/networks", headers=stack.admin_headers, json={
        "name": "floating", "type": "CUSTOM", "shared": True, "cidr": cidr, "backend_ids": backend_ids,
        "router:external": True}), 202)
    for op in net["operations"]:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    assert net["router:external"] is True and net["drained"] is False
    return net


def _free(stack, network: dict) -> int:
    (subnet_id,) = network["subnets"]
    inspected = stack.client.get(f"/api/v1/subnets/{subnet_id}/inspect", headers=stack.admin_headers)
    return _json(inspected, 200)["pool"]["free"]


def _cli(stack, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_floating_ip_is_attached_moved_and_released(stack):
    alice, bob = user_headers(stack, "alice"), user_headers(stack, "bob")
    prefix = stack.ctx.settings.backend_prefix_id
    net = _public_pool(stack, "203.0.113.0/28")
    free_at_start = _free(stack, net)
    first = active_server(stack, headers=alice, name="first", networks=[])
    second = active_server(stack, headers=alice, name="second", networks=[])

    fip = _json(stack.client.post("/api/v1/floatingips", headers=alice, json={"floating_network_id": net["id"]}), 201)
    address = fip["floating_ip_address"]
    assert fip["device_id"] is None and fip["status"] == "DOWN" and fip["user_id"] == "alice"
    assert _free(stack, net) == free_at_start - 1
    listed = _json(stack.client.get("/api/v1/floatingips", headers=alice), 200)["floatingips"]
    assert [f["floating_ip_address"] for f in listed] == [address]
    assert _json(stack.client.get("/api/v1/floatingips", headers=bob), 200)["floatingips"] == []

    # Attached to the first server: its NIC on the public network holds the address.
    attached = _json(stack.client.put(f"/api/v1/floatingips/{fip['id']}", headers=alice,
                                      json={"device_id": first["id"]}), 202)
    assert attached["operation"]["kind"] == "connect"
    assert wait_operation(stack, attached["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    inst = _instance(stack, first["id"])
    assert inst["nic.ips"] == [address] and inst["nic.networks.names"] == [f"{prefix}net-{net['id']}"]
    shown = _json(stack.client.get(f"/api/v1/floatingips/{fip['id']}", headers=alice), 200)
    assert shown["device_id"] == first["id"] and shown["status"] == "ACTIVE" and shown["port_id"]

    # Refusals, each leaving it attached where it is.
    released = stack.client.delete(f"/api/v1/floatingips/{fip['id']}", headers=alice)
    assert released.status_code == 409 and "detach" in released.json["message"], released.json
    twice = stack.client.put(f"/api/v1/floatingips/{fip['id']}", headers=alice, json={"device_id": second["id"]})
    assert twice.status_code == 409 and "detach it first" in twice.json["message"], twice.json
    assert stack.client.put(f"/api/v1/floatingips/{fip['id']}", headers=bob,
                            json={"device_id": second["id"]}).status_code == 404
    assert _json(stack.client.get(f"/api/v1/floatingips/{fip['id']}", headers=alice), 200)["device_id"] == first["id"]

    # Moved: detached from the first server (the address stays alice's), attached to the second.
    detached = _json(stack.client.put(f"/api/v1/floatingips/{fip['id']}", headers=alice, json={"device_id": None}),
                     202)
    assert detached["operation"]["kind"] == "disconnect"
    assert wait_operation(stack, detached["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    assert _instance(stack, first["id"])["nic.ips"] == []
    shown = _json(stack.client.get(f"/api/v1/floatingips/{fip['id']}", headers=alice), 200)
    assert shown["device_id"] is None and shown["port_id"] is None and shown["floating_ip_address"] == address
    moved = _json(stack.client.put(f"/api/v1/floatingips/{fip['id']}", headers=alice,
                                   json={"device_id": second["id"]}), 202)
    assert wait_operation(stack, moved["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    assert _instance(stack, second["id"])["nic.ips"] == [address]
    assert _free(stack, net) == free_at_start - 1  # one address all along

    # The history: the first server held it, then the second holds it.
    history = _json(stack.client.get(f"/api/v1/floatingips/history?address={address}",
                                     headers=stack.admin_headers), 200)["history"]
    assert [(h["device_id"], h["active"]) for h in history] == [(second["id"], True), (first["id"], False)]
    assert history[1]["released_at"] is not None
    assert stack.client.get("/api/v1/floatingips/history", headers=alice).status_code == 403
    out = _cli(stack, "floating-ip", "show", str(fip["id"]))
    assert address in out and "== history" in out and str(second["id"]) in out

    # Destroying the second server detaches it and keeps it alice's; then she releases it.
    destroyed = _json(stack.client.delete(f"/api/v1/servers/{second['id']}", headers=alice), 202)
    assert wait_operation(stack, destroyed["id"], timeout=60)["status"] == "SUCCEEDED"
    shown = _json(stack.client.get(f"/api/v1/floatingips/{fip['id']}", headers=alice), 200)
    assert shown["device_id"] is None and shown["floating_ip_address"] == address
    history = _json(stack.client.get(f"/api/v1/floatingips/history?floating_ip_id={fip['id']}",
                                     headers=stack.admin_headers), 200)["history"]
    assert not any(h["active"] for h in history)
    released = _json(stack.client.delete(f"/api/v1/floatingips/{fip['id']}", headers=alice), 200)
    assert released["floating_ip_address"] == address
    assert stack.client.get(f"/api/v1/floatingips/{fip['id']}", headers=alice).status_code == 404
    assert _free(stack, net) == free_at_start


def test_floating_ips_refused_leave_nothing_behind(stack):
    alice = user_headers(stack, "alice")
    net = _public_pool(stack, "203.0.113.16/28")
    free_at_start = _free(stack, net)

    private = _json(stack.client.post("/api/v1/networks", json={"name": "lan", "cidr": "10.88.0.0/29"},
                                      headers=alice), 201)
    refused = stack.client.post("/api/v1/floatingips", headers=alice, json={"floating_network_id": private["id"]})
    assert refused.status_code == 404 and "floating_network_id" in refused.json["errors"]["json"], refused.json
    taken = _json(stack.client.post("/api/v1/floatingips", headers=alice,
                                    json={"floating_network_id": net["id"], "floating_ip_address": "203.0.113.20"}), 201)
    again = stack.client.post("/api/v1/floatingips", headers=alice,
                              json={"floating_network_id": net["id"], "floating_ip_address": "203.0.113.20"})
    assert again.status_code == 409 and "floating_ip_address" in again.json["errors"]["json"], again.json
    outside = stack.client.post("/api/v1/floatingips", headers=alice,
                                json={"floating_network_id": net["id"], "floating_ip_address": "192.0.2.1"})
    assert outside.status_code == 422 and "floating_ip_address" in outside.json["errors"]["json"], outside.json
    assert stack.client.post("/api/v1/floatingips", headers=alice, json={}).status_code == 422
    assert _free(stack, net) == free_at_start - 1

    # A connect the cluster fails: the port made for it goes, the address is unattached again.
    server = active_server(stack, headers=alice, name="drained", networks=[])
    with jobs_failing(stack):
        failing = _json(stack.client.put(f"/api/v1/floatingips/{taken['id']}", headers=alice,
                                         json={"device_id": server["id"]}), 202)
        assert wait_operation(stack, failing["operation"]["id"], timeout=60)["status"] == "FAILED"
    shown = _json(stack.client.get(f"/api/v1/floatingips/{taken['id']}", headers=alice), 200)
    assert shown["device_id"] is None and shown["port_id"] is None
    assert _json(stack.client.get(f"/api/v1/ports?device_id={server['id']}", headers=alice), 200)["ports"] == []
    assert _instance(stack, server["id"])["nic.ips"] == []

    # Drained: no new floating IP, and none attached any more.
    _json(stack.client.patch(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers, json={"drained": True}), 200)
    drained = stack.client.post("/api/v1/floatingips", headers=alice, json={"floating_network_id": net["id"]})
    assert drained.status_code == 409 and "drained" in drained.json["message"], drained.json
    attach = stack.client.put(f"/api/v1/floatingips/{taken['id']}", headers=alice, json={"device_id": server["id"]})
    assert attach.status_code == 409 and "drained" in attach.json["message"], attach.json
    assert _instance(stack, server["id"])["nic.ips"] == []
    user_drains = stack.client.patch(f"/api/v1/networks/{net['id']}", headers=alice, json={"drained": False})
    assert user_drains.status_code == 403
    not_attached = stack.client.put(f"/api/v1/floatingips/{taken['id']}", headers=alice, json={"device_id": None})
    assert not_attached.status_code == 409
    assert _free(stack, net) == free_at_start - 1
    _json(stack.client.delete(f"/api/v1/floatingips/{taken['id']}", headers=alice), 200)
    assert _free(stack, net) == free_at_start


def test_floating_ips_count_against_the_quota(stack):
    user_id = f"fip-quota-{stack.kind}"
    headers = user_headers(stack, user_id)
    net = _public_pool(stack, "203.0.113.32/28")
    free_at_start = _free(stack, net)
    limits = stack.client.patch(f"/api/v1/quotas/{user_id}", headers=stack.admin_headers,
                                json={"cyclades.floating_ip": 1})
    assert limits.status_code == 200, limits.json

    first = _json(stack.client.post("/api/v1/floatingips", headers=headers, json={"floating_network_id": net["id"]}), 201)
    usage = _json(stack.client.get("/api/v1/quotas", headers=headers), 200)["quotas"]["cyclades.floating_ip"]
    assert (usage["usage"], usage["limit"]) == (1, 1)

    refused = stack.client.post("/api/v1/floatingips", headers=headers, json={"floating_network_id": net["id"]})
    assert refused.status_code == 413 and refused.json["status"] == "overLimit", refused.json
    assert (refused.json["resource"], refused.json["limit"], refused.json["usage"]) == ("cyclades.floating_ip", 1, 1)
    assert len(_json(stack.client.get("/api/v1/floatingips", headers=headers), 200)["floatingips"]) == 1
    assert _free(stack, net) == free_at_start - 1  # the refused one drew nothing

    _json(stack.client.delete(f"/api/v1/floatingips/{first['id']}", headers=headers), 200)
    usage = _json(stack.client.get("/api/v1/quotas", headers=headers), 200)["quotas"]["cyclades.floating_ip"]
    assert usage["usage"] == 0
    _json(stack.client.post("/api/v1/floatingips", headers=headers, json={"floating_network_id": net["id"]}), 201)
