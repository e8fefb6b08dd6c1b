"""Networks, subnets, ports and pools through the API, on the real stack: a user's private
network, a /29 and its ports' addresses, what another user cannot see or use, the refusals
(each naming its field), the administrators' pools, and an administrator's inspect of a
network beside its Ganeti network on every simulated cluster."""
from __future__ import annotations

import ipaddress

import pytest

from tests.integration.helpers import clear_faults, set_faults, user_headers
from tests.reconciliation.helpers import backend_ids, cluster_of, sim, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def _created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.json
    return response.json


def _refused(response, status: int, field: str) -> dict:
    """A 4xx with the API's error body, naming `field` (in `errors` and in the message)."""
    assert response.status_code == status, (response.status_code, response.json)
    body = response.json
    assert body["code"] == status and field in body["message"], body
    assert field in body["errors"]["json"], body
    return body


def _network(api, headers, **body) -> dict:
    return _created(api.post("/api/v1/networks", json={"name": "net", **body}, headers=headers))


def test_private_network_subnet_ports_and_removal(api, stack):
    alice = user_headers(stack, "net-alice")
    net = _network(api, alice, name="alice-private")
    assert (net["user_id"], net["type"], net["status"], net["shared"], net["router:external"], net["subnets"]) == \
        ("net-alice", "MAC_FILTERED", "ACTIVE", False, False, [])
    assert net["mode"] == "bridged" and len(net["mac_prefix"]) == 7
    nid = net["id"]

    subnet = _created(api.post("/api/v1/subnets", json={"network_id": nid, "cidr": "10.20.0.0/29",
                                                         "dns_nameservers": ["9.9.9.9"]}, headers=alice))
    assert (subnet["network_id"], subnet["ip_version"], subnet["gateway_ip"], subnet["enable_dhcp"]) == \
        (nid, 4, "10.20.0.1", True)
    assert subnet["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.6"}]
    assert subnet["dns_nameservers"] == ["9.9.9.9"]
    sid = subnet["id"]
    shown = api.get(f"/api/v1/networks/{nid}", headers=alice)
    assert shown.status_code == 200 and shown.json["subnets"] == [sid]
    assert api.get(f"/api/v1/networks/{nid}", headers={**alice, "If-None-Match": shown.headers["ETag"]}
                   ).status_code == 304
    assert _created(api.get(f"/api/v1/subnets/{sid}", headers=alice), 200) == subnet
    assert [s["id"] for s in _created(api.get("/api/v1/subnets", query_string={"network_id": nid},
                                              headers=alice), 200)["subnets"]] == [sid]

    # Ports: the pool's lowest free address, or the one asked for.
    first = _created(api.post("/api/v1/ports", json={"network_id": nid, "name": "p1"}, headers=alice))
    assert first["fixed_ips"] == [{"subnet_id": sid, "ip_address": "10.20.0.2"}]
    assert (first["device_id"], first["status"], first["user_id"]) == (None, "DOWN", "net-alice")
    assert first["mac_address"].startswith(net["mac_prefix"])
    chosen = _created(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": "10.20.0.5"}]},
                               headers=alice))
    assert chosen["fixed_ips"] == [{"subnet_id": sid, "ip_address": "10.20.0.5"}]

    # Refused, naming fixed_ips: taken (409), outside the pools or the subnet, or no address (422).
    taken = _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": "10.20.0.5"}]},
                              headers=alice), 409, "fixed_ips")
    assert "in use" in taken["message"]
    for outside in ("10.20.0.1", "10.20.0.7", "10.99.0.3"):
        _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": outside}]},
                          headers=alice), 422, "fixed_ips")
    _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": "10.20.0.999"}]},
                      headers=alice), 422, "fixed_ips")
    _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"subnet_id": sid + 1000}]},
                      headers=alice), 422, "fixed_ips")

    # The /29 holds five: three more, then the pool is exhausted.
    ports = [first, chosen] + [_created(api.post("/api/v1/ports", json={"network_id": nid}, headers=alice))
                               for _ in range(3)]
    held = sorted(p["fixed_ips"][0]["ip_address"] for p in ports)
    assert held == [f"10.20.0.{i}" for i in range(2, 7)]
    exhausted = api.post("/api/v1/ports", json={"network_id": nid}, headers=alice)
    assert exhausted.status_code == 409 and "no free address" in exhausted.json["message"], exhausted.json

    report = _created(api.get(f"/api/v1/subnets/{sid}/inspect", headers=alice), 200)
    assert report["subnet"]["id"] == sid
    assert {k: report["pool"][k] for k in ("size", "free", "used", "reserved")} == \
        {"size": 8, "free": 0, "used": 5, "reserved": 3}
    assert report["pool"]["map"] == "X" * 8
    assert [a["address"] for a in report["addresses"]] == held
    assert {a["port_id"] for a in report["addresses"]} == {p["id"] for p in ports}

    listed = _created(api.get("/api/v1/ports", query_string={"network_id": nid, "limit": 2}, headers=alice), 200)
    assert [p["id"] for p in listed["ports"]] == [p["id"] for p in ports[:2]] and listed["next"]
    rest = _created(api.get("/api/v1/ports", query_string={"network_id": nid, "cursor": listed["next"]},
                            headers=alice), 200)
    assert [p["id"] for p in rest["ports"]] == [p["id"] for p in ports[2:]] and rest["next"] is None

    renamed = _created(api.patch(f"/api/v1/networks/{nid}", json={"name": "alice-renamed"}, headers=alice), 200)
    assert renamed["name"] == "alice-renamed"

    # In use: the network stays until its ports are removed.
    busy = api.delete(f"/api/v1/networks/{nid}", headers=alice)
    assert busy.status_code == 409 and "port" in busy.json["message"], busy.json
    removed = _created(api.delete(f"/api/v1/ports/{first['id']}", headers=alice), 200)
    assert removed["id"] == first["id"] and removed["fixed_ips"] == first["fixed_ips"]
    again = _created(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": "10.20.0.2"}]},
                              headers=alice))  # its address went back to the pool
    assert again["fixed_ips"][0]["ip_address"] == "10.20.0.2"
    for port in [again] + ports[1:]:
        assert api.delete(f"/api/v1/ports/{port['id']}", headers=alice).status_code == 200
    assert _created(api.get("/api/v1/ports", query_string={"network_id": nid}, headers=alice), 200)["ports"] == []
    assert api.get(f"/api/v1/subnets/{sid}/inspect", headers=alice).json["pool"]["free"] == 5

    deleted = _created(api.delete(f"/api/v1/networks/{nid}", headers=alice), 200)
    assert (deleted["id"], deleted["status"], deleted["deleted"]) == (nid, "DELETED", True)
    live = _created(api.get("/api/v1/networks", headers=alice), 200)["networks"]
    assert nid not in [n["id"] for n in live]
    assert nid in [n["id"] for n in _created(api.get("/api/v1/networks", query_string={"deleted": "true"},
                                                     headers=alice), 200)["networks"]]
    # Gone, as Neutron answers: no read, no port, no second delete.
    assert api.get(f"/api/v1/networks/{nid}", headers=alice).status_code == 404
    assert api.get(f"/api/v1/ports/{again['id']}", headers=alice).status_code == 404
    assert api.post("/api/v1/ports", json={"network_id": nid}, headers=alice).status_code == 404
    assert api.delete(f"/api/v1/networks/{nid}", headers=alice).status_code == 404


def test_another_user_can_neither_see_nor_use_a_private_network(api, stack):
    carol, dave = user_headers(stack, "net-carol"), user_headers(stack, "net-dave")
    nid = _network(api, carol, name="carol-only")["id"]
    sid = _created(api.post("/api/v1/subnets", json={"network_id": nid, "cidr": "192.168.7.0/24"}, headers=carol))["id"]
    pid = _created(api.post("/api/v1/ports", json={"network_id": nid}, headers=carol))["id"]

    for path in (f"/api/v1/networks/{nid}", f"/api/v1/subnets/{sid}", f"/api/v1/subnets/{sid}/inspect",
                 f"/api/v1/ports/{pid}"):
        assert api.get(path, headers=dave).status_code == 404, path
    assert api.patch(f"/api/v1/networks/{nid}", json={"name": "mine"}, headers=dave).status_code == 404
    assert api.delete(f"/api/v1/networks/{nid}", headers=dave).status_code == 404
    assert api.delete(f"/api/v1/ports/{pid}", headers=dave).status_code == 404
    _refused(api.post("/api/v1/ports", json={"network_id": nid}, headers=dave), 404, "network_id")
    _refused(api.post("/api/v1/subnets", json={"network_id": nid, "cidr": "10.1.0.0/24", "ip_version": 4},
                      headers=dave), 404, "network_id")
    for listing, key in (("/api/v1/networks", "networks"), ("/api/v1/subnets", "subnets"), ("/api/v1/ports", "ports")):
        assert _created(api.get(listing, headers=dave), 200)[key] == [], listing
    assert _created(api.get("/api/v1/networks", query_string={"user_id": "net-carol"}, headers=dave),
                    200)["networks"] == []
    # An administrator sees it, by owner.
    admin_view = _created(api.get("/api/v1/networks", query_string={"user_id": "net-carol"},
                                  headers=stack.admin_headers), 200)["networks"]
    assert [n["id"] for n in admin_view] == [nid]
    assert api.delete(f"/api/v1/ports/{pid}", headers=carol).status_code == 200
    assert api.delete(f"/api/v1/networks/{nid}", headers=carol).status_code == 200


def test_refusals_name_their_field(api, stack):
    erin = user_headers(stack, "net-erin")
    # Flavors users may not choose, and what only administrators set.
    _refused(api.post("/api/v1/networks", json={"name": "vlan", "type": "PHYSICAL_VLAN"}, headers=erin), 403, "type")
    _refused(api.post("/api/v1/networks", json={"name": "x", "type": "ETHER"}, headers=erin), 422, "type")
    _refused(api.post("/api/v1/networks", json={"name": "x", "link": "br9"}, headers=erin), 403, "link")
    _refused(api.post("/api/v1/networks", json={"name": "x", "user_id": "someone"}, headers=erin), 403, "user_id")
    _refused(api.post("/api/v1/networks", json={"name": ""}, headers=erin), 422, "name")

    nid = _network(api, erin, name="erin-net")["id"]
    subnets = "/api/v1/subnets"
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.1/29"}, headers=erin), 422, "cidr")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/33"}, headers=erin), 422, "cidr")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.0.0.0/8"}, headers=erin), 422, "cidr")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "fd00::/64"}, headers=erin), 422, "cidr")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/29", "gateway_ip": "10.41.0.1"},
                      headers=erin), 422, "gateway_ip")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/29",
                                     "allocation_pools": [{"start": "10.40.0.1", "end": "10.40.0.9"}]},
                      headers=erin), 422, "allocation_pools")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/29", "dns_nameservers": ["dns"]},
                      headers=erin), 422, "dns_nameservers")
    _refused(api.post(subnets, json={"network_id": 2**31 - 1, "cidr": "10.40.0.0/29"}, headers=erin), 404,
             "network_id")

    # No gateway, pools of one's own; then an overlapping subnet, and a second IPv4 one.
    sub = _created(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/28", "gateway_ip": None,
                                           "enable_dhcp": False,
                                           "allocation_pools": [{"start": "10.40.0.10", "end": "10.40.0.11"}]},
                            headers=erin))
    assert (sub["gateway_ip"], sub["enable_dhcp"], sub["allocation_pools"]) == \
        (None, False, [{"start": "10.40.0.10", "end": "10.40.0.11"}])
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.40.0.0/29"}, headers=erin), 409, "cidr")
    _refused(api.post(subnets, json={"network_id": nid, "cidr": "10.50.0.0/29"}, headers=erin), 409, "ip_version")

    # An IPv6 /64 beside it: each port's address there is the EUI-64 of its MAC.
    v6 = _created(api.post(subnets, json={"network_id": nid, "cidr": "fd00:40::/64", "ip_version": 6},
                           headers=erin))
    assert v6["allocation_pools"] == [] and v6["gateway_ip"] == "fd00:40::1"
    port = _created(api.post("/api/v1/ports", json={"network_id": nid}, headers=erin))
    by_subnet = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    assert by_subnet[sub["id"]] == "10.40.0.10"
    assert ipaddress.ip_address(by_subnet[v6["id"]]) in ipaddress.ip_network("fd00:40::/64")
    v6_report = _created(api.get(f"/api/v1/subnets/{v6['id']}/inspect", headers=erin), 200)
    assert v6_report["pool"] is None and [a["port_id"] for a in v6_report["addresses"]] == [port["id"]]

    _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"ip_address": "10.40.0.12"}]},
                      headers=erin), 422, "fixed_ips")
    second = api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"subnet_id": sub["id"]}]}, headers=erin)
    assert second.status_code == 201, second.json
    _refused(api.post("/api/v1/ports", json={"network_id": nid, "fixed_ips": [{"subnet_id": sub["id"]}]},
                      headers=erin), 409, "fixed_ips")  # both addresses of its pools are out
    for pid in (port["id"], second.json["id"]):
        assert api.delete(f"/api/v1/ports/{pid}", headers=erin).status_code == 200
    assert api.delete(f"/api/v1/networks/{nid}", headers=erin).status_code == 200

    # Bodies and queries the schema refuses.
    assert api.post("/api/v1/networks", data="name=x", headers=erin).status_code == 415
    assert api.get("/api/v1/networks", query_string={"cursor": "nope"}, headers=erin).status_code == 422
    assert api.get("/api/v1/networks", query_string={"type": "ETHER"}, headers=erin).status_code == 422
    assert api.get("/api/v1/ports", query_string={"device_id": -1}, headers=erin).status_code == 422


def test_administrators_networks_and_pools(api, stack):
    admin, frank = stack.admin_headers, user_headers(stack, "net-frank")
    # Pools are the administrators': a user gets 403 on every endpoint.
    assert api.get("/api/v1/pools", headers=frank).status_code == 403
    assert api.get("/api/v1/pools/1", headers=frank).status_code == 403
    assert api.post("/api/v1/pools", json={"type": "bridge", "base": "prv", "size": 5}, headers=frank
                    ).status_code == 403
    assert api.patch("/api/v1/pools/1", json={"size": 5}, headers=frank).status_code == 403

    pools = {p["type"]: p for p in _created(api.get("/api/v1/pools", headers=admin), 200)}
    assert set(pools) == {"bridge", "mac-prefix"}
    bridges = pools["bridge"]
    assert (bridges["base"], bridges["size"]) == ("prv", 20)
    etagged = api.get(f"/api/v1/pools/{bridges['id']}", headers=admin)
    assert etagged.status_code == 200 and etagged.json == bridges
    # One live pool of each type (as Synnefo): a second is refused, naming type.
    _refused(api.post("/api/v1/pools", json={"type": "bridge", "base": "vlan", "size": 4}, headers=admin), 409, "type")
    _refused(api.post("/api/v1/pools", json={"type": "bridge", "base": "prv9", "size": 4}, headers=admin), 422, "base")
    _refused(api.post("/api/v1/pools", json={"type": "mac-prefix", "base": "zz:00:0", "size": 4}, headers=admin),
             422, "base")
    _refused(api.post("/api/v1/pools", json={"type": "vlan", "base": "prv", "size": 4}, headers=admin), 422, "type")

    # An administrator's PHYSICAL_VLAN network takes a bridge from the pool for a user.
    vlan = _network(api, admin, name="frank-vlan", type="PHYSICAL_VLAN", user_id="net-frank")
    assert vlan["user_id"] == "net-frank" and vlan["link"].startswith("prv")
    after = _created(api.get(f"/api/v1/pools/{bridges['id']}", headers=admin), 200)
    assert (after["used"], after["free"]) == (bridges["used"] + 1, bridges["free"] - 1)
    assert vlan["id"] in [n["id"] for n in _created(api.get("/api/v1/networks", headers=frank), 200)["networks"]]

    # Reserve a bridge (no network draws it), lift the reservation; never reserve one in use.
    spare = f"prv{bridges['size']}"
    reserved = _created(api.patch(f"/api/v1/pools/{bridges['id']}", json={"add_reserved": [spare]}, headers=admin),
                        200)
    assert reserved["reserved"] == after["reserved"] + 1 and reserved["free"] == after["free"] - 1
    _refused(api.patch(f"/api/v1/pools/{bridges['id']}", json={"add_reserved": [vlan["link"]]}, headers=admin),
             409, "add_reserved")
    _refused(api.patch(f"/api/v1/pools/{bridges['id']}", json={"add_reserved": ["eth0"]}, headers=admin), 422,
             "add_reserved")
    released = _created(api.patch(f"/api/v1/pools/{bridges['id']}", json={"remove_reserved": [spare]},
                                  headers=admin), 200)
    assert released["reserved"] == after["reserved"]
    grown = _created(api.patch(f"/api/v1/pools/{bridges['id']}", json={"size": bridges["size"] + 2}, headers=admin),
                     200)
    assert grown["size"] == bridges["size"] + 2 and grown["free"] == after["free"] + 2
    assert _created(api.patch(f"/api/v1/pools/{bridges['id']}", json={"size": bridges["size"]}, headers=admin),
                    200)["size"] == bridges["size"]
    assert api.get("/api/v1/pools/999999", headers=admin).status_code == 404

    # The subnets' address pools are listed with type=ip.
    sub = _created(api.post("/api/v1/subnets", json={"network_id": vlan["id"], "cidr": "172.16.5.0/24"},
                            headers=admin))
    ip_pools = _created(api.get("/api/v1/pools", query_string={"type": "ip"}, headers=admin), 200)
    assert "172.16.5.0/24" in [p["base"] for p in ip_pools]
    assert sub["user_id"] == "net-frank"

    assert _created(api.delete(f"/api/v1/networks/{vlan['id']}", headers=admin), 200)["deleted"] is True
    back = _created(api.get(f"/api/v1/pools/{bridges['id']}", headers=admin), 200)
    assert (back["used"], back["free"]) == (bridges["used"], bridges["free"])


def test_network_list_pages_and_filters(api, stack):
    gina = user_headers(stack, "net-gina")
    ids = [_network(api, gina, name=f"page-{i}")["id"] for i in range(3)]
    first = _created(api.get("/api/v1/networks", query_string={"limit": 2}, headers=gina), 200)
    assert [n["id"] for n in first["networks"]] == ids[:2] and first["next"]
    second = _created(api.get("/api/v1/networks", query_string={"limit": 2, "cursor": first["next"]}, headers=gina),
                      200)
    assert [n["id"] for n in second["networks"]] == ids[2:] and second["next"] is None
    assert [n["id"] for n in _created(api.get("/api/v1/networks", query_string={"name": "page-1"}, headers=gina),
                                      200)["networks"]] == [ids[1]]
    assert _created(api.get("/api/v1/networks", query_string={"shared": "true"}, headers=gina), 200)["networks"] == []
    assert [n["id"] for n in _created(api.get("/api/v1/networks", query_string={"type": "MAC_FILTERED"},
                                              headers=gina), 200)["networks"]] == ids
    for nid in ids:
        assert api.delete(f"/api/v1/networks/{nid}", headers=gina).status_code == 200


def _sim_job(cluster, method: str, path: str, **kw) -> None:
    """One write on a simulated cluster's RAPI, behind the orchestrator's back, to its end."""
    job = wait_job(cluster, sim(cluster, method, path, **kw).json())
    assert job["status"] == "success", job


def _inspected(api, stack, nid: int) -> dict[int, dict]:
    report = _created(api.get(f"/api/v1/networks/{nid}/inspect", headers=stack.admin_headers), 200)
    assert report["network"] == _created(api.get(f"/api/v1/networks/{nid}", headers=stack.admin_headers), 200)
    assert report["ganeti_name"] == f"snf-net-{nid}"
    assert [b["backend_id"] for b in report["backends"]] == backend_ids(stack)  # every backend, by id
    return {b["backend_id"]: b for b in report["backends"]}


def test_an_administrator_inspects_a_network_on_every_backend(api, stack):
    hana = user_headers(stack, "net-hana")
    net = _network(api, hana, name="hana-inspected")
    nid, name = net["id"], f"snf-net-{net['id']}"
    simulated = range(1, len(stack.sim.clusters) + 1)  # the stack's backends: cluster i is backend i + 1
    first_id, other_id = simulated[:2]
    first = cluster_of(stack, first_id)

    # A private network is on no backend yet: every cluster was read and holds none of its name.
    entries = _inspected(api, stack, nid)
    for backend_id in simulated:
        assert (entries[backend_id]["ganeti"], entries[backend_id]["row"], entries[backend_id]["error"],
                entries[backend_id]["offline"]) == (None, None, None, False), entries[backend_id]

    # The same name made on one cluster directly (OP_NETWORK_ADD, then connected to its group):
    # the read is live, and that backend alone shows it.
    _sim_job(first, "POST", "/2/networks", json={"network_name": name, "network": "10.77.0.0/29",
                                                 "gateway": "10.77.0.1", "mac_prefix": f"{net['mac_prefix']}0",
                                                 "conflicts_check": False})
    _sim_job(first, "PUT", f"/2/networks/{name}/connect", json={"group_name": "default", "network_mode": "bridged",
                                                                "network_link": "prv0", "network_vlan": ""})
    try:
        entries = _inspected(api, stack, nid)
        ganeti = entries[first_id]["ganeti"]
        assert ganeti == {"name": name, "network": "10.77.0.0/29", "gateway": "10.77.0.1",
                          "mac_prefix": f"{net['mac_prefix']}0", "free_count": 5, "reserved_count": 3,
                          "map": "XX.....X", "group_list": [["default", "bridged", "prv0", ""]], "inst_list": [],
                          "external_reservations": "10.77.0.0, 10.77.0.1, 10.77.0.7"}, ganeti
        assert entries[first_id]["error"] is None and entries[first_id]["row"] is None
        assert all(entries[b]["ganeti"] is None and entries[b]["error"] is None for b in simulated if b != first_id)

        # A cluster that cannot be read is that backend's one-line error, never a 5xx; an
        # offline one is listed with its reason and not called.
        assert api.patch(f"/api/v1/backends/{other_id}", json={"offline": True},
                         headers=stack.admin_headers).status_code == 200
        try:
            set_faults(stack, http_error_rate=1.0, http_error_code=401)
            try:
                entries = _inspected(api, stack, nid)
            finally:
                clear_faults(stack)
        finally:
            assert api.patch(f"/api/v1/backends/{other_id}", json={"offline": False},
                             headers=stack.admin_headers).status_code == 200
        failed = entries[first_id]
        assert failed["ganeti"] is None and "401" in failed["error"] and "\n" not in failed["error"], failed
        offline = entries[other_id]
        assert offline["offline"] is True and offline["ganeti"] is None, offline
        assert offline["error"] == "offline (set offline by an administrator): not read", offline
    finally:
        _sim_job(first, "PUT", f"/2/networks/{name}/disconnect", json={"group_name": "default"})
        _sim_job(first, "DELETE", f"/2/networks/{name}")
    assert _inspected(api, stack, nid)[first_id]["ganeti"] is None

    # Administrators only; an unknown (or deleted) network is a 404.
    refused = api.get(f"/api/v1/networks/{nid}/inspect", headers=hana)
    assert refused.status_code == 403 and "administrators" in refused.json["message"], refused.json
    assert api.get("/api/v1/networks/999999/inspect", headers=stack.admin_headers).status_code == 404
    assert api.delete(f"/api/v1/networks/{nid}", headers=hana).status_code == 200
    assert api.get(f"/api/v1/networks/{nid}/inspect", headers=stack.admin_headers).status_code == 404
