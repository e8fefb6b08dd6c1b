"""Servers: every action answers 202 with its durable operation."""
from __future__ import annotations

import json
import time

from flask import Response, g, stream_with_context
from flask.views import MethodView

from orchestrator.services import servers, streams

from .. import pagination
from ..auth import context, principal, require_admin, require_principal
from ..errors import documents, named_as_sent
from ..parsing import Blueprint
from ..schemas import (ActionSchema, EventsQuerySchema, OperationSchema, ServerAcceptedSchema, ServerCreateSchema,
                       ServerImportSchema, ServerInspectSchema, ServerModifySchema, ServerPageSchema, ServerQuerySchema, ServerSchema)

blp = Blueprint("servers", __name__, url_prefix="/api/v1/servers", description="Virtual machines")
blp.before_request(require_principal)


@blp.route("")
class Servers(MethodView):
    @blp.arguments(ServerQuerySchema, location="query")
    @blp.response(200, ServerPageSchema)
    @documents(blp, 401, 422)
    def get(self, query):
        """The caller's servers (everyone's for an administrator), by id, a page at a time.

        Filters: status, backend_id, user_id, flavor_id, image_id, name (exact); deleted
        servers only with `deleted=true` or `status=DELETED`. `next` is the cursor of the
        following page, null on the last.
        """
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        rows = servers.list_servers(context(), g.db, principal(), owner=query.pop("user_id", None),
                                    after=pagination.decode(cursor) if cursor else None, limit=limit + 1, **query)
        rows, next_cursor = pagination.page(rows, limit)
        return {"servers": rows, "next": next_cursor}

    @blp.arguments(ServerCreateSchema)
    @blp.response(202, ServerAcceptedSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def post(self, data):
        """Create a server: the row and its operation are committed, then the chain is enqueued.

        The response's `config_url` returns the VM's password once; it is never stored.
        Its `networks` are taken now: a network the caller may not use is a 404 (a public
        one, a 403), an address outside the pools a 422, one taken or a full pool a 409.
        """
        with named_as_sent({"owner": "user_id"}):
            created = servers.create(context(), g.db, principal(), **data)
        created.server.operation, created.server.config_url = created.operation, created.config_url
        return created.server


@blp.route("/<int:server_id>")
class ServerById(MethodView):
    @blp.etag
    @blp.response(200, ServerSchema)
    @documents(blp, 401, 404)
    def get(self, server_id: int):
        """One server, as the database knows it."""
        return servers.get(context(), g.db, principal(), server_id)

    @blp.arguments(ServerModifySchema)
    @blp.response(200, ServerSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, server_id: int):
        """Rename or replace its `metadata` (the owner); suspend or unsuspend (administrators): a
        suspended server refuses its user's actions."""
        return servers.modify(context(), g.db, principal(), server_id, **data)

    @blp.response(202, OperationSchema)
    @documents(blp, 401, 404, 409)
    def delete(self, server_id: int):
        """Destroy a server; supersedes whatever action is queued for it."""
        return servers.act(context(), g.db, principal(), server_id, "destroy")


@blp.route("/<int:server_id>/actions")
class ServerActions(MethodView):
    @blp.arguments(ActionSchema)
    @blp.response(202, OperationSchema)
    @documents(blp, 400, 401, 403, 404, 409, 422)
    def post(self, data, server_id: int):
        """start, shutdown, reboot (type soft|hard), resize (flavor_id); confirm_resize, revert_resize
        (a resize that succeeded awaits one: `resize_pending`; any other action confirms it);
        admin: suspend, unsuspend."""
        action = data.pop("action")
        params = {k: v for k, v in data.items() if v is not None}
        return servers.act(context(), g.db, principal(), server_id, action, **params)


@blp.route("/<int:server_id>/inspect")
class ServerInspect(MethodView):
    @blp.response(200, ServerInspectSchema)
    @documents(blp, 401, 403, 404)
    def get(self, server_id: int):
        """Administrators: the database row beside the live instance from its cluster (one
        GET /2/instances/<name>), the cluster's last jobs for it and the last operations, as
        snf-manage server-inspect. A cluster that does not answer is told in `cluster_error`."""
        require_admin()
        return servers.inspect_server(context(), g.db, server_id)


@blp.route("/import")
class ServerImport(MethodView):
    @blp.arguments(ServerImportSchema)
    @blp.response(201, ServerSchema)
    @documents(blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Administrators: adopt an existing Ganeti instance (as snf-manage server-import).

        The instance must be named BACKEND_PREFIX_ID<id> with an id no server has: the server
        gets that id and the instance is left untouched (no shutdown, rename or restart). Any
        other name is refused with the rename to do first. The flavor is the one matching the
        instance's vCPUs, memory, disks and template, unless given (then checked).
        """
        server, _op = servers.import_instance(context(), g.db, require_admin(), **data)
        return server


@blp.route("/<int:server_id>/events")
class ServerEvents(MethodView):
    @blp.arguments(EventsQuerySchema, location="query")
    @blp.doc(responses={"200": {"description": "server-sent events: one `state` event per change, then `end`",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "307": {"description": "streams are served by the streams process (STREAMS_URL): "
                                               "the same request there, with the same token"}})
    @documents(blp, 401, 404, 422)
    def get(self, args, server_id: int):
        """Stream the server's state, build progress and NICs as they change.

        Deployments run the `streams` process, which serves this without holding a request
        thread per stream; with STREAMS_URL set this route answers 307 there. Without it the
        API streams itself, re-reading the database a few times a second (a development set-up).
        """
        ctx = context()
        servers.get(ctx, g.db, principal(), server_id)  # 404 if not theirs
        if ctx.settings.streams_url:
            url = f"{ctx.settings.streams_url}/api/v1/servers/{server_id}/events?until={args['until']}"
            return Response(json.dumps({"url": url, "message": "streams are served at this URL"}), status=307,
                            mimetype="application/json", headers={"Location": url})
        return Response(stream_with_context(_server_events(ctx, server_id, args["until"])),
                        mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _server_events(ctx, server_id: int, until: str, interval: float = 0.25):
    """The fallback: reads the database (the source of truth) and sends what changed."""
    last = None
    deadline = time.monotonic() + ctx.settings.stream_max_s
    while True:
        state, moving = streams.snapshot(ctx, server_id)
        if state != last:
            yield f"event: state\ndata: {json.dumps(state)}\n\n"
            last = state
        if streams.finished(state, moving, until) or time.monotonic() >= deadline:
            yield "event: end\ndata: {}\n\n"
            return
        time.sleep(interval)
