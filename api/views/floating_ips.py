"""Floating IPs (Neutron's /floatingips): allocate and release answer at once (201, 200) with
the committed row; attaching and detaching answer 202 with the server's connect or disconnect
operation that hot-adds or hot-removes the NIC holding the address."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from orchestrator.services import floating_ips

from ..auth import context, principal, require_admin, require_principal
from ..errors import documents, named_as_sent
from ..floating_ip_schemas import (AddressLogListSchema, AddressLogQuerySchema, FloatingIPCreateSchema,
                                   FloatingIPPageSchema, FloatingIPQuerySchema, FloatingIPSchema,
                                   FloatingIPUpdateSchema)
from ..parsing import Blueprint
from .networks import _page
from .. import pagination

blp = Blueprint("floatingips", __name__, url_prefix="/api/v1/floatingips",
                description="Floating IPs: public addresses a user owns and moves between servers")
blp.before_request(require_principal)

NAMES = {"network_id": "floating_network_id", "address": "floating_ip_address", "owner": "user_id"}


@blp.route("")
class FloatingIPs(MethodView):
    @blp.arguments(FloatingIPQuerySchema, location="query")
    @blp.response(200, FloatingIPPageSchema)
    @documents(blp, 401, 404, 422)
    def get(self, query):
        """The caller's floating IPs (everyone's for an administrator), by id, a page at a time;
        filters: floating_network_id, device_id."""
        limit, paging = _page(query)
        rows = floating_ips.list_floating_ips(context(), g.db, principal(), **paging, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"floatingips": rows, "next": next_cursor}

    @blp.arguments(FloatingIPCreateSchema)
    @blp.response(201, FloatingIPSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def post(self, data):
        """Allocate a floating IP from a public network that is a floating-IP pool: the address
        asked (`floating_ip_address`) or the pool's next. A network that is no pool, is drained
        or has no free address: 409 naming `floating_network_id`; an address taken: 409 naming
        `floating_ip_address`."""
        with named_as_sent(NAMES):
            return floating_ips.allocate(context(), g.db, principal(), **data), 201


@blp.route("/<int:fip_id>")
class FloatingIPById(MethodView):
    @blp.etag
    @blp.response(200, FloatingIPSchema)
    @documents(blp, 401, 404)
    def get(self, fip_id: int):
        return floating_ips.get_floating_ip(context(), g.db, principal(), fip_id)

    @blp.arguments(FloatingIPUpdateSchema)
    @blp.response(202, FloatingIPSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def put(self, data, fip_id: int):
        """Attach to a server (`device_id`) or detach (`device_id: null`): 202 with the server's
        connect or disconnect operation; the address is on the instance's NIC when the connect
        has succeeded. 409 when it is attached already (detach it first: moving is a detach and
        an attach), not attached, on a network drained since, or while another operation is in
        flight for the server."""
        with named_as_sent({"networks": "device_id", "port_id": "device_id"}):
            fip = floating_ips.update(context(), g.db, principal(), fip_id, **data)
        return fip

    @blp.response(200, FloatingIPSchema)
    @documents(blp, 401, 404, 409)
    def delete(self, fip_id: int):
        """Release a floating IP to its pool: 200 with it as it was; 409 while it is attached."""
        return floating_ips.release(context(), g.db, principal(), fip_id)


@blp.route("/history")
class AddressHistory(MethodView):
    @blp.arguments(AddressLogQuerySchema, location="query")
    @blp.response(200, AddressLogListSchema)
    @documents(blp, 401, 403, 404, 422)
    def get(self, query):
        """Administrators: which server held a public address when, newest first (for abuse
        reports), by `address`, `device_id` or `floating_ip_id`."""
        require_admin()
        return {"history": floating_ips.history(context(), g.db, principal(), **query)}
