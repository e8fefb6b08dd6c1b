"""OpenStack's own clients (openstacksdk, the `openstack` CLI) against the product, configured
only by a clouds.yaml the test writes: identity, compute, images."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest
import requests

from tests.integration.helpers import instances_named
from tests.openstack.conftest import cli, cli_json

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def test_token_issue_gives_the_users_project(stack, cloud):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    token = cli_json(cloud, "token", "issue")
    # A short-lived token of its own (the application credential's secret is not handed out),
    # ending OPENSTACK_TOKEN_TTL_S (Keystone's 3600 s by default) after it was issued.
    assert token["id"] != cloud["token"]
    assert token["project_id"] == cloud["user"] and token["user_id"] == cloud["user"]
    expires = dt.datetime.fromisoformat(token["expires"].replace("Z", "+00:00"))
    ttl = dt.timedelta(seconds=stack.app.extensions["context"].settings.openstack_token_ttl_s)
    assert before + ttl <= expires <= dt.datetime.now(dt.timezone.utc) + ttl
    assert _raw(cloud, "GET", "/compute/v2.1/servers", headers={"X-Auth-Token": token["id"]}).status_code == 200


def test_flavors_and_images_are_the_catalogs(stack, cloud):
    flavors = cli_json(cloud, "flavor", "list")
    ours = stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json
    assert {f["Name"] for f in flavors} == {f["name"] for f in ours if not f.get("deleted")}
    one = next(f for f in ours if f["id"] == 1)
    shown = cli_json(cloud, "flavor", "show", one["name"])
    assert (shown["vcpus"], shown["ram"], shown["disk"]) == (one["cpu"], one["ram"], one["disk"])
    images = cli_json(cloud, "image", "list")
    assert "debian-12" in {i["Name"] for i in images}
    assert cli_json(cloud, "image", "show", "debian-12")["status"] == "active"


def test_server_create_is_a_durable_operation_and_goes_through_its_life(stack, cloud):
    flavor = stack.client.get("/api/v1/flavors/1", headers=stack.admin_headers).json["name"]
    created = cli_json(cloud, "server", "create", "--flavor", flavor, "--image", "debian-12", "--wait", "os-web1")
    assert created["status"] == "ACTIVE" and created["name"] == "os-web1"
    server_id = int(created["id"])
    # The same server, and its create operation, in the native API.
    native = stack.server(server_id)
    assert native["status"] == "ACTIVE" and native["user_id"] == cloud["user"]
    ops = stack.client.get(f"/api/v1/operations?server_id={server_id}", headers=stack.admin_headers).json
    assert [op["kind"] for op in ops] == ["create"] and ops[0]["status"] == "SUCCEEDED"

    listed = cli_json(cloud, "server", "list")
    assert {"ID": str(server_id), "Name": "os-web1", "Status": "ACTIVE"}.items() <= next(
        s for s in listed if s["ID"] == str(server_id)).items()
    shown = cli_json(cloud, "server", "show", "os-web1")
    assert shown["OS-EXT-STS:vm_state"] == "active" and shown["OS-EXT-STS:power_state"] in (1, "Running")

    sdk = cloud["sdk"]
    cli(cloud, "server", "stop", "os-web1")
    sdk.compute.wait_for_server(sdk.compute.get_server(str(server_id)), status="SHUTOFF", wait=60, interval=0.5)
    assert stack.server(server_id)["status"] == "STOPPED"
    assert cli_json(cloud, "server", "show", "os-web1")["status"] == "SHUTOFF"
    cli(cloud, "server", "start", "os-web1")
    sdk.compute.wait_for_server(sdk.compute.get_server(str(server_id)), status="ACTIVE", wait=60, interval=0.5)
    assert stack.server(server_id)["status"] == "ACTIVE"
    cli(cloud, "server", "reboot", "--hard", "--wait", "os-web1")
    kinds = [(op["kind"], op["status"]) for op in
             stack.client.get(f"/api/v1/operations?server_id={server_id}", headers=stack.admin_headers).json]
    assert kinds[0] == ("reboot", "SUCCEEDED") and ("shutdown", "SUCCEEDED") in kinds and ("start", "SUCCEEDED") in kinds

    cli(cloud, "server", "delete", "--wait", "os-web1")
    assert stack.server(server_id)["status"] == "DELETED"
    assert cli(cloud, "server", "show", str(server_id), ok=False).returncode != 0


def _flavor(stack, name: str, cpu: int, ram: int, disk: int = 10) -> dict:
    response = stack.client.post("/api/v1/flavors", json={"name": name, "cpu": cpu, "ram": ram, "disk": disk},
                                 headers=stack.admin_headers)
    if response.status_code == 201:
        return response.json
    return next(f for f in stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json if f["name"] == name)


def _ops(stack, server_id: int) -> list[tuple[str, str]]:
    return [(op["kind"], op["status"]) for op in
            stack.client.get(f"/api/v1/operations?server_id={server_id}", headers=stack.admin_headers).json]


def test_resize_waits_for_verify_resize_and_confirm_keeps_the_new_flavor(stack, cloud):
    sdk = cloud["sdk"]
    small, big = _flavor(stack, "c1r1024d10", 1, 1024), _flavor(stack, "c2r2048d10", 2, 2048)
    cli_json(cloud, "server", "create", "--flavor", small["name"], "--image", "debian-12", "--wait", "os-resize")
    server = sdk.compute.find_server("os-resize", ignore_missing=False)
    # Nova's answer to a resize of a running server here: the product resizes stopped servers only.
    refused = cli(cloud, "server", "resize", "--flavor", big["name"], "os-resize", ok=False)
    assert refused.returncode != 0 and "409" in refused.stderr
    cli(cloud, "server", "stop", "os-resize")
    sdk.compute.wait_for_server(server, status="SHUTOFF", wait=60, interval=0.5)
    # --wait returns once the server is VERIFY_RESIZE (or fails on ERROR).
    cli(cloud, "server", "resize", "--flavor", big["name"], "--wait", "os-resize")
    shown = cli_json(cloud, "server", "show", "os-resize")
    assert shown["status"] == "VERIFY_RESIZE" and shown["OS-EXT-STS:vm_state"] == "resized"
    native = stack.server(int(server.id))
    assert native["flavor_id"] == big["id"] and native["resize_pending"] == {"from_flavor_id": small["id"]}
    assert native["status"] == "STOPPED"
    # Nova refuses other actions while a resize awaits confirmation.
    started = _raw(cloud, "POST", f"/compute/v2.1/servers/{server.id}/action", json={"os-start": None})
    assert started.status_code == 409 and "resized" in started.json()["conflictingRequest"]["message"]

    cli(cloud, "server", "resize", "confirm", "os-resize")
    shown = cli_json(cloud, "server", "show", "os-resize")
    assert shown["status"] == "SHUTOFF" and shown["OS-EXT-STS:vm_state"] == "stopped"
    native = stack.server(int(server.id))
    assert native["flavor_id"] == big["id"] and native["resize_pending"] is None
    assert _ops(stack, int(server.id))[:2] == [("confirm_resize", "SUCCEEDED"), ("resize", "SUCCEEDED")]
    revert = cli(cloud, "server", "resize", "revert", "os-resize", ok=False)
    assert revert.returncode != 0 and "409" in revert.stderr
    # Confirmed, it starts with the new flavor (the product resizes stopped servers: Nova's
    # resize of a stopped server is SHUTOFF after its confirm too).
    cli(cloud, "server", "start", "os-resize")
    sdk.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    shown = cli_json(cloud, "server", "show", "os-resize")
    assert shown["status"] == "ACTIVE" and big["name"] in str(shown["flavor"])
    cli(cloud, "server", "delete", "--wait", "os-resize")


def test_revert_resize_goes_back_to_the_old_flavor_and_its_quota(stack, cloud):
    sdk = cloud["sdk"]
    small, big = _flavor(stack, "c1r1024d10", 1, 1024), _flavor(stack, "c2r2048d10", 2, 2048)
    server = sdk.compute.create_server(name="os-revert", image_id="1", flavor_id=str(small["id"]), networks=[])
    sdk.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    sdk.compute.stop_server(server)
    sdk.compute.wait_for_server(server, status="SHUTOFF", wait=60, interval=0.5)

    def ram_used() -> int:
        quotas = stack.client.get(f"/api/v1/quotas?user_id={cloud['user']}", headers=stack.admin_headers).json
        return quotas["quotas"]["cyclades.total_ram"]["usage"]

    before = ram_used()
    sdk.compute.resize_server(server, str(big["id"]))
    sdk.compute.wait_for_server(server, status="VERIFY_RESIZE", wait=60, interval=0.5)
    assert ram_used() == before + big["ram"] - small["ram"]
    sdk.compute.revert_server_resize(server)
    assert sdk.compute.get_server(server.id).status == "REVERT_RESIZE"
    sdk.compute.wait_for_server(server, status="SHUTOFF", wait=60, interval=0.5)
    native = stack.server(int(server.id))
    assert native["flavor_id"] == small["id"] and native["resize_pending"] is None
    assert ram_used() == before
    assert _ops(stack, int(server.id))[:2] == [("resize", "SUCCEEDED"), ("resize", "SUCCEEDED")]
    # The revert was the cluster's: the instance has the old flavor's memory and CPUs again.
    beparams = instances_named(stack, f"snf-{server.id}")[0]["beparams"]
    assert (beparams["maxmem"], beparams["vcpus"]) == (small["ram"], small["cpu"])
    sdk.compute.delete_server(server)
    sdk.compute.wait_for_delete(server, wait=60, interval=0.5)


def test_server_metadata_from_create_set_and_unset(stack, cloud):
    created = cli_json(cloud, "server", "create", "--flavor", "c1r1024d10", "--image", "debian-12", "--property",
                       "role=web", "--property", "tier=1", "--wait", "os-meta")
    server_id = int(created["id"])
    assert cli_json(cloud, "server", "show", "os-meta")["properties"] == {"role": "web", "tier": "1"}
    cli(cloud, "server", "set", "--property", "tier=2", "--property", "owner=ops", "os-meta")
    cli(cloud, "server", "unset", "--property", "role", "os-meta")
    assert cli_json(cloud, "server", "show", "os-meta")["properties"] == {"tier": "2", "owner": "ops"}
    assert stack.server(server_id)["metadata"] == {"tier": "2", "owner": "ops"}

    path = f"/compute/v2.1/servers/{server_id}/metadata"
    assert _raw(cloud, "GET", path).json() == {"metadata": {"tier": "2", "owner": "ops"}}
    assert _raw(cloud, "GET", f"{path}/tier").json() == {"meta": {"tier": "2"}}
    assert _raw(cloud, "PUT", f"{path}/tier", json={"meta": {"tier": "3"}}).json() == {"meta": {"tier": "3"}}
    mismatch = _raw(cloud, "PUT", f"{path}/tier", json={"meta": {"other": "3"}})
    assert mismatch.status_code == 400 and mismatch.json()["badRequest"]["message"] == "Request body and URI mismatch"
    too_long = _raw(cloud, "POST", path, json={"metadata": {"k" * 256: "v"}})
    assert too_long.status_code == 400 and "badRequest" in too_long.json()
    value_long = _raw(cloud, "POST", path, json={"metadata": {"k": "v" * 256}})
    assert value_long.status_code == 400 and "badRequest" in value_long.json()
    most = stack.app.extensions["context"].settings.server_metadata_items
    over = _raw(cloud, "PUT", path, json={"metadata": {f"k{i}": "v" for i in range(most + 1)}})
    assert over.status_code == 403 and "metadata_items" in over.json()["forbidden"]["message"]
    assert _raw(cloud, "GET", "/compute/v2.1/limits").json()["limits"]["absolute"]["maxServerMeta"] == most
    missing = _raw(cloud, "DELETE", f"{path}/nothing")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == "Metadata item was not found"
    replaced = _raw(cloud, "PUT", path, json={"metadata": {"only": "this"}})
    assert replaced.status_code == 200 and replaced.json() == {"metadata": {"only": "this"}}
    assert stack.server(server_id)["metadata"] == {"only": "this"}
    cli(cloud, "server", "delete", "--wait", "os-meta")


def test_sdk_create_with_password_rename_list_filters_and_paging(stack, cloud):
    sdk = cloud["sdk"]
    image = sdk.image.find_image("debian-12", ignore_missing=False)
    flavor = sdk.compute.find_flavor("c1r1024d10", ignore_missing=False)
    made = [sdk.compute.create_server(name=f"os-page-{i}", image_id=image.id, flavor_id=flavor.id, networks=[],
                                      admin_password="s3cret-Passw0rd") for i in range(3)]
    assert made[0].admin_password == "s3cret-Passw0rd"
    for server in made:
        sdk.compute.wait_for_server(server, status="ACTIVE", wait=90, interval=0.5)
    ids = [s.id for s in made]
    # marker/limit paging: every server once, in id order
    pages = list(sdk.compute.servers(details=True, limit=1, paginated=True))
    seen = [s.id for s in pages if s.id in ids]
    assert seen == ids
    assert [s.id for s in sdk.compute.servers(name="os-page-1")] == [ids[1]]
    assert ids[2] in {s.id for s in sdk.compute.servers(status="ACTIVE")}
    assert not [s for s in sdk.compute.servers(status="SHUTOFF") if s.id in ids]
    sdk.compute.update_server(made[2], name="os-page-renamed")
    assert stack.server(int(ids[2]))["name"] == "os-page-renamed"
    assert cli_json(cloud, "server", "show", ids[2])["name"] == "os-page-renamed"
    for server in made:
        sdk.compute.delete_server(server)
    for server in made:
        sdk.compute.wait_for_delete(server, wait=60, interval=0.5)


def test_limits_are_the_quotas(stack, cloud):
    limits = {row["Name"]: row["Value"] for row in cli_json(cloud, "limits", "show", "--absolute")}
    quotas = stack.client.get(f"/api/v1/quotas?user_id={cloud['user']}", headers=stack.admin_headers).json
    vm = quotas["quotas"]["cyclades.vm"]
    assert limits["instances"] == (-1 if vm["limit"] in (None, "unlimited") else vm["limit"])
    assert limits["instances_used"] == vm["usage"] + vm.get("pending", 0)
    cores = quotas["quotas"]["cyclades.total_cpu"]
    assert limits["total_cores"] == (-1 if cores["limit"] in (None, "unlimited") else cores["limit"])


def _raw(cloud, method: str, path: str, **kwargs):
    headers = {"X-Auth-Token": cloud["token"], **kwargs.pop("headers", {})}
    return requests.request(method, cloud["url"] + path, headers=headers, timeout=10, **kwargs)


def test_nova_errors_and_microversions(stack, cloud):
    version = _raw(cloud, "GET", "/compute/v2.1/").json()["version"]
    assert (version["min_version"], version["version"]) == ("2.1", "2.1")
    ok = _raw(cloud, "GET", "/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.1"})
    assert ok.status_code == 200 and ok.headers["OpenStack-API-Version"] == "compute 2.1"
    assert ok.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    latest = _raw(cloud, "GET", "/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute latest"})
    assert latest.status_code == 200
    for header in ({"OpenStack-API-Version": "compute 2.99"}, {"X-OpenStack-Nova-API-Version": "2.50"}):
        refused = _raw(cloud, "GET", "/compute/v2.1/servers", headers=header)
        assert refused.status_code == 406, refused.text
        assert "is not supported by the API" in refused.json()["computeFault"]["message"]
    assert _raw(cloud, "GET", "/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute two"}).status_code == 400

    missing = _raw(cloud, "GET", "/compute/v2.1/servers/424242")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["code"] == 404
    bad = _raw(cloud, "POST", "/compute/v2.1/servers", json={"server": {"name": "x", "flavorRef": "1"}})
    assert bad.status_code == 400 and "badRequest" in bad.json()
    nameless = _raw(cloud, "POST", "/compute/v2.1/servers", json={"server": {"flavorRef": "1", "imageRef": "1"}})
    assert nameless.status_code == 400 and "name" in nameless.json()["badRequest"]["message"]
    assert _raw(cloud, "GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "nope"}).status_code == 401
    # keystonemiddleware answers for Nova: Keystone's body
    assert _raw(cloud, "GET", "/compute/v2.1/flavors", headers={"X-Auth-Token": "nope"}).json()["error"]["code"] == 401

    sdk = cloud["sdk"]
    server = sdk.compute.create_server(name="os-errors", image_id="1", flavor_id="1", networks=[])
    sdk.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    started = _raw(cloud, "POST", f"/compute/v2.1/servers/{server.id}/action", json={"os-start": None})
    assert started.status_code == 409 and "conflictingRequest" in started.json(), started.text
    unknown = _raw(cloud, "POST", f"/compute/v2.1/servers/{server.id}/action", json={"os-dance": None})
    assert unknown.status_code == 400 and "badRequest" in unknown.json()

    limited = stack.client.patch(f"/api/v1/quotas/{cloud['user']}", json={"cyclades.vm": 0}, headers=stack.admin_headers)
    assert limited.status_code == 200, limited.json
    try:
        over = _raw(cloud, "POST", "/compute/v2.1/servers",
                    json={"server": {"name": "os-over", "flavorRef": "1", "imageRef": "1", "networks": []}})
        assert over.status_code == 413 and over.json()["overLimit"]["code"] == 413, over.text
    finally:
        stack.client.patch(f"/api/v1/quotas/{cloud['user']}", json={"cyclades.vm": None}, headers=stack.admin_headers)
    sdk.compute.delete_server(server)
    sdk.compute.wait_for_delete(server, wait=60, interval=0.5)


def test_identity_token_method_and_refusals(stack, cloud):
    url = cloud["url"] + "/identity/v3/auth/tokens"
    by_token = requests.post(url, json={"auth": {"identity": {"methods": ["token"], "token": {"id": cloud["token"]}}}},
                             timeout=10)
    assert by_token.status_code == 201 and by_token.headers["X-Subject-Token"] != cloud["token"]
    services = {entry["type"] for entry in by_token.json()["token"]["catalog"]}
    assert {"compute", "image", "network"} <= services
    wrong_id = requests.post(url, json={"auth": {"identity": {"methods": ["application_credential"],
                                                              "application_credential": {"id": "someone-else",
                                                                                         "secret": cloud["token"]}}}},
                             timeout=10)
    assert wrong_id.status_code == 401 and wrong_id.json()["error"]["code"] == 401
    password = requests.post(url, json={"auth": {"identity": {"methods": ["password"], "password": {}}}}, timeout=10)
    assert password.status_code == 401
    checked = requests.get(url, headers={"X-Auth-Token": cloud["token"], "X-Subject-Token": cloud["token"]}, timeout=10)
    assert checked.status_code == 200 and checked.json()["token"]["project"]["id"] == cloud["user"]


def test_keystone_tokens_expire_and_end_with_their_credential(stack, cloud):
    """A token issued under a tiny OPENSTACK_TOKEN_TTL_S is refused once its expires_at has
    passed (by the clock, with Keystone's 401 body); revoking the product token it came from
    ends the tokens issued from it at once."""
    ctx = stack.app.extensions["context"]
    short = dataclasses.replace(ctx, settings=ctx.settings.replace(openstack_token_ttl_s=2.0))
    from api.app import create_app

    issuer = create_app(short.settings, short).test_client()
    with stack.session() as session:
        from orchestrator import auth

        row, secret = auth.create_token(session, cloud["user"])
        session.commit()
        credential_id = row.id
    body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "id": cloud["user"], "secret": secret}}}}
    issued = issuer.post("/identity/v3/auth/tokens", json=body)
    assert issued.status_code == 201, issued.json
    token = issued.headers["X-Subject-Token"]
    life = issued.json["token"]
    issued_at, expires_at = (dt.datetime.fromisoformat(life[k].replace("Z", "+00:00"))
                             for k in ("issued_at", "expires_at"))
    assert expires_at - issued_at == dt.timedelta(seconds=2)
    servers = "/compute/v2.1/servers"
    assert _raw(cloud, "GET", servers, headers={"X-Auth-Token": token}).status_code == 200
    # The token method keeps the token's end (Keystone never lengthens a token's life).
    again = issuer.post("/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["token"],
                                                                                "token": {"id": token}}}})
    assert again.status_code == 201 and again.json["token"]["expires_at"] == life["expires_at"]
    time.sleep(max(0.0, (expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)
    assert dt.datetime.now(dt.timezone.utc) > expires_at
    for path in (servers, "/network/v2.0/networks", "/image/v2/images"):
        refused = _raw(cloud, "GET", path, headers={"X-Auth-Token": token})
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["error"] == {"code": 401, "title": "Unauthorized",
                                           "message": "The request you have made requires authentication."}
    assert stack.client.get("/api/v1/servers", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    checked = requests.get(cloud["url"] + "/identity/v3/auth/tokens", timeout=10,
                           headers={"X-Auth-Token": cloud["token"], "X-Subject-Token": token})
    assert checked.status_code == 404

    # A fresh token from the same credential works until the credential is revoked.
    fresh = requests.post(cloud["url"] + "/identity/v3/auth/tokens", json=body, timeout=10)
    assert fresh.status_code == 201
    fresh_token = fresh.headers["X-Subject-Token"]
    assert _raw(cloud, "GET", servers, headers={"X-Auth-Token": fresh_token}).status_code == 200
    with stack.session() as session:
        from orchestrator.services import tokens

        tokens.revoke(ctx, session, credential_id)
    assert _raw(cloud, "GET", servers, headers={"X-Auth-Token": fresh_token}).status_code == 401
