"""Marshmallow schemas of networks, subnets, ports and pools.

Field names are those of OpenStack's Network API (Neutron v2.0) where it has one, since
Synnefo's Cyclades exposes that API (`shared`, `router:external`, `gateway_ip`,
`enable_dhcp`, `allocation_pools`, `device_id`, `mac_address`, `fixed_ips`), plus Synnefo's
`type` for a network's flavor; the bodies are this API's own: flat JSON, as POST
/api/v1/servers takes, lists paged with `limit` and `cursor` (`next`).

Every string and every list is bounded; addresses and CIDRs are refused here, naming the
field, when they are no address or network at all, and by the service (which knows the
subnets and the pools) when they overlap, fall outside the subnet or are taken.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from orchestrator import validation
from orchestrator.errors import Invalid
from orchestrator.models import PoolType
from orchestrator.network import addressing, flavors, pools, ports

from .schemas import ID, NAME, USER_ID, JsonBoolean, OperationSchema, UtcDateTime, rule

POOL_TYPES = pools.TYPES
IP_MAX = 45  # the longest text of an IPv6 address (with an embedded IPv4)
CIDR_MAX = IP_MAX + 4
MAX_RESERVED_PER_CHANGE = 1024
LIMIT = validate.Range(1, 1000)


def _optional_name(value: str, field: str) -> None:
    """Neutron's names may be empty; any other is a name (validation.check_name)."""
    if value != "":
        validation.check_name(value, field)


# Addresses and networks as the spec states them (a client's generator makes valid ones from
# these); addressing.parse_address and parse_network are the rules. Stricter than the rules
# only in leaving out IPv6 with an embedded IPv4 and zone ids, which the schema then refuses.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
         rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
         rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:))")
IP_PATTERN = rf"^({_IPV4}|{_IPV6})$"
CIDR_PATTERN = rf"^({_IPV4}/(3[0-2]|[12]?[0-9])|{_IPV6}/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"


def _ip(field: str) -> list:
    """An IPv4 or IPv6 address."""
    return [validate.Length(min=2, max=IP_MAX), validate.Regexp(IP_PATTERN, error="not an IPv4 or IPv6 address"),
            rule(addressing.parse_address, field)]


# The subnet's ip_version and its host bits are the rest of the rule (addressing.parse_network).
CIDR = [validate.Length(min=4, max=CIDR_MAX),
        validate.Regexp(CIDR_PATTERN, error="must be a network in CIDR notation, e.g. 192.168.2.0/24")]
OPTIONAL_NAME = [validate.Length(max=validation.NAME_MAX), rule(_optional_name, "name")]
LINK = [validate.Length(min=1, max=addressing.LINK_MAX),
        validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", error="a bridge or routing table: letters, digits, _ . : -"),
        rule(addressing.check_link, "link")]
# Five hex digits of a unicast MAC (the first octet even).
MAC_PREFIX = [validate.Length(min=7, max=7),
              validate.Regexp(r"^[0-9A-Fa-f][02468aceACE]:[0-9A-Fa-f]{2}:[0-9A-Fa-f]$",
                              error="five hex digits of a unicast MAC, as aa:00:0"),
              rule(addressing.check_mac_prefix, "mac_prefix")]
# A bridge pool's base (prv) or a MAC prefix (aa:00:0): pools.check_base, by type, is the rule.
POOL_VALUE = [validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9:._-]+$",
                                                              error="letters, digits and : . _ - only")]
CURSOR = ma.fields.String(validate=validate.Length(1, 256), metadata={"description": "the `next` of the previous page"})


def _next():
    return ma.fields.String(allow_none=True, required=True,
                            metadata={"description": "opaque cursor of the next page; null on the last one"})


# -- networks -------------------------------------------------------------------

class NetworkSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    user_id = ma.fields.String(allow_none=True, metadata={"description": "the owner; null for a public network"})
    status = ma.fields.String(attribute="state", metadata={"description": "ACTIVE, PENDING, ERROR or DELETED"})
    type = ma.fields.String(attribute="flavor", metadata={"description": f"Synnefo's flavor: {', '.join(flavors.FLAVORS)}"})
    shared = ma.fields.Boolean(attribute="public", metadata={"description": "public: every user may use it"})
    router_external = ma.fields.Boolean(attribute="floating_ip_pool", data_key="router:external", metadata={
        "description": "a public network users allocate floating IPs from (Synnefo's floating_ip_pool)"})
    drained = ma.fields.Boolean(metadata={"description": "no floating IP is drawn from it or attached any more"})
    subnets = ma.fields.List(ma.fields.Integer(), attribute="subnet_ids", dump_only=True, metadata={
        "description": "the ids of its subnets (a deleted network: those it had)"})
    mode = ma.fields.String(allow_none=True, metadata={"description": "Ganeti's network mode (bridged, routed, ...)"})
    link = ma.fields.String(allow_none=True, metadata={"description": "Ganeti's link: the bridge or routing table"})
    mac_prefix = ma.fields.String(allow_none=True)
    deleted = ma.fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class NetworkCreateSchema(ma.Schema):
    """A private network of the caller's (or, for an administrator, of `user_id`'s). Which
    `type` a user may choose, and where its link and MAC prefix come from (the pools), is the
    service's to say; `mode`, `link` and `mac_prefix` are for administrators."""

    name = ma.fields.String(required=True, validate=NAME)
    flavor = ma.fields.String(data_key="type", validate=validate.OneOf(flavors.FLAVORS),
                              metadata={"description": "default MAC_FILTERED"})
    mode = ma.fields.String(validate=validate.OneOf(flavors.MODES), metadata={"description": "administrators only"})
    link = ma.fields.String(validate=LINK, metadata={"description": "administrators only: a bridge or routing table"})
    mac_prefix = ma.fields.String(validate=MAC_PREFIX, metadata={"description": "administrators only: as aa:00:0"})
    owner = ma.fields.String(data_key="user_id", validate=USER_ID,
                             metadata={"description": "administrators: the owner (default: the caller)"})
    public = JsonBoolean(data_key="shared", metadata={
        "description": "administrators: a public network, put on its backends by network_create operations "
                       "(202); it needs `cidr`"})
    backend_ids = ma.fields.List(ma.fields.Integer(strict=True, validate=ID), validate=validate.Length(min=1, max=100),
                                 metadata={"description": "a public network's backends (default: every online one)"})
    cidr = ma.fields.String(validate=CIDR, metadata={
        "description": "its IPv4 subnet, made with it, e.g. 203.0.113.0/24 (a public network needs one)"})
    gateway_ip = ma.fields.String(allow_none=True, validate=_ip("gateway_ip"),
                                  metadata={"description": "the subnet's gateway (default: the first host; "
                                                           "null: none)"})
    floating_ip_pool = JsonBoolean(data_key="router:external", metadata={
        "description": "administrators, a public network: users allocate floating IPs from it"})


class NetworkModifySchema(ma.Schema):
    name = ma.fields.String(validate=NAME)
    floating_ip_pool = JsonBoolean(data_key="router:external", metadata={
        "description": "administrators, a public network: a floating-IP pool, or no longer one"})
    drained = JsonBoolean(metadata={
        "description": "administrators: no floating IP is drawn from it or attached any more (those attached "
                       "stay)"})


class NetworkOperationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    backend_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(metadata={"description": "PENDING, RUNNING, SUCCEEDED or FAILED"})
    step = ma.fields.String()
    job_id = ma.fields.Integer(allow_none=True)
    job_status = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)


class NetworkOnBackendSchema(ma.Schema):
    backend_id = ma.fields.Integer()
    clustername = ma.fields.Function(lambda row: row.backend.clustername if row.backend else None)
    status = ma.fields.String(attribute="state", metadata={"description": "PENDING, ACTIVE, ERROR or DELETED"})
    job_id = ma.fields.Integer(allow_none=True)
    job_status = ma.fields.String(allow_none=True)


class NetworkDetailSchema(NetworkSchema):
    """A network with where it is: each backend's copy (`backends`) and the operations that put
    it there (`operations`, oldest first; empty for a private network on no backend)."""

    backends = ma.fields.List(ma.fields.Nested(NetworkOnBackendSchema), attribute="backend_networks")
    operations = ma.fields.List(ma.fields.Nested(NetworkOperationSchema))


class NetworkQuerySchema(ma.Schema):
    name = ma.fields.String(validate=NAME, metadata={"description": "exact name"})
    flavor = ma.fields.String(data_key="type", validate=validate.OneOf(flavors.FLAVORS))
    user_id = ma.fields.String(validate=USER_ID, metadata={"description": "one owner's (users: their own only)"})
    public = ma.fields.Boolean(data_key="shared", metadata={"description": "the public ones, or the private ones"})
    deleted = ma.fields.Boolean(load_default=False, metadata={"description": "include the deleted networks"})
    limit = ma.fields.Integer(load_default=100, validate=LIMIT)
    cursor = CURSOR


class NetworkPageSchema(ma.Schema):
    networks = ma.fields.List(ma.fields.Nested(NetworkSchema), required=True)
    next = _next()



class BackendNetworkRowSchema(ma.Schema):
    state = ma.fields.String(metadata={"description": "PENDING, ACTIVE, ERROR or DELETED"})
    job_id = ma.fields.Integer(allow_none=True, metadata={"description": "the last Ganeti job about it there"})
    job_status = ma.fields.String(allow_none=True)


class GanetiNetworkSchema(ma.Schema):
    """GET /2/networks/<name> as the cluster answers it (rapi.rst), these fields only."""

    name = ma.fields.String()
    network = ma.fields.String(allow_none=True)
    gateway = ma.fields.String(allow_none=True)
    mac_prefix = ma.fields.String(allow_none=True)
    free_count = ma.fields.Integer(allow_none=True)
    reserved_count = ma.fields.Integer(allow_none=True)
    map = ma.fields.String(allow_none=True, metadata={"description": "one character an address: X reserved or "
                                                                    "used, . free"})
    group_list = ma.fields.List(ma.fields.List(ma.fields.String()), allow_none=True,
                                metadata={"description": "the node groups it is connected to: [group, mode, link, "
                                                         "vlan]"})
    inst_list = ma.fields.List(ma.fields.String(), allow_none=True,
                               metadata={"description": "the instances with a NIC on it"})
    external_reservations = ma.fields.String(allow_none=True)


class NetworkBackendSchema(ma.Schema):
    backend_id = ma.fields.Integer()
    clustername = ma.fields.String()
    offline = ma.fields.Boolean(metadata={"description": "offline backends are listed, not called"})
    row = ma.fields.Nested(BackendNetworkRowSchema, allow_none=True,
                           metadata={"description": "the backend_networks row; null: none"})
    ganeti = ma.fields.Nested(GanetiNetworkSchema, allow_none=True,
                              metadata={"description": "null: the cluster has no network of that name (or was "
                                                       "not read: see error)"})
    error = ma.fields.String(allow_none=True, metadata={"description": "why the cluster was not read, or could "
                                                                      "not be"})


class NetworkInspectSchema(ma.Schema):
    network = ma.fields.Nested(NetworkDetailSchema)
    ganeti_name = ma.fields.String(metadata={"description": "its Ganeti network's name: BACKEND_PREFIX_ID net-<id>"})
    backends = ma.fields.List(ma.fields.Nested(NetworkBackendSchema), metadata={"description": "every backend, by id"})

# -- subnets --------------------------------------------------------------------

class AllocationPoolSchema(ma.Schema):
    start = ma.fields.String(required=True, validate=_ip("allocation_pools"))
    end = ma.fields.String(required=True, validate=_ip("allocation_pools"))


class SubnetSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    network_id = ma.fields.Integer()
    user_id = ma.fields.String(allow_none=True)
    ip_version = ma.fields.Integer()
    cidr = ma.fields.String()
    gateway_ip = ma.fields.String(attribute="gateway", allow_none=True)
    enable_dhcp = ma.fields.Boolean(attribute="dhcp")
    dns_nameservers = ma.fields.List(ma.fields.String())
    allocation_pools = ma.fields.List(ma.fields.Nested(AllocationPoolSchema),
                                      metadata={"description": "empty for IPv6: its addresses are EUI-64"})


class SubnetCreateSchema(ma.Schema):
    """At most one IPv4 and one IPv6 subnet per network. `gateway_ip` left out: the subnet's
    first host; null: no gateway. `allocation_pools` left out: every host of the subnet but the
    gateway. An IPv6 subnet is a /64 without pools (its addresses are the EUI-64 of the MACs)."""

    network_id = ma.fields.Integer(required=True, strict=True, validate=ID)
    cidr = ma.fields.String(required=True, validate=CIDR, metadata={"description": "e.g. 192.168.2.0/24"})
    ip_version = ma.fields.Integer(strict=True, validate=validate.OneOf([4, 6]), load_default=4)
    name = ma.fields.String(validate=OPTIONAL_NAME, metadata={"description": "default empty"})
    gateway_ip = ma.fields.String(allow_none=True, validate=_ip("gateway_ip"),
                                  metadata={"description": "default: the first host; null: no gateway"})
    enable_dhcp = JsonBoolean(metadata={"description": "default true"})
    dns_nameservers = ma.fields.List(ma.fields.String(validate=_ip("dns_nameservers")),
                                     validate=validate.Length(max=addressing.MAX_DNS_NAMESERVERS))
    allocation_pools = ma.fields.List(ma.fields.Nested(AllocationPoolSchema),
                                      validate=validate.Length(min=1, max=addressing.MAX_ALLOCATION_POOLS),
                                      metadata={"description": "IPv4 only; default: the subnet's hosts but the "
                                                               "gateway"})

    @ma.validates_schema
    def _cidr_of_its_version(self, data, **_kwargs):
        if "cidr" in data and data.get("ip_version") in (4, 6):
            try:
                addressing.parse_network(data["cidr"], data["ip_version"])
            except Invalid as exc:
                raise ma.ValidationError(exc.message, field_name="cidr") from None


class SubnetQuerySchema(ma.Schema):
    network_id = ma.fields.Integer(validate=ID)
    limit = ma.fields.Integer(load_default=100, validate=LIMIT)
    cursor = CURSOR


class SubnetPageSchema(ma.Schema):
    subnets = ma.fields.List(ma.fields.Nested(SubnetSchema), required=True)
    next = _next()


class AddressPoolSchema(ma.Schema):
    size = ma.fields.Integer(metadata={"description": "addresses of the subnet, network and broadcast included"})
    free = ma.fields.Integer()
    used = ma.fields.Integer()
    reserved = ma.fields.Integer(metadata={"description": "outside the allocation pools, or reserved"})
    map = ma.fields.String(metadata={"description": "one character an address, in order: X taken or reserved, "
                                                    ". free"})


class AddressSchema(ma.Schema):
    address = ma.fields.String()
    port_id = ma.fields.Integer(allow_none=True)


class SubnetInspectSchema(ma.Schema):
    subnet = ma.fields.Nested(SubnetSchema)
    pool = ma.fields.Nested(AddressPoolSchema, allow_none=True, metadata={"description": "null for IPv6"})
    addresses = ma.fields.List(ma.fields.Nested(AddressSchema), metadata={"description": "the addresses in use"})


# -- ports ----------------------------------------------------------------------

class FixedIpSchema(ma.Schema):
    subnet_id = ma.fields.Integer(strict=True, validate=ID)
    ip_address = ma.fields.String(validate=_ip("fixed_ips"))


class PortSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    network_id = ma.fields.Integer()
    user_id = ma.fields.String()
    device_id = ma.fields.Integer(attribute="server_id", allow_none=True,
                                  metadata={"description": "the server it is attached to, or null"})
    mac_address = ma.fields.String(attribute="mac")
    fixed_ips = ma.fields.List(ma.fields.Nested(FixedIpSchema))
    status = ma.fields.String(attribute="state", metadata={
        "description": "DOWN on no server (or a stopped one), BUILD until its NIC is added, ACTIVE, ERROR"})
    operation = ma.fields.Nested(OperationSchema, metadata={
        "description": "in a 202 only: the server operation adding or removing its NIC"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PortCreateSchema(ma.Schema):
    """An address of each of the network's subnets by default, from its allocation pools; or
    the `fixed_ips` asked for (a subnet, an address, or both), which must be free and in the
    pools."""

    network_id = ma.fields.Integer(required=True, strict=True, validate=ID)
    name = ma.fields.String(validate=OPTIONAL_NAME, metadata={"description": "default empty"})
    fixed_ips = ma.fields.List(ma.fields.Nested(FixedIpSchema), validate=validate.Length(max=ports.MAX_FIXED_IPS),
                               metadata={"description": "default: an address of each subnet; [] none"})
    device_id = ma.fields.Integer(strict=True, validate=ID, metadata={
        "description": "a server to attach the port to: 202, and a connect operation hot-adds its NIC"})


class ServerNicSchema(ma.Schema):
    """One NIC of a server being created: a new port on a network (`network_id`, with its
    `fixed_ip` or the pool's next address), or one of the caller's ports (`port_id`)."""

    network_id = ma.fields.Integer(strict=True, validate=ID)
    fixed_ip = ma.fields.String(validate=_ip("networks"))
    port_id = ma.fields.Integer(strict=True, validate=ID)


class PortQuerySchema(ma.Schema):
    network_id = ma.fields.Integer(validate=ID)
    server_id = ma.fields.Integer(data_key="device_id", validate=ID)
    limit = ma.fields.Integer(load_default=100, validate=LIMIT)
    cursor = CURSOR


class PortPageSchema(ma.Schema):
    ports = ma.fields.List(ma.fields.Nested(PortSchema), required=True)
    next = _next()


# -- pools (administrators) -----------------------------------------------------

class PoolSchema(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String(metadata={"description": " or ".join(POOL_TYPES)})
    base = ma.fields.String()
    size = ma.fields.Integer()
    free = ma.fields.Integer()
    used = ma.fields.Integer()
    reserved = ma.fields.Integer(metadata={"description": "values no network may take (an operator's, or never "
                                                         "handed out)"})


class PoolCreateSchema(ma.Schema):
    """As snf-manage pool-create: bridges named `base`1, `base`2, ..., or MAC prefixes from
    `base` (those not unicast and locally administered are reserved for good)."""

    type = ma.fields.String(required=True, validate=validate.OneOf(POOL_TYPES))
    base = ma.fields.String(required=True, validate=POOL_VALUE, metadata={"description": "prv, or aa:00:0"})
    size = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, pools.MAX_SIZE))

    @ma.validates_schema
    def _base_of_its_type(self, data, **_kwargs):
        if data.get("type") in POOL_TYPES and "base" in data:
            try:
                pools.check_base(data["type"], data["base"])
            except Invalid as exc:
                raise ma.ValidationError(exc.message, field_name="base") from None


class PoolModifySchema(ma.Schema):
    size = ma.fields.Integer(strict=True, validate=validate.Range(1, pools.MAX_SIZE))
    add_reserved = ma.fields.List(ma.fields.String(validate=POOL_VALUE),
                                  validate=validate.Length(max=MAX_RESERVED_PER_CHANGE))
    remove_reserved = ma.fields.List(ma.fields.String(validate=POOL_VALUE),
                                     validate=validate.Length(max=MAX_RESERVED_PER_CHANGE))


class PoolQuerySchema(ma.Schema):
    type = ma.fields.String(validate=validate.OneOf((*POOL_TYPES, PoolType.IP.value)),
                            metadata={"description": "default: bridge and mac-prefix; ip: the subnets' address pools"})
