"""Quotas: a user's limits beside what they hold (as Synnefo's /quotas), and administrators'
changes to them."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from orchestrator import auth
from orchestrator.errors import Invalid, NotFound
from orchestrator.services import quotas

from ..auth import context, principal, require_principal
from ..errors import documents
from ..parsing import Blueprint
from ..quota_schemas import QuotaLimitsSchema, QuotaQuerySchema, QuotasSchema, limits_by_resource

blp = Blueprint("quotas", __name__, url_prefix="/api/v1/quotas", description="Per-user quotas")
blp.before_request(require_principal)


@blp.route("")
class Quotas(MethodView):
    @blp.arguments(QuotaQuerySchema, location="query")
    @blp.response(200, QuotasSchema)
    @documents(blp, 401, 403, 422)
    def get(self, query):
        """The caller's limits, usage and reservations by resource; administrators any user's
        (`user_id`)."""
        return quotas.get(context(), g.db, principal(), query.get("user_id"))


@blp.route("/<string:user_id>")
class QuotasOfUser(MethodView):
    @blp.etag
    @blp.response(200, QuotasSchema)
    @documents(blp, 401, 403, 404)
    def get(self, user_id: str):
        """One user's quotas: the caller's own, or any user's for an administrator. A path that
        can name no user (not printable text) is a 404."""
        try:
            auth.check_user_id(user_id)
        except Invalid:
            raise NotFound("no such user: a user id is printable text") from None
        return quotas.get(context(), g.db, principal(), user_id)

    @blp.arguments(QuotaLimitsSchema)
    @blp.response(200, QuotasSchema)
    @documents(blp, 400, 401, 403, 404, 422)
    def patch(self, data, user_id: str):
        """Administrators: set some of a user's limits, e.g. `{"cyclades.vm": 20}`; `"unlimited"`
        for none, null for the deployment's default. A negative limit or an unknown resource is
        a 422 naming it; a limit below the usage is accepted (the usage shows over it, and no
        request grows it until it falls below)."""
        return quotas.set_limits(context(), g.db, principal(), user_id, limits_by_resource(data))
