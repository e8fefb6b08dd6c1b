"""Servers: create, act, modify, read, inspect and import; every action answers with its
durable operation at once."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import auth, inspect, servers, validation, vmconfig
from ..db import write_lock
from ..network import attach, ports
from ..quotas import commission as quota
from ..quotas import holdings as quota_holdings
from ..auth import Principal
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..models import Backend, Operation, OpStatus, Port, Server
from ..state import api_status
from . import handover
from .context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Created:
    server: Server
    operation: Operation
    config_url: str  # the user's one-time URL to the VM's password


def list_servers(ctx: Context, session: Session, who: Principal, **filters: Any) -> list[Server]:
    """By id, filtered (servers.SERVER_FILTERS); a user only ever sees their own."""
    return servers.search_servers(session, user_id=who.user_id, admin=who.admin, **filters)


def get(ctx: Context, session: Session, who: Principal, server_id: int) -> Server:
    return servers.get_server(session, server_id, user_id=who.user_id, admin=who.admin)


def create(ctx: Context, session: Session, who: Principal, *, name: str, flavor_id: int, image_id: int,
           password: str | None = None, backend_id: int | None = None, owner: str | None = None,
           networks: list[dict[str, Any]] | None = None, metadata: dict[str, str] | None = None) -> Created:
    """Validate, write the server and its operation (flushed), keep the password behind two
    one-time URLs in Redis only (the user's, returned; the installer's, addressed by the
    operation and read by its submit step: no row and no answer ever holds it), commit, dispatch.

    The request's fields are checked before Redis is touched; the configs are stored before
    the first write (Redis is then no part of the write section, the database's serial
    part), and whatever refuses the create after that (a backend, a port, the quota, the
    flush, the commit) takes them back. The installer's pointer is set
    after the commit (vmconfig.ConfigStore.point_installer).
    The server is the caller's, or `owner`'s when an administrator creates it for a user.

    `networks` ([{"network_id", "fixed_ip"?} | {"port_id"}]) are its NICs, in order: a new
    port on each network named, or the caller's port; [] none; absent, a port on each of the
    deployment's DEFAULT_SERVER_NETWORKS (none set: the cluster's default NIC). Ports and
    addresses are taken now, in the create's transaction (a full pool or a taken address
    refuses the create, with nothing written). The server holds its flavor against the
    owner's quota from now on (OverLimit over it: nothing written). `metadata`: its user's
    key/value pairs (check_metadata's limits)."""
    if owner is not None and owner != who.user_id and not who.admin:
        raise Forbidden("only administrators may create a server for another user", field="owner")
    if owner is not None:
        auth.check_user_id(owner, "owner")
    owner = owner or who.user_id
    validation.check_name(name, "name")
    if password is not None:
        vmconfig.check_password(password)
    # Held, not dropped: the session's identity map is weak, and request_create's own reads
    # of the two rows are then answered from it instead of by two more queries.
    flavor, image = servers.flavor_and_image(session, flavor_id, image_id, owner, admin=who.admin)  # noqa: F841
    metadata = check_metadata(metadata or {}, ctx.settings.server_metadata_items)
    wanted = attach.check_wanted(networks)
    system = wanted is None
    if system and ctx.settings.default_server_networks:
        wanted = attach.defaults(ctx.settings.default_server_networks)
    limits = quota_holdings.limits_of(session, owner)  # read before anything is written
    config = {"password": password or vmconfig.generate_password(),
              "config": {"hostname": vmconfig.hostname_label(name)}}
    user_key, installer_key = ctx.configs.new_key(), ctx.configs.new_key()
    try:
        # Before the first write: the write section is the database's serial part. A name
        # with no label of its own is named by its id (vm-<id>), known only after the flush.
        if config["config"]["hostname"]:
            ctx.configs.put_create(config, user_key, installer_key)
        if wanted is not None:
            write_lock(session)  # before any pool or port is read (SQLite)
        server, op = servers.request_create(session, user_id=owner, admin=who.admin, name=name,
                                            flavor_id=flavor_id, image_id=image_id, backend_id=backend_id)
        if metadata:
            server.metadata_ = metadata
        if wanted is not None:
            attached = attach.attach_new(session, server, wanted, user_id=who.user_id, admin=who.admin,
                                         system=system)
            op.params = {**op.params, attach.NICS: [attach.nic_spec(p, ctx.settings.backend_prefix_id)
                                                    for p in attached]}
            session.flush()
        # Last before the commit: the owner's quota lock (a server over quota: refused, nothing written).
        quota.charge_new_server(session, server, defaults=ctx.settings.quota_defaults, limits=limits)
        if not config["config"]["hostname"]:
            config["config"]["hostname"] = vmconfig.hostname_for(name, server.id)
            ctx.configs.put_create(config, user_key, installer_key)
        session.commit()
    except BaseException:
        ctx.configs.discard(user_key, installer_key)
        raise
    ctx.configs.point_installer(op.id, installer_key)
    handover.run(ctx, op)
    return Created(server, op, vmconfig.config_url(ctx.settings.public_api_url, user_key))


def spend_installer_config(ctx: Context, session: Session, op_id: int) -> bool:
    """Once a create has ended (either way), its installer's one-time config is deleted:
    the OS scripts have run, and a key left behind would hand out the password for the rest
    of its TTL. Nothing is done while it runs, or for other kinds; best effort (Redis down:
    `sweep_installer_configs` tries again). Whether an entry was spent."""
    # As the step left it (its last read or commit), not read again: an end it did not see
    # (an event's, meanwhile) is spent by the next step or the sweep.
    op = session.get(Operation, op_id)
    if op is not None and not (op.kind == "create" and op.is_finished):
        return False
    return ctx.configs.spend_installers(op_id) > 0


# An installer entry whose operation is not in the database is spent only after this long:
# the create use case points to it just after its commit, which a reader may not see yet.
INSTALLER_GRACE_S = 60


def sweep_installer_configs(ctx: Context) -> list[int]:
    """Beat: spend the installer entries whose create ended where no chain step saw it (a
    chain that died, an operation ended by an event, a destroy or a tool), or whose
    operation is gone. The operations whose entries were spent."""
    entries = dict(ctx.configs.installers())
    if not entries:
        return []
    ids = sorted(entries)
    with ctx.session() as session:
        status = {}
        for start in range(0, len(ids), 500):
            status.update(session.execute(select(Operation.id, Operation.status)
                                          .where(Operation.id.in_(ids[start:start + 500]))).tuples().all())
    ended = [op_id for op_id in ids
             if status.get(op_id) in (OpStatus.SUCCEEDED.value, OpStatus.FAILED.value)
             or (op_id not in status and entries[op_id] >= INSTALLER_GRACE_S)]
    spent = ctx.configs.spend_installers(*ended) if ended else 0
    if spent:
        log.info("spent the installer configs of %d create(s) that ended", spent)
    return ended if spent else []


def act(ctx: Context, session: Session, who: Principal, server_id: int, action: str, **params: Any) -> Operation:
    """start, shutdown, reboot, resize, destroy; suspend and unsuspend (administrators);
    confirm_resize and revert_resize of a resize awaiting confirmation.

    A resize that succeeds awaits its user's confirmation (Nova's VERIFY_RESIZE), the server
    keeping the flavor it had: confirm_resize keeps the new one (no Ganeti job: the instance
    has it), revert_resize is a resize back (a durable operation; the wait ends when it
    succeeds), and any other action confirms it first (the product's resize was final)."""
    server = get(ctx, session, who, server_id)
    if action == "confirm_resize":
        op = servers.confirm_resize(session, server, user_id=who.user_id, admin=who.admin)
        session.commit()
        return op
    if action == "revert_resize":
        op, written = servers.request_revert_resize(session, server, user_id=who.user_id, admin=who.admin,
                                                    quota_defaults=ctx.settings.quota_defaults)
    else:
        op, written = servers.request_action(session, server, action, user_id=who.user_id, admin=who.admin,
                                             quota_defaults=ctx.settings.quota_defaults, **params)
    session.commit()
    if written:  # a destroy asked again while it runs is already on its way
        handover.run(ctx, op)
    return op


@dataclass(frozen=True)
class NicChange:
    port: Port
    operation: Operation


def connect(ctx: Context, session: Session, who: Principal, server_id: int, *, port_id: int | None = None,
            network_id: int | None = None, fixed_ips: list[dict[str, Any]] | None = None,
            name: str = "") -> NicChange:
    """Attach a port to a live server: the caller's `port_id`, or a new port on `network_id`
    (with `fixed_ips` as a port's create takes them, or each subnet's next address). A durable
    connect operation hot-adds its NIC (after the network is put on the server's backend, if
    it is not there yet); the port is BUILD until it is. Conflict while another operation is
    in flight for the server."""
    if (port_id is None) == (network_id is None):
        raise Invalid("name a port_id or a network_id, not both", field="port_id")
    if port_id is not None and (fixed_ips is not None or name):
        raise Invalid("an existing port keeps its addresses and name", field="fixed_ips")
    name = ports.check_port_name(name)
    ports.check_fixed_ips(fixed_ips)
    wanted = attach.Wanted(network_id=network_id, fixed_ips=fixed_ips, port_id=port_id, name=name)
    return change_nics(ctx, session, get(ctx, session, who, server_id), lambda server: attach.request_connect(
        session, server, wanted, user_id=who.user_id, admin=who.admin, prefix=ctx.settings.backend_prefix_id))


def change_nics(ctx: Context, session: Session, server: Server,
                request: Callable[[Server], tuple[Port, Operation, list[Operation]]]) -> NicChange:
    """The one way a server's NICs change: under the server's lock, `request(server)` writes
    the connect or disconnect (its port, its operation, and network operations it needs), the
    operation goes in under the one-in-flight index, all is committed, then handed over."""
    try:
        server = servers.lock_server(session, server)
        port, op, written = request(server)
        servers.insert_operation(session, op)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for started in (op, *written):
        handover.run(ctx, started)
    return NicChange(port, op)


def disconnect(ctx: Context, session: Session, who: Principal, server_id: int, port_id: int, *,
               keep_own_port: bool = False) -> NicChange:
    """Detach a port from its server: a durable disconnect operation hot-removes the NIC, and
    the port is deleted with it, its addresses back in their pools; with `keep_own_port`, a
    port its user made on its own is kept instead (DOWN, on no server), as Nova's interface
    detach keeps a port it did not make (Neutron's preserve_on_delete)."""
    return change_nics(ctx, session, get(ctx, session, who, server_id), lambda server: (*attach.request_disconnect(
        session, server, port_id, user_id=who.user_id, admin=who.admin, prefix=ctx.settings.backend_prefix_id,
        keep_own_port=keep_own_port), []))


def modify(ctx: Context, session: Session, who: Principal, server_id: int, *, name: str | None = None,
           suspended: bool | None = None, metadata: dict[str, str] | None = None) -> Server:
    """Rename, suspend or unsuspend; `metadata` replaces all of the server's metadata."""
    server = get(ctx, session, who, server_id)
    if metadata is not None:
        metadata = check_metadata(metadata, ctx.settings.server_metadata_items)
    servers.modify_server(session, server, user_id=who.user_id, admin=who.admin, name=name, suspended=suspended)
    if metadata is not None:
        if server.suspended and not who.admin:
            raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
        server.metadata_ = metadata
    session.commit()
    return server


# Nova's limits on a metadata item: its key 1 to 255 characters, its value 0 to 255.
METADATA_KEY_MAX = METADATA_VALUE_MAX = 255


def check_metadata(items: Any, most: int, field: str = "metadata") -> dict[str, str]:
    """Printable key/value strings within Nova's lengths, at most `most` of them
    (SERVER_METADATA_ITEMS, Nova's metadata_items quota: Forbidden past it); else Invalid."""
    if not isinstance(items, dict):
        raise Invalid("must be an object of key/value strings", field=field)
    for key, value in items.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_KEY_MAX:
            raise Invalid(f"a key is 1 to {METADATA_KEY_MAX} characters", field=field)
        if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX:
            raise Invalid(f"the value of {key!r} is a string of at most {METADATA_VALUE_MAX} characters", field=field)
        validation.check_printable(key, field)
        validation.check_printable(value, field)
    if len(items) > most:
        raise Forbidden(f"Quota exceeded for metadata_items: {len(items)} item(s), at most {most}", field=field)
    return dict(items)


def update_metadata(ctx: Context, session: Session, who: Principal, server_id: int, *,
                    items: dict[str, str] | None = None, replace: bool = False,
                    delete: str | None = None) -> dict[str, str]:
    """The server's metadata: `items` set (over the others, or in place of all with
    `replace`), or the key `delete` removed (NotFound when it is not there). Under the
    server's lock, so two updates never lose one another's keys. The metadata after."""
    items = check_metadata(items or {}, ctx.settings.server_metadata_items)
    server = servers.lock_server(session, get(ctx, session, who, server_id))
    if server.deleted:
        raise NotFound(f"server {server.id} not found")
    if server.suspended and not who.admin:
        raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
    current = {} if replace else dict(server.metadata_ or {})
    if delete is not None:
        if delete not in current:
            raise NotFound(f"metadata item {delete!r} not found", field="key")
        del current[delete]
    current.update(items)
    server.metadata_ = check_metadata(current, ctx.settings.server_metadata_items)
    session.commit()
    return dict(server.metadata_)


def inspect_server(ctx: Context, session: Session, server_id: int, *, jobs: int = 10) -> dict[str, Any]:
    """Administrators: the row beside the live instance, its cluster's jobs and its last operations."""
    server = servers.get_server(session, server_id, user_id="", admin=True)
    return inspect.inspect_server(session, server, ctx.cluster, ctx.settings.backend_prefix_id, jobs=jobs)


def import_instance(ctx: Context, session: Session, who: Principal, *, backend_id: int, instance_name: str,
                    user_id: str, flavor_id: int | None = None, image_id: int | None = None,
                    name: str | None = None) -> tuple[Server, Operation]:
    """Administrators: adopt an instance named <prefix><free id>, untouched (snf-manage server-import)."""
    backend = session.get(Backend, backend_id)
    if backend is None:
        raise Invalid(f"backend {backend_id} not found", field="backend_id")
    server, op = inspect.import_server(session, backend, instance_name, prefix=ctx.settings.backend_prefix_id,
                                       user_id=user_id, client=ctx.cluster(backend), flavor_id=flavor_id,
                                       image_id=image_id, name=name, by=who.user_id)
    session.commit()
    return server, op


def live_state(ctx: Context, session: Session, server_id: int) -> tuple[dict[str, Any], bool]:
    """What a watcher is shown of a server, and whether it may still change (an operation in
    flight, or a transient status)."""
    server = session.get(Server, server_id, populate_existing=True)
    state = {"id": server.id, "status": api_status(server), "build_percentage": server.build_percentage,
             "backend_job_status": server.backend_job_status, "backend_opcode": server.backend_opcode,
             "nics": server.nics or []}
    moving = servers.in_flight(session, server_id) is not None or state["status"] in ("BUILD", "REBOOT", "RESIZE")
    return state, moving


def read_config(ctx: Context, key: str) -> dict[str, Any]:
    """A VM's password and configuration, once (the key is the credential); then NotFound."""
    config = ctx.configs.pop(key) if key.isalnum() else None
    if config is None:
        raise NotFound("no such configuration, or it was already read")
    return config
