"""Marshmallow schemas: the shape of every request and response."""
from __future__ import annotations

import math

import marshmallow as ma
from marshmallow import validate

from orchestrator import auth, catalog, validation
from orchestrator.errors import Invalid
from orchestrator.servers import API_STATUSES
from orchestrator.services import streams
from orchestrator.state import api_status


def rule(check, *args):
    """A domain check (orchestrator.catalog, orchestrator.auth) as a marshmallow validator, so
    the API refuses in the schema, naming the field, what the CLI is refused by the domain."""
    def validator(value):
        try:
            check(value, *args)
        except Invalid as exc:
            raise ma.ValidationError(exc.message) from None
    return validator


# Names (servers, images, flavors, clusters) and user ids: printable, bounded (validation.check_name).
NAME = [validate.Length(min=1, max=validation.NAME_MAX), rule(validation.check_name, "name")]
USER_ID = [validate.Length(min=1, max=validation.NAME_MAX), rule(auth.check_user_id)]
# Ids are 32-bit integers in the database: anything larger is no id (a 422, never a 500).
ID = validate.Range(min=0, max=2**31 - 1)


# RFC 3339 with its offset: the models hand back aware UTC datetimes (models.UtcDateTime).
UtcDateTime = ma.fields.DateTime


class JsonBoolean(ma.fields.Boolean):
    """A boolean in a JSON body: `true` or `false`, as the spec says. marshmallow's Boolean also
    takes 0, 1, "yes", "on"...: right for a query string (BackendQuerySchema), not for JSON."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class OperationSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String()
    server_id = ma.fields.Integer(allow_none=True)
    network_id = ma.fields.Integer(allow_none=True, metadata={"description": "a network operation's network"})
    backend_id = ma.fields.Integer(allow_none=True)
    user_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "PENDING, RUNNING, SUCCEEDED or FAILED"})
    step = ma.fields.String(metadata={"description": "allocate, submit, poll, finalize or done"})
    job_id = ma.fields.Integer(allow_none=True)
    job_status = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer()
    redrives = ma.fields.Integer(metadata={"description": "times the beat re-drove it after its chain stopped moving"})
    error = ma.fields.String(allow_none=True)
    deadline_at = UtcDateTime(allow_none=True, metadata={
        "description": "its attempt is stopped then (OPERATION_DEADLINE_S); set when its first step runs"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)


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
    metadata = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), attribute="metadata_",
                              metadata={"description": "the user's key/value pairs"})
    resize_pending = ma.fields.Function(
        lambda s: None if s.resize_from_flavor_id is None else {"from_flavor_id": s.resize_from_flavor_id},
        metadata={"description": "a resize that succeeded, awaiting the confirm_resize or revert_resize action "
                                 "(any other action confirms it): the flavor it came from; null when none waits"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


# The metadata a request sets: key/value strings (the service checks Nova's lengths and count).
METADATA = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), metadata={
    "description": "key/value strings: keys 1 to 255 characters, values up to 255, at most SERVER_METADATA_ITEMS"})


class ServerCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=NAME)
    flavor_id = ma.fields.Integer(validate=ID, required=True, strict=True)
    image_id = ma.fields.Integer(validate=ID, required=True, strict=True)
    backend_id = ma.fields.Integer(validate=ID, strict=True, load_default=None, metadata={"description": "admin only"})
    owner = ma.fields.String(data_key="user_id", validate=USER_ID, metadata={
        "description": "admin only: the user whose server it is (default: the caller)"})
    password = ma.fields.String(load_only=True, load_default=None, validate=validate.Length(min=8, max=128),
                                metadata={"description": "generated when absent; never stored; printable text "
                                                         "(the service refuses control characters)"})
    # ServerNicSchema is in network_schemas (with the network fields' rules), named here lazily.
    networks = ma.fields.List(ma.fields.Nested("ServerNicSchema"), validate=validate.Length(max=8), metadata={
        "description": "its NICs in order: [{network_id, fixed_ip?} | {port_id}]; [] none; absent: the "
                       "deployment's default networks"})
    metadata = METADATA


class ServerAcceptedSchema(ServerSchema):
    operation = ma.fields.Nested(OperationSchema)
    config_url = ma.fields.String(metadata={"description": "one-time URL returning the password and config"})


class ActionSchema(ma.Schema):
    action = ma.fields.String(
        required=True,
        validate=validate.OneOf(["start", "shutdown", "reboot", "resize", "confirm_resize", "revert_resize",
                                 "suspend", "unsuspend"]),
    )
    type = ma.fields.String(load_default=None, validate=validate.OneOf(["soft", "hard"]),
                            metadata={"description": "reboot only"})
    flavor_id = ma.fields.Integer(validate=ID, strict=True, load_default=None, metadata={"description": "resize only"})


class OperationQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]))
    kind = ma.fields.String(validate=[validate.Length(min=1, max=32), rule(validation.check_name, "kind")])
    server_id = ma.fields.Integer(validate=ID)
    owner = ma.fields.String(data_key="user_id", validate=USER_ID,
                             metadata={"description": "administrators: anyone's; users: their own"})
    backend_id = ma.fields.Integer(validate=ID, metadata={"description": "administrators only"})
    limit = ma.fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class VmConfigSchema(ma.Schema):
    server_id = ma.fields.Integer()
    password = ma.fields.String()
    config = ma.fields.Dict()


# The pattern is for the spec; validation.check_host is the rule (DNS labels, IPv6 in brackets).
HOSTNAME = [validate.Regexp(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[[0-9A-Fa-f:.]+\]$",
                            error="a host name, an IPv4 address or a bracketed IPv6 address"),
            rule(validation.check_host)]
DISK_TEMPLATE = validate.OneOf(catalog.DISK_TEMPLATES)
DISK_TEMPLATES = validate.Length(max=len(catalog.DISK_TEMPLATES))
# RAPI credentials travel as HTTP basic auth: Latin-1, printable, no ':' in the user.
USERNAME = [validate.Length(min=1, max=validation.NAME_MAX), rule(validation.check_credential, "username")]
PASSWORD = [validate.Length(min=1, max=validation.NAME_MAX), rule(validation.check_credential, "password")]


class BackendSchema(ma.Schema):
    """A cluster as the API shows it: never its RAPI credentials."""

    id = ma.fields.Integer()
    clustername = ma.fields.String()
    host = ma.fields.String()
    port = ma.fields.Integer()
    scheme = ma.fields.String()
    verify_tls = ma.fields.Boolean()
    drained = ma.fields.Boolean(metadata={"description": "no new servers are placed here"})
    offline = ma.fields.Boolean()
    offline_reason = ma.fields.String(allow_none=True)
    drained_reason = ma.fields.String(allow_none=True, metadata={"description": "why an operator drained it"})
    disk_templates = ma.fields.List(ma.fields.String(), metadata={"description": "allowed disk templates (operator)"})
    cluster_disk_templates = ma.fields.List(ma.fields.String(), metadata={
        "description": "the templates the cluster enables, as of the last refresh"})
    mtotal = ma.fields.Integer()
    mfree = ma.fields.Integer()
    dtotal = ma.fields.Integer()
    dfree = ma.fields.Integer()
    ctotal = ma.fields.Integer()
    pinst_cnt = ma.fields.Integer()
    stats_updated_at = UtcDateTime(allow_none=True)
    rate_per_s = ma.fields.Integer(allow_none=True, metadata={
        "description": "RAPI requests per second here, every worker together; 0: no limit; null: RAPI_RATE_PER_S"})
    concurrency = ma.fields.Integer(allow_none=True, metadata={
        "description": "RAPI requests in flight here at once, every worker together; 0: no limit; "
                       "null: RAPI_CONCURRENCY"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


# A backend's RAPI request budget (docs/rate-limits.md): 0 is no limit; the domain checks the same.
BUDGET = validate.Range(0, 100_000)
BUDGET_FIELDS = ("rate_per_s", "concurrency")


class BackendCreateSchema(ma.Schema):
    clustername = ma.fields.String(load_default=None, validate=NAME,
                                   metadata={"description": "default: the name the cluster's /2/info gives"})
    host = ma.fields.String(required=True, validate=HOSTNAME)
    port = ma.fields.Integer(load_default=5080, strict=True, validate=validate.Range(1, 65535))
    scheme = ma.fields.String(load_default="https", validate=validate.OneOf(catalog.SCHEMES))
    username = ma.fields.String(required=True, load_only=True, validate=USERNAME)
    password = ma.fields.String(required=True, load_only=True, validate=PASSWORD)
    verify_tls = JsonBoolean(load_default=True)
    drained = JsonBoolean(load_default=True, metadata={"description": "drained by default, as Synnefo adds"})
    disk_templates = ma.fields.List(ma.fields.String(validate=DISK_TEMPLATE), load_default=None,
                                    validate=DISK_TEMPLATES,
                                    metadata={"description": "default: the cluster's enabled templates"})
    rate_per_s = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=BUDGET, metadata={
        "description": "RAPI requests per second (0: no limit; absent or null: RAPI_RATE_PER_S)"})
    concurrency = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=BUDGET, metadata={
        "description": "RAPI requests in flight at once (0: no limit; absent or null: RAPI_CONCURRENCY)"})


class BackendModifySchema(ma.Schema):
    clustername = ma.fields.String(validate=NAME)
    host = ma.fields.String(validate=HOSTNAME)
    port = ma.fields.Integer(strict=True, validate=validate.Range(1, 65535))
    scheme = ma.fields.String(validate=validate.OneOf(catalog.SCHEMES))
    username = ma.fields.String(load_only=True, validate=USERNAME)
    password = ma.fields.String(load_only=True, validate=PASSWORD)
    verify_tls = JsonBoolean()
    drained = JsonBoolean()
    drained_reason = ma.fields.String(validate=validate.Length(1, 255), metadata={
        "description": "why it is drained (with drained true, or on a drained backend); undraining clears it"})
    offline = JsonBoolean()
    disk_templates = ma.fields.List(ma.fields.String(validate=DISK_TEMPLATE), validate=DISK_TEMPLATES)
    rate_per_s = ma.fields.Integer(allow_none=True, strict=True, validate=BUDGET, metadata={
        "description": "RAPI requests per second (0: no limit; null: back to RAPI_RATE_PER_S)"})
    concurrency = ma.fields.Integer(allow_none=True, strict=True, validate=BUDGET, metadata={
        "description": "RAPI requests in flight at once (0: no limit; null: back to RAPI_CONCURRENCY)"})

    @ma.post_load
    def _budget_nulls(self, data, **kwargs):
        """A null budget figure puts the deployment's default back (services.backends.modify)."""
        reset = [key for key in BUDGET_FIELDS if key in data and data[key] is None]
        if reset:
            data["reset_budget"] = reset
        return data


class BackendQuerySchema(ma.Schema):
    drained = ma.fields.Boolean()
    offline = ma.fields.Boolean()


CPU = validate.Range(1, 1024)
RAM = validate.Range(64, 16 * 1024 * 1024)
DISK = validate.Range(1, 1024 * 1024)


class FlavorSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    cpu = ma.fields.Integer()
    ram = ma.fields.Integer(metadata={"description": "MiB"})
    disk = ma.fields.Integer(metadata={"description": "GiB"})
    disk_template = ma.fields.String()
    deleted = ma.fields.Boolean(metadata={"description": "kept by existing servers, cannot be chosen"})


class FlavorCreateSchema(ma.Schema):
    name = ma.fields.String(load_default=None, validate=NAME,
                            metadata={"description": "default: C<cpu>R<ram>D<disk><disk_template>"})
    cpu = ma.fields.Integer(required=True, strict=True, validate=CPU)
    ram = ma.fields.Integer(required=True, strict=True, validate=RAM, metadata={"description": "MiB"})
    disk = ma.fields.Integer(required=True, strict=True, validate=DISK, metadata={"description": "GiB"})
    disk_template = ma.fields.String(load_default="plain", validate=DISK_TEMPLATE)


def _non_empty_list(field, bounds, most=32, **kwargs):
    return ma.fields.List(field(strict=True, validate=bounds) if bounds else field(validate=DISK_TEMPLATE),
                          validate=validate.Length(1, most), **kwargs)


class FlavorProductSchema(ma.Schema):
    """Every combination of the lists becomes a flavor named C<cpu>R<ram>D<disk><template>;
    at most catalog.MAX_FLAVORS_PER_CREATE of them at once."""

    cpus = _non_empty_list(ma.fields.Integer, CPU, required=True)
    rams = _non_empty_list(ma.fields.Integer, RAM, required=True, metadata={"description": "MiB"})
    disks = _non_empty_list(ma.fields.Integer, DISK, required=True, metadata={"description": "GiB"})
    disk_templates = _non_empty_list(ma.fields.String, None, most=len(catalog.DISK_TEMPLATES),
                                     load_default=lambda: ["plain"])

    @ma.validates_schema
    def _bounded_product(self, data, **_kwargs):
        lists = {key: set(data.get(key) or ()) for key in ("cpus", "rams", "disks", "disk_templates")}
        total = math.prod(len(values) or 1 for values in lists.values())
        if total > catalog.MAX_FLAVORS_PER_CREATE:
            longest = max(lists, key=lambda key: len(lists[key]))
            raise ma.ValidationError(f"these lists make {total} flavors; at most {catalog.MAX_FLAVORS_PER_CREATE} "
                                     "at once", field_name=longest)


class FlavorModifySchema(ma.Schema):
    deleted = JsonBoolean(required=True)


class FlavorQuerySchema(ma.Schema):
    deleted = ma.fields.Boolean(load_default=False, metadata={"description": "list the deleted ones instead"})
    cpu = ma.fields.Integer(validate=ID)
    ram = ma.fields.Integer(validate=ID)
    disk = ma.fields.Integer(validate=ID)
    disk_template = ma.fields.String(validate=DISK_TEMPLATE)


class ImageSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    location = ma.fields.String()
    disk_format = ma.fields.Function(catalog.image_disk_format)
    os = ma.fields.String()
    properties = ma.fields.Function(catalog.public_properties,
                                    metadata={"type": "object", "description": "free-form (OSFAMILY, ROOT_PARTITION, ...)"})
    public = ma.fields.Boolean()
    owner = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()


# What any deployment refuses in a location, stated in the spec (validation.check_location is
# the rule, with what each deployment allows): printable ASCII without blanks.
LOCATION = [validate.Length(min=1, max=validation.LOCATION_MAX),
            validate.Regexp(validation.LOCATION_TEXT, error=validation.LOCATION_TEXT_ERROR)]


class ImageCreateSchema(ma.Schema):
    """`os` and the location's scheme must be ones the deployment allows (IMAGE_OS_PROVIDERS,
    IMAGE_LOCATION_SCHEMES): checked by the service, which has the settings."""

    name = ma.fields.String(required=True, validate=NAME)
    location = ma.fields.String(required=True, validate=LOCATION, metadata={
        "description": "a file name in snf-image's image directory, or a URL of an allowed scheme"})
    disk_format = ma.fields.String(load_default="diskdump", validate=validate.OneOf(catalog.DISK_FORMATS))
    os = ma.fields.String(load_default="snf-image+default", validate=validate.Length(min=1, max=64),
                          metadata={"description": "an OS provider the deployment allows"})
    properties = ma.fields.Dict(
        keys=ma.fields.String(validate=[validate.Length(1, 64), rule(validation.check_property_key)]),
        values=ma.fields.String(validate=[validate.Length(max=validation.PROPERTY_VALUE_MAX),
                                          rule(validation.check_property_value)]),
        validate=validate.Length(max=validation.MAX_PROPERTIES), load_default=dict,
        metadata={"description": f"free-form strings (OSFAMILY, ROOT_PARTITION, users, ...), at most "
                                 f"{validation.MAX_PROPERTIES}"})
    public = JsonBoolean(load_default=False, metadata={"description": "administrators only"})


class ServerQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(API_STATUSES))
    backend_id = ma.fields.Integer(validate=ID)
    user_id = ma.fields.String(validate=USER_ID, metadata={"description": "administrators: anyone's; users: their own"})
    flavor_id = ma.fields.Integer(validate=ID)
    image_id = ma.fields.Integer(validate=ID)
    name = ma.fields.String(validate=NAME, metadata={"description": "exact name"})
    deleted = ma.fields.Boolean(load_default=False, metadata={"description": "include deleted servers"})
    limit = ma.fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    cursor = ma.fields.String(validate=validate.Length(1, 256),
                              metadata={"description": "the `next` of the previous page"})


class ServerPageSchema(ma.Schema):
    servers = ma.fields.List(ma.fields.Nested(ServerSchema), required=True)
    next = ma.fields.String(allow_none=True, required=True,
                            metadata={"description": "opaque cursor of the next page; null on the last one"})


class ServerModifySchema(ma.Schema):
    name = ma.fields.String(validate=NAME)
    metadata = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), metadata={
        "description": "replaces all of the server's metadata"})
    suspended = JsonBoolean(metadata={"description": "administrators only"})


class ServerImportSchema(ma.Schema):
    backend_id = ma.fields.Integer(validate=ID, required=True, strict=True)
    instance_name = ma.fields.String(required=True, validate=NAME,
                                     metadata={"description": "must be BACKEND_PREFIX_ID<free server id>"})
    user_id = ma.fields.String(required=True, validate=USER_ID, metadata={"description": "the owner"})
    flavor_id = ma.fields.Integer(validate=ID, strict=True, load_default=None,
                                  metadata={"description": "default: the flavor matching the instance"})
    image_id = ma.fields.Integer(validate=ID, strict=True, load_default=None,
                                 metadata={"description": "default: the image at the instance's osparams img_id"})
    name = ma.fields.String(validate=NAME, load_default=None, metadata={"description": "default: the instance name"})


class ServerDetailSchema(ServerSchema):
    task = ma.fields.String(allow_none=True)
    deleted = ma.fields.Boolean()
    backend_time = ma.fields.Float(allow_none=True)
    last_reconciled_at = UtcDateTime(allow_none=True)


class BackendRefSchema(ma.Schema):
    id = ma.fields.Integer()
    clustername = ma.fields.String()


class ServerInspectSchema(ma.Schema):
    server = ma.fields.Nested(ServerDetailSchema)
    instance_name = ma.fields.String()
    backend = ma.fields.Nested(BackendRefSchema, allow_none=True)
    instance = ma.fields.Dict(allow_none=True, metadata={"description": "GET /2/instances/<name> as the cluster answers"})
    jobs = ma.fields.List(ma.fields.Dict(), metadata={"description": "the cluster's jobs for the instance, newest first"})
    cluster_error = ma.fields.String(allow_none=True)
    operations = ma.fields.List(ma.fields.Nested(OperationSchema), metadata={"description": "newest first"})


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
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)
    fixes = ma.fields.List(ma.fields.String())
    backends_checked = ma.fields.List(ma.fields.Integer())
    backends_skipped = ma.fields.Dict()
    servers_checked = ma.fields.Integer()
    finding_count = ma.fields.Function(lambda run: len(run.findings))


class ReconciliationRunDetailSchema(ReconciliationRunSchema):
    findings = ma.fields.List(ma.fields.Nested(FindingSchema))


class EventsQuerySchema(ma.Schema):
    until = ma.fields.String(load_default="idle", validate=validate.OneOf(streams.UNTIL), metadata={
        "description": "idle: the stream ends when no operation is in flight; deleted: it follows the "
                       "server through every operation until it is deleted"})
