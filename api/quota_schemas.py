"""Marshmallow schemas of quotas: a user's limits and usage by resource (Synnefo's names)."""
from __future__ import annotations

import marshmallow as ma

from orchestrator.quotas import NAMES, RESOURCES

from .schemas import USER_ID


class QuotaSchema(ma.Schema):
    limit = ma.fields.Integer(allow_none=True, metadata={"description": "the limit in force; null: none"})
    usage = ma.fields.Integer(metadata={"description": "what the user's servers, networks and floating IPs hold"})
    pending = ma.fields.Integer(metadata={"description": "reserved for operations in flight (a start, a resize)"})
    default = ma.fields.Boolean(metadata={"description": "the limit is the deployment's (QUOTA_DEFAULTS), "
                                                         "not one set for this user"})
    over = ma.fields.Boolean(metadata={"description": "usage and pending pass the limit (a limit lowered below "
                                                      "them): nothing grows until they fall below it"})


class QuotasSchema(ma.Schema):
    user_id = ma.fields.String()
    quotas = ma.fields.Method("_quotas", metadata={"description": "by resource: " + ", ".join(
        f"{name} ({what}, {unit})" for name, (what, unit) in RESOURCES.items())})

    def _quotas(self, obj):
        schema = QuotaSchema()
        return {q.resource: schema.dump({"limit": q.limit, "usage": q.usage, "pending": q.pending,
                                         "default": q.default, "over": q.over}) for q in obj.quotas}


class QuotaQuerySchema(ma.Schema):
    user_id = ma.fields.String(validate=USER_ID, metadata={"description": "administrators: this user's"})


class _Limit(ma.fields.Field):
    """A limit as sent: an integer >= 0, "unlimited", or null (back to the deployment's
    default); the service checks it and names the resource when it is none of those."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value


def _limits_schema() -> type[ma.Schema]:
    fields = {name.replace(".", "_"): _Limit(data_key=name, allow_none=True, metadata={
        "description": f"{what} ({unit}): an integer >= 0, \"unlimited\", or null for the deployment's default",
        "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["unlimited", "default"]},
                  {"type": "null"}]}) for name, (what, unit) in RESOURCES.items()}

    class Meta:
        unknown = ma.RAISE

    fields["Meta"] = Meta
    return type("QuotaLimitsSchema", (ma.Schema,), fields)


QuotaLimitsSchema = _limits_schema()


def limits_by_resource(data: dict) -> dict:
    """The loaded body back under the resources' names."""
    names = {name.replace(".", "_"): name for name in NAMES}
    return {names[key]: value for key, value in data.items()}

