"""Networks, subnets, ports and (administrators) the pools of bridges and MAC prefixes.

Neutron's field names (api.network_schemas), this API's flat bodies and cursors. Every
write here commits its rows before it answers (201 or 200) with them; a public network's
create and a removal from backends answer 202 with the network_create or network_remove
operations that do the rest (orchestrator.network.operations). Nothing here calls a cluster
itself but an administrator's inspect of a network.
"""
from __future__ import annotations


from flask import g
from flask.views import MethodView

from orchestrator.services import networks

from .. import pagination
from ..auth import admin_only, context, principal, require_principal
from ..errors import documents, named_as_sent
from ..network_schemas import (NetworkCreateSchema, NetworkDetailSchema, NetworkInspectSchema, NetworkModifySchema,
                               NetworkPageSchema,
                               NetworkQuerySchema, NetworkSchema, PoolCreateSchema, PoolModifySchema, PoolQuerySchema,
                               PoolSchema, PortCreateSchema, PortPageSchema, PortQuerySchema, PortSchema,
                               SubnetCreateSchema, SubnetInspectSchema, SubnetPageSchema, SubnetQuerySchema,
                               SubnetSchema)
from ..parsing import Blueprint

networks_blp = Blueprint("networks", __name__, url_prefix="/api/v1/networks", description="Networks")
subnets_blp = Blueprint("subnets", __name__, url_prefix="/api/v1/subnets", description="Subnets of networks")
ports_blp = Blueprint("ports", __name__, url_prefix="/api/v1/ports", description="Ports: a network's addresses")
pools_blp = Blueprint("pools", __name__, url_prefix="/api/v1/pools",
                      description="Pools of bridges and MAC prefixes (admin)")
BLUEPRINTS = (networks_blp, subnets_blp, ports_blp, pools_blp)
for _blp in BLUEPRINTS:
    _blp.before_request(require_principal)
pools_blp.before_request(admin_only)


def _page(query: dict) -> tuple[int, dict]:
    """The page's size, and the list's paging arguments (limit + 1: the extra row only says
    there is a next page)."""
    limit, cursor = query.pop("limit"), query.pop("cursor", None)
    return limit, {"after": pagination.decode(cursor) if cursor else None, "limit": limit + 1}


# -- networks -------------------------------------------------------------------

@networks_blp.route("")
class Networks(MethodView):
    @networks_blp.arguments(NetworkQuerySchema, location="query")
    @networks_blp.response(200, NetworkPageSchema)
    @documents(networks_blp, 401, 403, 422)
    def get(self, query):
        """The caller's networks and the public ones (everyone's for an administrator), by id,
        a page at a time. Filters: name (exact), type, shared, user_id (a user naming another
        gets none); the deleted ones too with `deleted=true`. `next` is the cursor of the
        following page, null on the last."""
        limit, paging = _page(query)
        rows = networks.list_networks(context(), g.db, principal(), **paging, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"networks": rows, "next": next_cursor}

    @networks_blp.arguments(NetworkCreateSchema)
    @networks_blp.response(201, NetworkDetailSchema)
    @networks_blp.alt_response(202, schema=NetworkDetailSchema,
                               description="a public network: PENDING, its operations under way")
    @documents(networks_blp, 400, 401, 403, 404, 409, 422)
    def post(self, data):
        """Create a network (as snf-manage network-create). A private one: the row is committed
        and returned (201); it reaches no backend yet. A public one (`shared`, administrators;
        users get a 403 naming `shared`) with its IPv4 subnet (`cidr`, `gateway_ip`) on the
        backends named (`backend_ids`, default every online backend): 202, PENDING, with one
        network_create operation per backend. A type the caller may not choose is a 403 naming
        `type`; no free bridge or MAC prefix left in the pools, a 409."""
        with named_as_sent({"flavor": "type", "owner": "user_id", "public": "shared",
                            "floating_ip_pool": "router:external"}):
            network = networks.create_network(context(), g.db, principal(), **data)
        return network, (202 if network.public else 201)


@networks_blp.route("/<int:network_id>")
class NetworkById(MethodView):
    @networks_blp.etag
    @networks_blp.response(200, NetworkDetailSchema)
    @documents(networks_blp, 401, 404)
    def get(self, network_id: int):
        """One network: the caller's, or a public one, with its state on each backend holding it
        and the operations that put it there."""
        return networks.get_network(context(), g.db, principal(), network_id)

    @networks_blp.arguments(NetworkModifySchema)
    @networks_blp.response(200, NetworkSchema)
    @documents(networks_blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, network_id: int):
        """Rename (the owner, or an administrator); administrators also make a public network a
        floating-IP pool (`router:external`) and drain it."""
        with named_as_sent({"floating_ip_pool": "router:external"}):
            return networks.modify_network(context(), g.db, principal(), network_id, **data)

    @networks_blp.response(200, NetworkDetailSchema)
    @networks_blp.alt_response(202, schema=NetworkDetailSchema,
                               description="a network on backends: its network_remove operations under way")
    @documents(networks_blp, 401, 403, 404, 409)
    def delete(self, network_id: int):
        """Delete a network and its subnets: 200 with the deleted network, or 409 while ports
        use it (remove them first) or an operation of it is in flight. A network that backends
        hold (a public one) is taken off them first: 202 with one network_remove operation per
        backend (OP_NETWORK_DISCONNECT from every group, then OP_NETWORK_REMOVE); the last one
        that succeeds deletes it and gives its values back to their pools."""
        network = networks.remove_network(context(), g.db, principal(), network_id)
        return network, (202 if networks.removing(network) else 200)



@networks_blp.route("/<int:network_id>/inspect")
class NetworkInspect(MethodView):
    @networks_blp.response(200, NetworkInspectSchema)
    @documents(networks_blp, 401, 403, 404)
    def get(self, network_id: int):
        """Administrators: the database row beside its Ganeti network on every backend, as
        snf-manage network-inspect (one GET /2/networks/<name> per backend that is not offline;
        offline ones are listed with their reason). `ganeti` is null where the cluster has no
        such network; a cluster that cannot be read is told in that backend's `error`."""
        return networks.inspect_network(context(), g.db, principal(), network_id)

# -- subnets --------------------------------------------------------------------

@subnets_blp.route("")
class Subnets(MethodView):
    @subnets_blp.arguments(SubnetQuerySchema, location="query")
    @subnets_blp.response(200, SubnetPageSchema)
    @documents(subnets_blp, 401, 404, 422)
    def get(self, query):
        """The subnets of the networks the caller sees, by id, a page at a time; `network_id`:
        of that network only."""
        limit, paging = _page(query)
        rows = networks.list_subnets(context(), g.db, principal(), **paging, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"subnets": rows, "next": next_cursor}

    @subnets_blp.arguments(SubnetCreateSchema)
    @subnets_blp.response(201, SubnetSchema)
    @documents(subnets_blp, 400, 401, 403, 404, 409, 422)
    def post(self, data):
        """Add a subnet to one of the caller's networks, with its pool of addresses (the
        allocation pools). A CIDR overlapping another subnet of the network, a gateway outside
        the subnet or pools outside it are refused naming the field. Synchronous: 201."""
        return networks.create_subnet(context(), g.db, principal(), **data)


@subnets_blp.route("/<int:subnet_id>")
class SubnetById(MethodView):
    @subnets_blp.etag
    @subnets_blp.response(200, SubnetSchema)
    @documents(subnets_blp, 401, 404)
    def get(self, subnet_id: int):
        return networks.get_subnet(context(), g.db, principal(), subnet_id)

    @subnets_blp.response(200, SubnetSchema)
    @documents(subnets_blp, 401, 403, 404, 409)
    def delete(self, subnet_id: int):
        """Delete a subnet of one of the caller's networks, with its address pool: 200 with the
        deleted subnet; 409 while ports hold addresses of it, or while its network is on
        backends (it then goes with the network)."""
        return networks.remove_subnet(context(), g.db, principal(), subnet_id)


@subnets_blp.route("/<int:subnet_id>/inspect")
class SubnetInspect(MethodView):
    @subnets_blp.response(200, SubnetInspectSchema)
    @documents(subnets_blp, 401, 403, 404)
    def get(self, subnet_id: int):
        """The subnet's address pool, as snf-manage subnet-inspect shows it: its size, how many
        addresses are free, used and reserved, the map of them in order, and which port holds
        each address in use."""
        return networks.inspect_subnet(context(), g.db, principal(), subnet_id)


# -- ports ----------------------------------------------------------------------

@ports_blp.route("")
class Ports(MethodView):
    @ports_blp.arguments(PortQuerySchema, location="query")
    @ports_blp.response(200, PortPageSchema)
    @documents(ports_blp, 401, 404, 422)
    def get(self, query):
        """The caller's ports (everyone's for an administrator), by id, a page at a time;
        filters: network_id, device_id (the server)."""
        limit, paging = _page(query)
        rows = networks.list_ports(context(), g.db, principal(), **paging, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"ports": rows, "next": next_cursor}

    @ports_blp.arguments(PortCreateSchema)
    @ports_blp.response(201, PortSchema)
    @ports_blp.alt_response(202, schema=PortSchema,
                            description="attached to `device_id`: BUILD until its connect operation has added the NIC")
    @documents(ports_blp, 400, 401, 403, 404, 409, 422)
    def post(self, data):
        """A port on a network the caller may use, with an address of each subnet from its
        pool, or the `fixed_ips` asked for: an address outside the pools is a 422, one taken a
        409, both naming `fixed_ips`; an exhausted pool is a 409. On no server (201), or, with
        `device_id`, attached to that server: 202 with the connect operation that hot-adds its
        NIC (putting a private network on the server's backend first when it is not there);
        409 while another operation is in flight for the server."""
        return _maybe_accepted(networks.create_port(context(), g.db, principal(), **data), 201)


@ports_blp.route("/<int:port_id>")
class PortById(MethodView):
    @ports_blp.etag
    @ports_blp.response(200, PortSchema)
    @documents(ports_blp, 401, 404)
    def get(self, port_id: int):
        return networks.get_port(context(), g.db, principal(), port_id)

    @ports_blp.response(200, PortSchema)
    @ports_blp.alt_response(202, schema=PortSchema,
                            description="on a server: its disconnect operation removes the NIC, then the port")
    @documents(ports_blp, 401, 403, 404, 409)
    def delete(self, port_id: int):
        """Remove a port and give its addresses back to their pools: 200 with the port as it
        was, when it is on no server. On a server: 202 with the disconnect operation that
        hot-removes its NIC; the port and its addresses go when the NIC has. 409 while another
        operation is in flight for the server."""
        return _maybe_accepted(networks.remove_port(context(), g.db, principal(), port_id), 200)


def _maybe_accepted(result, status: int):
    """A port (the status given), or a port with its server operation (202)."""
    if isinstance(result, networks.NicChange):
        result.port.operation = result.operation
        return result.port, 202
    return result, status


# -- pools (administrators) -----------------------------------------------------

@pools_blp.route("")
class Pools(MethodView):
    @pools_blp.arguments(PoolQuerySchema, location="query")
    @pools_blp.response(200, PoolSchema(many=True))
    @documents(pools_blp, 401, 403, 422)
    def get(self, query):
        """The pools of bridges and MAC prefixes networks take their links from (snf-manage
        pool-list)."""
        return networks.list_pools(context(), g.db, principal(), **query)

    @pools_blp.arguments(PoolCreateSchema)
    @pools_blp.response(201, PoolSchema)
    @documents(pools_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """As snf-manage pool-create: `{"type": "bridge", "base": "prv", "size": 20}` makes
        bridges prv1..prv20; `{"type": "mac-prefix", "base": "aa:00:0", "size": 65536}` MAC
        prefixes from aa:00:0. Synchronous: 201."""
        return networks.create_pool(context(), g.db, principal(), **data)


@pools_blp.route("/<int:pool_id>")
class PoolById(MethodView):
    @pools_blp.etag
    @pools_blp.response(200, PoolSchema)
    @documents(pools_blp, 401, 403, 404)
    def get(self, pool_id: int):
        return networks.get_pool(context(), g.db, principal(), pool_id)

    @pools_blp.arguments(PoolModifySchema)
    @pools_blp.response(200, PoolSchema)
    @documents(pools_blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, pool_id: int):
        """Resize a pool, or reserve values (and release them) so that no network takes them,
        as snf-manage pool-modify. Shrinking under a value in use is a 409."""
        return networks.modify_pool(context(), g.db, principal(), pool_id, **data)
