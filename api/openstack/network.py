"""Network (Neutron v2.0): networks, subnets, ports and floating IPs on the product's network
service (orchestrator/services/networks.py, floating_ips.py), with Neutron's bodies and errors."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from api.floating_ip_schemas import FloatingIPSchema
from api.network_schemas import NetworkSchema, PortSchema, SubnetSchema
from orchestrator.services import floating_ips as fip_services
from orchestrator.services import networks as network_services

from .common import (OpenStackError, base_url, body_of, context, empty, install_errors, json_response, neutron_error,
                     principal, require_token)

blp = Blueprint("openstack_network", __name__, url_prefix="/network")
RESOURCES = {"networks": "Network", "subnets": "Subnet", "ports": "Port", "floatingips": "FloatingIP"}


def _neutron_error(status: int, message: str, kind: str | None = None):
    """A product NotFound is Neutron's <Resource>NotFound of the collection asked."""
    if status == 404 and kind in (None, "NotFound"):
        parts = request.path.split("/")
        resource = RESOURCES.get(parts[3]) if len(parts) > 3 else None
        if resource and len(parts) > 4:
            kind, message = f"{resource}NotFound", f"{resource} {parts[4]} could not be found."
    return neutron_error(status, message, kind)


install_errors(blp, _neutron_error)
UNAUTHENTICATED = {"openstack_network.versions", "openstack_network.version"}

require_token(blp, UNAUTHENTICATED)


@blp.get("")
@blp.get("/")
def versions():
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                        "links": [{"rel": "self", "href": f"{base_url()}/network/v2.0/"}]}]})


@blp.get("/v2.0")
@blp.get("/v2.0/")
def version():
    names = [("network", "networks"), ("subnet", "subnets"), ("port", "ports"), ("floatingip", "floatingips")]
    return json_response({"resources": [{"name": one, "collection": many, "links": [
        {"rel": "self", "href": f"{base_url()}/network/v2.0/{many}"}]} for one, many in names]})


@blp.get("/v2.0/extensions")
def extensions():
    return json_response({"extensions": []})


def _id(value: Any, kind: str, status: int = 404) -> int:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit() and 0 < int(text) < 2**31:
        return int(text)
    if status == 404:
        raise OpenStackError(404, f"{kind} {value} could not be found.", f"{kind}NotFound")
    raise OpenStackError(400, f"Invalid input for operation: '{value}' is not a valid {kind.lower()} id.")


def _str(value):
    return None if value is None else str(value)


def _common(body: dict, owner: str | None) -> dict:
    body.update({"tenant_id": owner or "", "project_id": owner or "", "description": "", "tags": [],
                 "revision_number": 0})
    return body


def _allowed(body: dict, known: set[str], ignored: dict[str, Any], what: str) -> None:
    """Neutron refuses attributes it does not know (400); those it knows and this deployment
    does not implement are accepted at their default value only."""
    for key, value in body.items():
        if key in known:
            continue
        if key in ignored:
            if value != ignored[key]:
                raise OpenStackError(400, f"Invalid input for {key}: only {ignored[key]!r} is supported by this "
                                          "deployment", "InvalidInput")
            continue
        raise OpenStackError(400, f"Unrecognized attribute(s) '{key}'", "HTTPBadRequest")


def _page(rows: list, key: str, limit: int | None) -> dict:
    body: dict[str, Any] = {key: rows}
    if limit and len(rows) == limit:
        body[f"{key}_links"] = [{"rel": "next", "href": f"{base_url()}/network/v2.0/{key}?limit={limit}&marker={rows[-1]['id']}"}]
    return body


def _paging() -> dict:
    out: dict[str, Any] = {}
    if request.args.get("limit"):
        out["limit"] = _id(request.args["limit"], "limit", 400)
    if request.args.get("marker"):
        out["after"] = _id(request.args["marker"], "marker", 400)
    return out


def _filter(rows: list[dict], names: tuple[str, ...]) -> list[dict]:
    """Neutron's filters on fields this adapter renders (exact match on the rendered text)."""
    for name in names:
        wanted = request.args.getlist(name)
        if wanted:
            rows = [r for r in rows if str(r.get(name)).lower() in {w.lower() for w in wanted}
                    or str(r.get(name)) in wanted]
    return rows


# -- networks ---------------------------------------------------------------------------------

def render_network(network) -> dict:
    data = NetworkSchema().dump(network)
    return _common({"id": str(data["id"]), "name": data["name"], "status": data["status"], "shared": data["shared"],
                    "router:external": data["router:external"], "subnets": [str(s) for s in data["subnets"]],
                    "admin_state_up": True, "mtu": 1500, "port_security_enabled": False, "is_default": False,
                    "availability_zones": ["nova"], "availability_zone_hints": [], "ipv4_address_scope": None,
                    "ipv6_address_scope": None, "provider:network_type": (data.get("type") or "").lower(),
                    "created_at": data.get("created_at"), "updated_at": data.get("updated_at")}, network.user_id)


NETWORK_IGNORED = {"admin_state_up": True, "description": "", "port_security_enabled": False, "mtu": 1500,
                   "availability_zone_hints": [], "tenant_id": None, "project_id": None}


@blp.get("/v2.0/networks")
def list_networks():
    paging = _paging()
    rows = network_services.list_networks(context(), g.db, principal(), name=request.args.get("name"), **paging)
    return json_response(_page(_filter([render_network(n) for n in rows], ("id", "shared", "router:external", "status")),
                               "networks", paging.get("limit")))


@blp.post("/v2.0/networks")
def create_network():
    body = body_of("network")
    _allowed(body, {"name", "shared", "router:external"}, NETWORK_IGNORED, "network")
    for key in ("tenant_id", "project_id"):
        if body.get(key) not in (None, principal().user_id):
            raise OpenStackError(403, "only a network of your own project can be created here", "PolicyNotAuthorized")
    network = network_services.create_network(context(), g.db, principal(), name=body.get("name") or "",
                                              public=bool(body.get("shared")),
                                              floating_ip_pool=bool(body.get("router:external")))
    return json_response({"network": render_network(network)}, 201)


@blp.get("/v2.0/networks/<network_id>")
def show_network(network_id: str):
    return json_response({"network": render_network(network_services.get_network(
        context(), g.db, principal(), _id(network_id, "Network")))})


@blp.put("/v2.0/networks/<network_id>")
def update_network(network_id: str):
    body = body_of("network")
    _allowed(body, {"name"}, NETWORK_IGNORED, "network")
    network = network_services.modify_network(context(), g.db, principal(), _id(network_id, "Network"),
                                              name=body.get("name"))
    return json_response({"network": render_network(network)})


@blp.delete("/v2.0/networks/<network_id>")
def delete_network(network_id: str):
    network_services.remove_network(context(), g.db, principal(), _id(network_id, "Network"))
    return empty(204)


# -- subnets ----------------------------------------------------------------------------------

def render_subnet(subnet) -> dict:
    data = SubnetSchema().dump(subnet)
    return _common({"id": str(data["id"]), "name": data["name"], "network_id": str(data["network_id"]),
                    "ip_version": data["ip_version"], "cidr": data["cidr"], "gateway_ip": data["gateway_ip"],
                    "enable_dhcp": data["enable_dhcp"], "dns_nameservers": data["dns_nameservers"],
                    "allocation_pools": data["allocation_pools"], "host_routes": [], "subnetpool_id": None,
                    "ipv6_address_mode": None, "ipv6_ra_mode": None, "service_types": [], "segment_id": None,
                    "created_at": None, "updated_at": None}, data.get("user_id"))


SUBNET_IGNORED = {"description": "", "host_routes": [], "subnetpool_id": None, "tenant_id": None,
                  "project_id": None, "service_types": [], "use_default_subnet_pool": False}


@blp.get("/v2.0/subnets")
def list_subnets():
    paging = _paging()
    network_id = request.args.get("network_id")
    rows = network_services.list_subnets(context(), g.db, principal(), **paging,
                                         network_id=_id(network_id, "Network", 400) if network_id else None)
    return json_response(_page(_filter([render_subnet(s) for s in rows], ("id", "name", "ip_version", "cidr")),
                               "subnets", paging.get("limit")))


@blp.post("/v2.0/subnets")
def create_subnet():
    body = body_of("subnet")
    known = {"network_id", "cidr", "ip_version", "name", "gateway_ip", "enable_dhcp", "dns_nameservers",
             "allocation_pools"}
    _allowed(body, known, SUBNET_IGNORED, "subnet")
    if "network_id" not in body or "cidr" not in body:
        raise OpenStackError(400, "Bad subnets request: network_id and cidr are required", "BadRequest")
    fields = {k: body[k] for k in ("cidr", "ip_version", "gateway_ip", "enable_dhcp", "dns_nameservers",
                                   "allocation_pools") if k in body}
    if body.get("name"):
        fields["name"] = body["name"]
    subnet = network_services.create_subnet(context(), g.db, principal(),
                                            network_id=_id(body["network_id"], "Network"), **fields)
    return json_response({"subnet": render_subnet(subnet)}, 201)


@blp.get("/v2.0/subnets/<subnet_id>")
def show_subnet(subnet_id: str):
    return json_response({"subnet": render_subnet(network_services.get_subnet(
        context(), g.db, principal(), _id(subnet_id, "Subnet")))})


@blp.delete("/v2.0/subnets/<subnet_id>")
def delete_subnet(subnet_id: str):
    network_services.remove_subnet(context(), g.db, principal(), _id(subnet_id, "Subnet"))
    return empty(204)


# -- ports ------------------------------------------------------------------------------------

def render_port(port) -> dict:
    data = PortSchema().dump(port)
    device = data.get("device_id")
    return _common({"id": str(data["id"]), "name": data["name"], "network_id": str(data["network_id"]),
                    "device_id": _str(device) or "", "device_owner": "compute:nova" if device else "",
                    "mac_address": data["mac_address"], "status": data["status"], "admin_state_up": True,
                    "fixed_ips": [{"subnet_id": _str(ip.get("subnet_id")), "ip_address": ip.get("ip_address")}
                                  for ip in data.get("fixed_ips") or []],
                    "security_groups": [], "allowed_address_pairs": [], "extra_dhcp_opts": [],
                    "binding:vnic_type": "normal", "port_security_enabled": False,
                    "created_at": data.get("created_at"), "updated_at": data.get("updated_at")}, data.get("user_id"))


PORT_IGNORED = {"admin_state_up": True, "description": "", "tenant_id": None, "project_id": None,
                "binding:vnic_type": "normal", "device_owner": ""}


@blp.get("/v2.0/ports")
def list_ports():
    paging = _paging()
    args = request.args
    rows = network_services.list_ports(context(), g.db, principal(), **paging,
                                       network_id=_id(args["network_id"], "Network", 400) if args.get("network_id") else None,
                                       server_id=_id(args["device_id"], "Device", 400) if args.get("device_id") else None)
    return json_response(_page(_filter([render_port(p) for p in rows], ("id", "name", "mac_address", "status")),
                               "ports", paging.get("limit")))


@blp.post("/v2.0/ports")
def create_port():
    body = body_of("port")
    _allowed(body, {"network_id", "name", "fixed_ips", "device_id"}, PORT_IGNORED, "port")
    if "network_id" not in body:
        raise OpenStackError(400, "Failed to parse request. Required attribute 'network_id' not specified")
    fixed = body.get("fixed_ips")
    if fixed is not None:
        if not isinstance(fixed, list) or not all(isinstance(ip, dict) for ip in fixed):
            raise OpenStackError(400, "Invalid input for fixed_ips: a list of objects is expected")
        fixed = [{**({"subnet_id": _id(ip["subnet_id"], "Subnet")} if "subnet_id" in ip else {}),
                  **({"ip_address": ip["ip_address"]} if "ip_address" in ip else {})} for ip in fixed]
    device = _id(body["device_id"], "Device", 400) if body.get("device_id") else None
    result = network_services.create_port(context(), g.db, principal(), network_id=_id(body["network_id"], "Network"),
                                          name=body.get("name") or "", fixed_ips=fixed, device_id=device)
    return json_response({"port": render_port(getattr(result, "port", result))}, 201)


@blp.get("/v2.0/ports/<port_id>")
def show_port(port_id: str):
    return json_response({"port": render_port(network_services.get_port(
        context(), g.db, principal(), _id(port_id, "Port")))})


@blp.delete("/v2.0/ports/<port_id>")
def delete_port(port_id: str):
    network_services.remove_port(context(), g.db, principal(), _id(port_id, "Port"))
    return empty(204)


# -- floating IPs -----------------------------------------------------------------------------

def render_fip(fip) -> dict:
    data = FloatingIPSchema().dump(fip)
    attached = data.get("device_id") is not None
    return _common({"id": str(data["id"]), "floating_ip_address": data["floating_ip_address"],
                    "floating_network_id": str(data["floating_network_id"]), "port_id": _str(data.get("port_id")),
                    "fixed_ip_address": data["floating_ip_address"] if attached else None, "router_id": None,
                    "status": data["status"], "port_details": None, "port_forwardings": [], "qos_policy_id": None,
                    "created_at": data.get("created_at"), "updated_at": data.get("updated_at")}, data.get("user_id"))


FIP_IGNORED = {"description": "", "tenant_id": None, "project_id": None}


@blp.get("/v2.0/floatingips")
def list_fips():
    paging = _paging()
    args = request.args
    rows = fip_services.list_floating_ips(
        context(), g.db, principal(), **paging,
        network_id=_id(args["floating_network_id"], "Network", 400) if args.get("floating_network_id") else None)
    return json_response(_page(_filter([render_fip(f) for f in rows],
                                       ("id", "floating_ip_address", "port_id", "status", "fixed_ip_address")),
                               "floatingips", paging.get("limit")))


@blp.post("/v2.0/floatingips")
def create_fip():
    body = body_of("floatingip")
    _allowed(body, {"floating_network_id", "floating_ip_address"}, {**FIP_IGNORED, "port_id": None}, "floatingip")
    if "floating_network_id" not in body:
        raise OpenStackError(400, "Failed to parse request. Required attribute 'floating_network_id' not specified")
    fip = fip_services.allocate(context(), g.db, principal(), network_id=_id(body["floating_network_id"], "Network"),
                                address=body.get("floating_ip_address"))
    return json_response({"floatingip": render_fip(fip)}, 201)


@blp.get("/v2.0/floatingips/<fip_id>")
def show_fip(fip_id: str):
    return json_response({"floatingip": render_fip(fip_services.get_floating_ip(
        context(), g.db, principal(), _id(fip_id, "FloatingIP")))})


@blp.put("/v2.0/floatingips/<fip_id>")
def update_fip(fip_id: str):
    """Neutron associates a floating IP with a port (NAT to its fixed address). Here there is
    no NAT: the port names its server, and the floating IP is attached to that server by the
    server's connect operation, on a NIC (a port) of its own on the public network."""
    body = body_of("floatingip")
    _allowed(body, {"port_id"}, {**FIP_IGNORED, "fixed_ip_address": None}, "floatingip")
    if "port_id" not in body:
        raise OpenStackError(400, "Failed to parse request: port_id is expected")
    server_id = None
    if body["port_id"] is not None:
        port = network_services.get_port(context(), g.db, principal(), _id(body["port_id"], "Port"))
        if port.server_id is None:
            raise OpenStackError(400, f"Port {port.id} is on no server: a floating IP goes to a server here",
                                 "BadRequest")
        server_id = port.server_id
    fip = fip_services.update(context(), g.db, principal(), _id(fip_id, "FloatingIP"), device_id=server_id)
    return json_response({"floatingip": render_fip(fip)})


@blp.delete("/v2.0/floatingips/<fip_id>")
def delete_fip(fip_id: str):
    fip_services.release(context(), g.db, principal(), _id(fip_id, "FloatingIP"))
    return empty(204)
