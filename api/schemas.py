"""Marshmallow schemas: the shape of every request and response."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from orchestrator.state import api_status

NAME = validate.Length(min=1, max=255)


class OperationSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String()
    server_id = ma.fields.Integer(allow_none=True)
    user_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "PENDING, RUNNING, SUCCEEDED or FAILED"})
    step = ma.fields.String(metadata={"description": "allocate, submit, poll, finalize or done"})
    job_id = ma.fields.Integer(allow_none=True)
    job_status = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)


class NicSchema(ma.Schema):
    index = ma.fields.Integer()
    ip = ma.fields.String(allow_none=True)
    mac = ma.fields.String(allow_none=True)
    network = ma.fields.String(allow_none=True)


class ServerSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    user_id = ma.fields.String()
    status = ma.fields.Function(api_status, metadata={"description": "BUILD, ACTIVE, STOPPED, ERROR or DELETED"})
    operstate = ma.fields.String()
    flavor_id = ma.fields.Integer()
    image_id = ma.fields.Integer()
    backend_id = ma.fields.Integer(allow_none=True)
    build_percentage = ma.fields.Integer()
    nics = ma.fields.List(ma.fields.Nested(NicSchema))
    backend_job_id = ma.fields.Integer(allow_none=True)
    backend_job_status = ma.fields.String(allow_none=True)
    backend_opcode = ma.fields.String(allow_none=True)
    backend_log_msg = ma.fields.String(allow_none=True)
    suspended = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ServerCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=NAME)
    flavor_id = ma.fields.Integer(required=True, strict=True)
    image_id = ma.fields.Integer(required=True, strict=True)
    backend_id = ma.fields.Integer(strict=True, load_default=None, metadata={"description": "admin only"})
    password = ma.fields.String(load_only=True, load_default=None, validate=validate.Length(min=8, max=128),
                                metadata={"description": "generated when absent; never stored"})


class ServerAcceptedSchema(ServerSchema):
    operation = ma.fields.Nested(OperationSchema)
    config_url = ma.fields.String(metadata={"description": "one-time URL returning the password and config"})


class ActionSchema(ma.Schema):
    action = ma.fields.String(
        required=True,
        validate=validate.OneOf(["start", "shutdown", "reboot", "resize", "suspend", "unsuspend"]),
    )
    type = ma.fields.String(load_default=None, validate=validate.OneOf(["soft", "hard"]),
                            metadata={"description": "reboot only"})
    flavor_id = ma.fields.Integer(strict=True, load_default=None, metadata={"description": "resize only"})


class OperationQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]))
    kind = ma.fields.String(validate=validate.Length(max=32))
    server_id = ma.fields.Integer()
    limit = ma.fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class VmConfigSchema(ma.Schema):
    server_id = ma.fields.Integer()
    password = ma.fields.String()
    config = ma.fields.Dict()


class BackendSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    clustername = ma.fields.String(required=True, validate=NAME)
    host = ma.fields.String(required=True, validate=NAME)
    port = ma.fields.Integer(load_default=5080, validate=validate.Range(1, 65535))
    scheme = ma.fields.String(load_default="https", validate=validate.OneOf(["http", "https"]))
    username = ma.fields.String(required=True, validate=NAME)
    password = ma.fields.String(required=True, load_only=True, validate=NAME)
    verify_tls = ma.fields.Boolean(load_default=True)
    drained = ma.fields.Boolean(load_default=True)
    offline = ma.fields.Boolean(dump_only=True)
    offline_reason = ma.fields.String(dump_only=True, allow_none=True)
    disk_templates = ma.fields.List(ma.fields.String(), dump_only=True)
    mtotal = ma.fields.Integer(dump_only=True)
    mfree = ma.fields.Integer(dump_only=True)
    dtotal = ma.fields.Integer(dump_only=True)
    dfree = ma.fields.Integer(dump_only=True)
    ctotal = ma.fields.Integer(dump_only=True)
    pinst_cnt = ma.fields.Integer(dump_only=True)
    stats_updated_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class FlavorSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=NAME)
    cpu = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, 1024))
    ram = ma.fields.Integer(required=True, strict=True, validate=validate.Range(64, 16 * 1024 * 1024),
                            metadata={"description": "MiB"})
    disk = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, 1024 * 1024),
                             metadata={"description": "GiB"})
    disk_template = ma.fields.String(
        load_default="plain",
        validate=validate.OneOf(["plain", "drbd", "file", "sharedfile", "blockdev", "rbd", "diskless", "ext"]),
    )
    deleted = ma.fields.Boolean(dump_only=True)


class ImageSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=NAME)
    location = ma.fields.String(required=True, validate=validate.Length(min=1, max=1024))
    os = ma.fields.String(load_default="snf-image+default", validate=validate.Length(min=1, max=64))
    properties = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    public = ma.fields.Boolean(load_default=False)
    owner = ma.fields.String(dump_only=True, allow_none=True)


class FindingSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    backend_id = ma.fields.Integer(allow_none=True)
    server_id = ma.fields.Integer(allow_none=True)
    instance = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    fixed = ma.fields.Boolean()
    fix = ma.fields.String(allow_none=True)


class ReconciliationRunSchema(ma.Schema):
    id = ma.fields.Integer()
    trigger = ma.fields.String()
    started_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)
    fixes = ma.fields.List(ma.fields.String())
    backends_checked = ma.fields.List(ma.fields.Integer())
    backends_skipped = ma.fields.Dict()
    servers_checked = ma.fields.Integer()
    finding_count = ma.fields.Function(lambda run: len(run.findings))


class ReconciliationRunDetailSchema(ReconciliationRunSchema):
    findings = ma.fields.List(ma.fields.Nested(FindingSchema))
