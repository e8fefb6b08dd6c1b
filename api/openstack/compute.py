"""Compute (Nova v2.1): servers, their actions, interfaces and addresses, flavors, limits.

Each view parses Nova's body, calls one use case of orchestrator/services (the same durable
operations as /api/v1), and renders Nova's body. Microversions: this API is v2.1 with no
microversion beyond 2.1 (min = max = 2.1, stated in the version document); a request asking
for another is refused with 406 as Nova refuses one outside its range, `latest` is 2.1.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, request

from orchestrator.services import catalog as catalog_services
from orchestrator.services import networks as network_services
from orchestrator.services import operations as operation_services
from orchestrator.services import quotas as quota_services
from orchestrator.services import servers as server_services
from orchestrator.state import api_status

from .common import (OpenStackError, authenticate, base_url, body_of, context, empty, install_errors, int_id,
                     json_response, nova_error, principal)

blp = Blueprint("openstack_compute", __name__, url_prefix="/compute")
install_errors(blp, nova_error)

MIN_VERSION = MAX_VERSION = "2.1"
VERSION_HEADERS = ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version")
UNAUTHENTICATED = {"openstack_compute.versions", "openstack_compute.version"}


def _version_doc(base: str) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def _asked_version() -> str | None:
    asked = request.headers.get("OpenStack-API-Version", "")
    if asked:
        words = asked.split()
        if len(words) == 2 and words[0].lower() == "compute":
            return words[1]
        if words and words[0].lower() != "compute":
            return None  # another service's version: not ours to judge
        raise OpenStackError(400, f"Invalid OpenStack-API-Version header: {asked!r}")
    return request.headers.get("X-OpenStack-Nova-API-Version") or None


@blp.before_request
def _microversion_and_token():
    asked = _asked_version()
    if asked is not None and asked.lower() != "latest":
        if not re.fullmatch(r"[1-9]\d*\.(0|[1-9]\d*)", asked):
            raise OpenStackError(400, f"API Version String {asked} is of invalid format. Must be of format "
                                      "MajorNum.MinorNum.")
        if asked != MAX_VERSION:
            raise OpenStackError(406, f"Version {asked} is not supported by the API. Minimum is {MIN_VERSION} "
                                      f"and maximum is {MAX_VERSION}.")
    if request.endpoint not in UNAUTHENTICATED:
        authenticate()


@blp.after_request
def _version_headers(response):
    response.headers["OpenStack-API-Version"] = f"compute {MAX_VERSION}"
    response.headers["X-OpenStack-Nova-API-Version"] = MAX_VERSION
    response.headers["Vary"] = ", ".join(VERSION_HEADERS)
    return response


@blp.get("")
@blp.get("/")
def versions():
    return json_response({"versions": [_version_doc(base_url())]})


@blp.get("/v2.1")
@blp.get("/v2.1/")
def version():
    return json_response({"version": _version_doc(base_url())})


# -- rendering ---------------------------------------------------------------------------------

def _links(kind: str, ident: Any) -> list[dict]:
    base = base_url()
    return [{"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/compute/{kind}/{ident}"}]


# The product's status (api_status) as Nova's status, vm_state, task_state and power_state.
NOVA_STATES = {
    "BUILD": ("BUILD", "building", "spawning", 0),
    "ACTIVE": ("ACTIVE", "active", None, 1),
    "STOPPED": ("SHUTOFF", "stopped", None, 4),
    "REBOOT": ("REBOOT", "active", "rebooting", 1),
    "HARD_REBOOT": ("HARD_REBOOT", "active", "rebooting_hard", 1),
    "RESIZE": ("RESIZE", "stopped", "resize_migrating", 4),
    "VERIFY_RESIZE": ("VERIFY_RESIZE", "resized", None, 4),
    "VERIFY_RESIZE_ACTIVE": ("VERIFY_RESIZE", "resized", None, 1),
    "REVERT_RESIZE": ("REVERT_RESIZE", "resized", "resize_reverting", 4),
    "ERROR": ("ERROR", "error", None, 0),
    "DELETED": ("DELETED", "deleted", None, 0),
}
NOVA_TO_PRODUCT = {"BUILD": "BUILD", "ACTIVE": "ACTIVE", "SHUTOFF": "STOPPED", "REBOOT": "REBOOT",
                   "HARD_REBOOT": "REBOOT", "RESIZE": "RESIZE", "ERROR": "ERROR", "DELETED": "DELETED"}


def _status(server) -> str:
    status = api_status(server)
    if server.resize_from_flavor_id is not None and status in ("ACTIVE", "STOPPED", "RESIZE"):
        # A resize awaiting confirmation, or its revert under way.
        return {"ACTIVE": "VERIFY_RESIZE_ACTIVE", "STOPPED": "VERIFY_RESIZE", "RESIZE": "REVERT_RESIZE"}[status]
    if status == "REBOOT":
        ops = operation_services.list_operations(context(), g.db, principal(), server_id=server.id, limit=1)
        if ops and ops[0].kind == "reboot" and (ops[0].params or {}).get("type") == "hard":
            return "HARD_REBOOT"
    return status


def _addresses(server) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for port in network_services.list_ports(context(), g.db, principal(), server_id=server.id):
        for ip in port.addresses:
            found.setdefault(port.network.name or f"network-{port.network_id}", []).append(
                {"version": ip.ip_version, "addr": ip.address,
                 "OS-EXT-IPS:type": "floating" if getattr(ip, "floating_ip", False) else "fixed",
                 "OS-EXT-IPS-MAC:mac_addr": port.mac})
    if not found:  # a NIC of the cluster's defaults, reported by the instance hook
        for nic in server.nics or []:
            if isinstance(nic, dict) and nic.get("ip"):
                found.setdefault(nic.get("network") or "default", []).append(
                    {"version": 6 if ":" in nic["ip"] else 4, "addr": nic["ip"], "OS-EXT-IPS:type": "fixed",
                     "OS-EXT-IPS-MAC:mac_addr": nic.get("mac")})
    return found


def _stamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def render_server(server) -> dict:
    status, vm_state, task_state, power_state = NOVA_STATES.get(_status(server), NOVA_STATES["ERROR"])
    body = {
        "id": str(server.id), "name": server.name, "status": status, "tenant_id": server.user_id,
        "user_id": server.user_id, "metadata": dict(server.metadata_ or {}), "hostId": "", "created": _stamp(server.created_at),
        "updated": _stamp(server.updated_at), "addresses": _addresses(server), "accessIPv4": "", "accessIPv6": "",
        "links": _links("servers", server.id), "image": {"id": str(server.image_id), "links": _links("images", server.image_id)},
        "flavor": {"id": str(server.flavor_id), "links": _links("flavors", server.flavor_id)},
        "key_name": None, "config_drive": "", "progress": server.build_percentage if status == "BUILD" else 0,
        "OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-STS:vm_state": vm_state, "OS-EXT-STS:task_state": task_state, "OS-EXT-STS:power_state": power_state,
        "OS-SRV-USG:launched_at": None, "OS-SRV-USG:terminated_at": None, "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if status == "ERROR" and server.backend_log_msg:
        body["fault"] = {"code": 500, "message": server.backend_log_msg, "created": _stamp(server.updated_at)}
    return body


def _server(server_id: str):
    server = server_services.get(context(), g.db, principal(), int_id(server_id, "Instance"))
    if server.deleted:
        raise OpenStackError(404, f"Instance {server_id} could not be found.")
    return server


def _ref(value: Any, field: str) -> int:
    """A flavorRef or imageRef: an id, or a link ending in one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise OpenStackError(400, f"Invalid input for field/attribute {field}.")
    text = value.rstrip("/").rsplit("/", 1)[-1]
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 2**31):
        kind = "Flavor" if field == "flavorRef" else "Image"
        raise OpenStackError(400, f"{kind} {value} could not be found.")
    return int(text)


# -- servers -----------------------------------------------------------------------------------

def _query_int(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise OpenStackError(400, f"Invalid {name} value: {value!r}")
    return int(value)


def _list(detail: bool):
    filters: dict[str, Any] = {}
    if request.args.get("name"):
        filters["name"] = request.args["name"]
    if request.args.get("status"):
        status = NOVA_TO_PRODUCT.get(request.args["status"].upper())
        if status is None:
            return json_response({"servers": []})
        filters["status"] = status
    for nova, ours in (("flavor", "flavor_id"), ("image", "image_id")):
        if request.args.get(nova):
            filters[ours] = _ref(request.args[nova], nova)
    limit = _query_int("limit")
    marker = request.args.get("marker")
    after = None
    if marker is not None:
        if not (marker.isascii() and marker.isdigit()):
            raise OpenStackError(400, f"marker [{marker}] not found")
        after = int(marker)
    rows = server_services.list_servers(context(), g.db, principal(), after=after,
                                        limit=None if limit is None else limit, **filters)
    body: dict[str, Any] = {"servers": [render_server(s) if detail else
                                        {"id": str(s.id), "name": s.name, "links": _links("servers", s.id)}
                                        for s in rows]}
    if limit is not None and limit > 0 and len(rows) == limit:
        path = "servers/detail" if detail else "servers"
        args = {k: v for k, v in request.args.items() if k != "marker"}
        query = "&".join(f"{k}={v}" for k, v in {**args, "marker": rows[-1].id}.items())
        body["servers_links"] = [{"rel": "next", "href": f"{base_url()}/compute/v2.1/{path}?{query}"}]
    return json_response(body)


@blp.get("/v2.1/servers")
def list_servers():
    return _list(detail=False)


@blp.get("/v2.1/servers/detail")
def list_servers_detail():
    return _list(detail=True)


CREATE_IGNORED = {"min_count": 1, "max_count": 1, "return_reservation_id": False, "OS-DCF:diskConfig": None,
                  "availability_zone": None, "security_groups": None, "config_drive": False}


def _networks(value: Any) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise OpenStackError(400, "Invalid input for field/attribute networks. Value: "
                                  f"{value!r}. {value!r} is not of type 'array'")
    wanted = []
    for item in value:
        if not isinstance(item, dict):
            raise OpenStackError(400, "Invalid input for field/attribute networks: each is an object")
        if item.get("port"):
            wanted.append({"port_id": int_id(str(item["port"]), "Port", 400)})
        elif item.get("uuid"):
            nic: dict[str, Any] = {"network_id": int_id(str(item["uuid"]), "Network", 400)}
            if item.get("fixed_ip"):
                nic["fixed_ip"] = item["fixed_ip"]
            wanted.append(nic)
        else:
            raise OpenStackError(400, "Bad networks format: network uuid is not in proper format")
    return wanted


def _boot_image(body: dict) -> Any:
    """The image to boot from: imageRef, or the one block device mapping the product has (the
    image on the server's local disk, as the CLI sends it); volumes are not supported."""
    mappings = body.get("block_device_mapping_v2")
    if mappings is None:
        return body.get("imageRef")
    if not isinstance(mappings, list) or len(mappings) != 1 or not isinstance(mappings[0], dict):
        raise OpenStackError(400, "Block Device Mapping is Invalid: one image on the local disk is supported")
    bdm = mappings[0]
    if (bdm.get("source_type") != "image" or bdm.get("destination_type", "local") != "local"
            or str(bdm.get("boot_index", 0)) != "0"
            or (body.get("imageRef") not in (None, "") and str(bdm.get("uuid")) != str(body["imageRef"]))):
        raise OpenStackError(400, "Block Device Mapping is Invalid: volumes are not supported; boot an image "
                                  "on the local disk")
    return bdm.get("uuid", body.get("imageRef"))


@blp.post("/v2.1/servers")
def create_server():
    body = body_of("server")
    known = {"name", "flavorRef", "imageRef", "networks", "adminPass", "metadata", "block_device_mapping_v2",
             *CREATE_IGNORED}
    extra = sorted(set(body) - known)
    if extra:
        raise OpenStackError(400, f"Invalid input for field/attribute server. Additional properties are not "
                                  f"allowed ({', '.join(map(repr, extra))} were unexpected)")
    for key in ("min_count", "max_count"):
        if body.get(key, 1) not in (1, "1"):
            raise OpenStackError(400, f"{key}: one server per request here")
    if body.get("security_groups") not in (None, [], [{"name": "default"}]):
        raise OpenStackError(400, "security_groups: this deployment has none besides 'default'")
    if body.get("availability_zone") not in (None, "", "nova"):
        raise OpenStackError(400, f"The requested availability zone is not available: {body['availability_zone']}")
    if not isinstance(body.get("name"), str):
        raise OpenStackError(400, "Invalid input for field/attribute name. 'name' is a required property")
    image_ref = _boot_image(body)
    password = body.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise OpenStackError(400, "Invalid input for field/attribute adminPass.")
    created = server_services.create(context(), g.db, principal(), name=body["name"],
                                     flavor_id=_ref(body.get("flavorRef"), "flavorRef"),
                                     image_id=_ref(image_ref, "imageRef"), password=password,
                                     networks=_networks(body.get("networks")),
                                     metadata=_metadata(body.get("metadata", {})))
    server = created.server
    answer = {"id": str(server.id), "links": _links("servers", server.id), "OS-DCF:diskConfig": "MANUAL",
              "security_groups": [{"name": "default"}]}
    if password is not None:
        answer["adminPass"] = password
    return json_response({"server": answer}, 202, {"Location": _links("servers", server.id)[0]["href"]})


@blp.get("/v2.1/servers/<server_id>")
def show_server(server_id: str):
    return json_response({"server": render_server(_server(server_id))})


@blp.put("/v2.1/servers/<server_id>")
def update_server(server_id: str):
    body = body_of("server")
    extra = sorted(set(body) - {"name"})
    if extra:
        raise OpenStackError(400, f"Invalid input for field/attribute server. Additional properties are not "
                                  f"allowed ({', '.join(map(repr, extra))} were unexpected)")
    server = server_services.modify(context(), g.db, principal(), int_id(server_id, "Instance"), name=body.get("name"))
    return json_response({"server": render_server(server)})


@blp.delete("/v2.1/servers/<server_id>")
def delete_server(server_id: str):
    server_services.act(context(), g.db, principal(), _server(server_id).id, "destroy")
    return empty(204)


# -- actions ----------------------------------------------------------------------------------

def _reboot(server, args):
    kind = (args or {}).get("type") if isinstance(args, dict) else None
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise OpenStackError(400, "Invalid input for field/attribute type. Value must be one of SOFT, HARD.")
    return server_services.act(context(), g.db, principal(), server.id, "reboot", type=kind.lower())


def _resize(server, args):
    if not isinstance(args, dict) or "flavorRef" not in args:
        raise OpenStackError(400, "Invalid input for field/attribute resize. 'flavorRef' is a required property")
    if args["flavorRef"] is not None and _ref(args["flavorRef"], "flavorRef") == server.flavor_id:
        raise OpenStackError(400, "When resizing, instances must change flavor!")
    return server_services.act(context(), g.db, principal(), server.id, "resize", flavor_id=_ref(args["flavorRef"], "flavorRef"))


def _resize_action(name: str, action: str):
    """confirmResize, revertResize: the product's confirm_resize and revert_resize; a server
    whose resize does not await confirmation is Nova's 409 (its vm_state named)."""
    def run(server, _args):
        if server.resize_from_flavor_id is None:
            raise OpenStackError(409, f"Cannot '{name}' instance {server.id} while it is in vm_state "
                                      f"{NOVA_STATES.get(_status(server), NOVA_STATES['ERROR'])[1]}")
        return server_services.act(context(), g.db, principal(), server.id, action)
    return run


_confirm = _resize_action("confirmResize", "confirm_resize")
_revert = _resize_action("revertResize", "revert_resize")

# Nova refuses these while a resize awaits confirmation (the product's own API confirms it first).
REFUSED_WHILE_RESIZED = ("os-start", "os-stop", "reboot", "resize")

ACTIONS = {
    "os-start": lambda server, _a: server_services.act(context(), g.db, principal(), server.id, "start"),
    "os-stop": lambda server, _a: server_services.act(context(), g.db, principal(), server.id, "shutdown"),
    "reboot": _reboot,
    "resize": _resize,
    "confirmResize": _confirm,
    "revertResize": _revert,
}


@blp.post("/v2.1/servers/<server_id>/action")
def server_action(server_id: str):
    body = body_of()
    if len(body) != 1:
        raise OpenStackError(400, "There is no such action: " + ", ".join(sorted(body)) if body else
                             "Malformed request body")
    (name, args), = body.items()
    if name not in ACTIONS:
        raise OpenStackError(400, f"There is no such action: {name}")
    server = _server(server_id)
    if name in REFUSED_WHILE_RESIZED and server.resize_from_flavor_id is not None:
        raise OpenStackError(409, f"Cannot '{name}' instance {server.id} while it is in vm_state resized")
    ACTIONS[name](server, args)
    return empty(204 if name == "confirmResize" else 202)


# -- metadata ---------------------------------------------------------------------------------

def _metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """Nova's schema for metadata: an object of strings, keys 1 to 255 characters and values up to 255
    (the count is the service's: SERVER_METADATA_ITEMS, a 403 as Nova's quota)."""
    if not isinstance(value, dict):
        raise OpenStackError(400, f"Invalid input for field/attribute {field}. Value: {value!r}. "
                                  f"{value!r} is not of type 'object'")
    for key, item in value.items():
        if not 1 <= len(key) <= server_services.METADATA_KEY_MAX:
            raise OpenStackError(400, f"Invalid input for field/attribute {field}. Value: {value!r}. "
                                      f"a key is 1 to {server_services.METADATA_KEY_MAX} characters")
        if not isinstance(item, str) or len(item) > server_services.METADATA_VALUE_MAX:
            raise OpenStackError(400, f"Invalid input for field/attribute {key}. Value: {item!r}. "
                                      f"{item!r} is not of type 'string' of at most 255 characters")
    return value


def _metadata_body(key: str) -> dict[str, str]:
    data = body_of()
    if key not in data:
        raise OpenStackError(400, f"Invalid input for field/attribute {key}: '{key}' is a required property")
    return _metadata(data[key], key)


@blp.get("/v2.1/servers/<server_id>/metadata")
def show_metadata(server_id: str):
    return json_response({"metadata": dict(_server(server_id).metadata_ or {})})


@blp.route("/v2.1/servers/<server_id>/metadata", methods=["PUT", "POST"])
def set_metadata(server_id: str):
    """PUT replaces all of the server's metadata, POST sets the items given over the others."""
    items = _metadata_body("metadata")
    metadata = server_services.update_metadata(context(), g.db, principal(), _server(server_id).id, items=items,
                                               replace=request.method == "PUT")
    return json_response({"metadata": metadata})


def _item(server, key: str) -> str:
    if key not in (server.metadata_ or {}):
        raise OpenStackError(404, "Metadata item was not found")
    return server.metadata_[key]


@blp.get("/v2.1/servers/<server_id>/metadata/<key>")
def show_metadata_item(server_id: str, key: str):
    return json_response({"meta": {key: _item(_server(server_id), key)}})


@blp.put("/v2.1/servers/<server_id>/metadata/<key>")
def set_metadata_item(server_id: str, key: str):
    meta = _metadata_body("meta")
    if len(meta) > 1:
        raise OpenStackError(400, "Request body contains too many items")
    if key not in meta:
        raise OpenStackError(400, "Request body and URI mismatch")
    server_services.update_metadata(context(), g.db, principal(), _server(server_id).id, items=meta)
    return json_response({"meta": meta})


@blp.delete("/v2.1/servers/<server_id>/metadata/<key>")
def delete_metadata_item(server_id: str, key: str):
    server = _server(server_id)
    _item(server, key)
    server_services.update_metadata(context(), g.db, principal(), server.id, delete=key)
    return empty(204)


# -- addresses and interfaces -----------------------------------------------------------------

@blp.get("/v2.1/servers/<server_id>/ips")
def server_ips(server_id: str):
    return json_response({"addresses": _addresses(_server(server_id))})


@blp.get("/v2.1/servers/<server_id>/ips/<network>")
def server_ips_of(server_id: str, network: str):
    addresses = _addresses(_server(server_id))
    if network not in addresses:
        raise OpenStackError(404, "Instance is not a member of specified network")
    return json_response({network: addresses[network]})


def render_interface(port) -> dict:
    return {"port_id": str(port.id), "net_id": str(port.network_id), "mac_addr": port.mac,
            "port_state": port.state, "fixed_ips": [{"subnet_id": str(ip.subnet_id), "ip_address": ip.address}
                                                    for ip in port.addresses]}


@blp.get("/v2.1/servers/<server_id>/os-interface")
def list_interfaces(server_id: str):
    server = _server(server_id)
    ports = network_services.list_ports(context(), g.db, principal(), server_id=server.id)
    return json_response({"interfaceAttachments": [render_interface(p) for p in ports]})


@blp.post("/v2.1/servers/<server_id>/os-interface")
def attach_interface(server_id: str):
    body = body_of("interfaceAttachment")
    server = _server(server_id)
    if body.get("port_id"):
        change = server_services.connect(context(), g.db, principal(), server.id,
                                         port_id=int_id(str(body["port_id"]), "Port", 404))
    elif body.get("net_id"):
        fixed = [{"ip_address": ip.get("ip_address")} for ip in body.get("fixed_ips") or [] if isinstance(ip, dict)]
        change = server_services.connect(context(), g.db, principal(), server.id,
                                         network_id=int_id(str(body["net_id"]), "Network", 404),
                                         fixed_ips=fixed or None)
    else:
        raise OpenStackError(400, "Invalid input for field/attribute interfaceAttachment: port_id or net_id")
    return json_response({"interfaceAttachment": render_interface(change.port)}, 200)


@blp.delete("/v2.1/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id: str, port_id: str):
    server = _server(server_id)
    # Nova deletes a port it made for the server, and keeps one its user made (preserve_on_delete).
    server_services.disconnect(context(), g.db, principal(), server.id, int_id(port_id, "Port"), keep_own_port=True)
    return empty(202)


# -- flavors ----------------------------------------------------------------------------------

def render_flavor(flavor, detail: bool = True) -> dict:
    body = {"id": str(flavor.id), "name": flavor.name, "links": _links("flavors", flavor.id)}
    if detail:
        body.update({"ram": flavor.ram, "vcpus": flavor.cpu, "disk": flavor.disk, "swap": "",
                     "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": bool(flavor.deleted),
                     "os-flavor-access:is_public": True, "rxtx_factor": 1.0})
    return body


@blp.get("/v2.1/flavors")
def list_flavors():
    return json_response({"flavors": [render_flavor(f, False) for f in catalog_services.list_flavors(context(), g.db)]})


@blp.get("/v2.1/flavors/detail")
def list_flavors_detail():
    return json_response({"flavors": [render_flavor(f) for f in catalog_services.list_flavors(context(), g.db)]})


@blp.get("/v2.1/flavors/<flavor_id>")
def show_flavor(flavor_id: str):
    return json_response({"flavor": render_flavor(catalog_services.get_flavor(
        context(), g.db, int_id(flavor_id, "Flavor")))})


@blp.get("/v2.1/flavors/<flavor_id>/os-extra_specs")
def flavor_extra_specs(flavor_id: str):
    flavor = catalog_services.get_flavor(context(), g.db, int_id(flavor_id, "Flavor"))
    return json_response({"extra_specs": {"ganeti:disk_template": flavor.disk_template}})


# -- limits -----------------------------------------------------------------------------------

LIMITS = {  # Nova's absolute limit: (the product's quota resource, whether it is the usage)
    "cyclades.vm": ("maxTotalInstances", "totalInstancesUsed"),
    "cyclades.total_cpu": ("maxTotalCores", "totalCoresUsed"),
    "cyclades.total_ram": ("maxTotalRAMSize", "totalRAMUsed"),
    "cyclades.floating_ip": ("maxTotalFloatingIps", "totalFloatingIpsUsed"),
}


@blp.get("/v2.1/limits")
def limits():
    absolute: dict[str, int] = {"maxServerMeta": context().settings.server_metadata_items, "maxImageMeta": 0, "maxPersonality": 0,
                                "maxPersonalitySize": 0, "maxTotalKeypairs": 0, "maxSecurityGroups": 0,
                                "maxSecurityGroupRules": 0, "maxServerGroups": 0, "maxServerGroupMembers": 0,
                                "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": 0}
    for quota in quota_services.get(context(), g.db, principal()).quotas:
        if quota.resource in LIMITS:
            most, used = LIMITS[quota.resource]
            absolute[most] = -1 if quota.limit is None else quota.limit
            absolute[used] = quota.usage + quota.pending
    return json_response({"limits": {"absolute": absolute, "rate": []}})
