"""Marshmallow schemas of floating IPs, with Neutron's field names (`floating_ip_address`,
`floating_network_id`, `port_id`, plus Synnefo's `instance_id` as `device_id`) in this API's
flat bodies and cursors."""
from __future__ import annotations

import marshmallow as ma

from .network_schemas import CURSOR, LIMIT, _ip, _next
from .schemas import ID, USER_ID, OperationSchema, UtcDateTime


class FloatingIPSchema(ma.Schema):
    id = ma.fields.Integer(attribute="ip.id")
    floating_ip_address = ma.fields.String(attribute="ip.address")
    floating_network_id = ma.fields.Integer(attribute="network_id")
    user_id = ma.fields.String(attribute="ip.user_id")
    port_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "the port (a NIC of its server on the public network) holding it, or null"})
    device_id = ma.fields.Integer(attribute="server_id", allow_none=True, metadata={
        "description": "the server it is attached to, or null"})
    status = ma.fields.Function(lambda fip: "ACTIVE" if fip.server_id is not None else "DOWN", metadata={
        "type": "string", "description": "ACTIVE on a server, DOWN on none"})
    operation = ma.fields.Nested(OperationSchema, allow_none=True, metadata={
        "description": "in a 202 only: the server's connect or disconnect operation"})
    created_at = UtcDateTime(attribute="ip.created_at")
    updated_at = UtcDateTime(attribute="ip.updated_at")


class FloatingIPCreateSchema(ma.Schema):
    """From a public network that is a floating-IP pool (`router:external`) and not drained."""

    network_id = ma.fields.Integer(data_key="floating_network_id", required=True, strict=True, validate=ID)
    address = ma.fields.String(data_key="floating_ip_address", validate=_ip("floating_ip_address"),
                               metadata={"description": "default: the pool's next free address"})
    owner = ma.fields.String(data_key="user_id", validate=USER_ID,
                             metadata={"description": "administrators: the owner (default: the caller)"})


class FloatingIPUpdateSchema(ma.Schema):
    device_id = ma.fields.Integer(required=True, allow_none=True, strict=True, validate=ID, metadata={
        "description": "a server of the owner's to attach it to, or null to detach it"})


class FloatingIPQuerySchema(ma.Schema):
    network_id = ma.fields.Integer(data_key="floating_network_id", validate=ID)
    server_id = ma.fields.Integer(data_key="device_id", validate=ID)
    limit = ma.fields.Integer(load_default=100, validate=LIMIT)
    cursor = CURSOR


class FloatingIPPageSchema(ma.Schema):
    floatingips = ma.fields.List(ma.fields.Nested(FloatingIPSchema), required=True)
    next = _next()


class AddressLogSchema(ma.Schema):
    address = ma.fields.String()
    floating_ip_id = ma.fields.Integer(attribute="ip_address_id")
    network_id = ma.fields.Integer()
    device_id = ma.fields.Integer(attribute="server_id")
    user_id = ma.fields.String()
    allocated_at = UtcDateTime(metadata={"description": "when its NIC was on the server"})
    released_at = UtcDateTime(allow_none=True, metadata={"description": "when it left; null while it holds it"})
    active = ma.fields.Boolean()


class AddressLogQuerySchema(ma.Schema):
    address = ma.fields.String(validate=_ip("address"))
    server_id = ma.fields.Integer(data_key="device_id", validate=ID)
    fip_id = ma.fields.Integer(data_key="floating_ip_id", validate=ID)


class AddressLogListSchema(ma.Schema):
    history = ma.fields.List(ma.fields.Nested(AddressLogSchema), required=True)
