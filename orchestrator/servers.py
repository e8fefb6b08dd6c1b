"""Requesting server actions: validate, then write the server and its operation.

Nothing here talks to a cluster or a broker; the caller commits and enqueues.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from .actions import ACTIONS
from .catalog import is_unregistered
from .db import write_lock
from .errors import Conflict, Forbidden, Invalid, NotFound
from .ganeti import OP_REMOVE
from .network import attach
from .quotas import commission as quota
from .models import IN_FLIGHT, Backend, Flavor, Image, Operation, OperState, OpStatus, Server, Step, utcnow
from .state import RESIZE_REVERT, JobReport, apply_job_report
from .validation import check_name

# Operstates each user action may start from, as Synnefo allows them.
ALLOWED_FROM = {
    "start": {OperState.STOPPED.value, OperState.ERROR.value},
    "shutdown": {OperState.STARTED.value},
    "reboot": {OperState.STARTED.value},
    "resize": {OperState.STOPPED.value},
}
REBOOT_TYPES = ("soft", "hard")


def _check_image(image: Image | None, image_id: int, user_id: str, admin: bool) -> Image:
    if image is None or is_unregistered(image) or not (image.public or admin or image.owner == user_id):
        raise Invalid(f"image {image_id} does not exist", field="image_id")
    return image


def _check_flavor(flavor: Flavor | None, flavor_id: int, field: str = "flavor_id") -> Flavor:
    if flavor is None or flavor.deleted:
        raise Invalid(f"flavor {flavor_id} does not exist", field=field)
    return flavor


def visible_image(session: Session, image_id: int, user_id: str, *, admin: bool) -> Image:
    return _check_image(session.get(Image, image_id), image_id, user_id, admin)


def usable_flavor(session: Session, flavor_id: int, field: str = "flavor_id") -> Flavor:
    return _check_flavor(session.get(Flavor, flavor_id), flavor_id, field)


def flavor_and_image(session: Session, flavor_id: int, image_id: int, user_id: str, *,
                     admin: bool) -> tuple[Flavor, Image]:
    """Both rows a create names, in one statement (each ORM query costs a create more than its
    execution: bench/profile_paths.py); either missing, each is looked up to say which."""
    row = session.execute(select(Flavor, Image).join(Image, true())
                          .where(Flavor.id == flavor_id, Image.id == image_id)).first()
    if row is None:
        return usable_flavor(session, flavor_id), visible_image(session, image_id, user_id, admin=admin)
    return _check_flavor(row[0], flavor_id), _check_image(row[1], image_id, user_id, admin)


def request_create(
    session: Session,
    *,
    user_id: str,
    name: str,
    flavor_id: int,
    image_id: int,
    admin: bool = False,
    backend_id: int | None = None,
) -> tuple[Server, Operation]:
    """Write a BUILD server and its create operation (flushed, not committed).

    The installer's one-time URL is no parameter: it is a credential, kept in Redis only
    (vmconfig.ConfigStore.put_create, point_installer)."""
    flavor = usable_flavor(session, flavor_id)
    image = visible_image(session, image_id, user_id, admin=admin)
    if backend_id is not None:
        if not admin:
            raise Invalid("only administrators may choose a backend", field="backend_id")
        if session.get(Backend, backend_id) is None:
            raise Invalid(f"backend {backend_id} does not exist", field="backend_id")
    server = Server(user_id=user_id, name=name, flavor=flavor, image=image)  # in BUILD
    params: dict[str, Any] = {}
    if backend_id is not None:
        params["backend_id"] = backend_id
    # One flush writes both (the server first, for the operation's key): the write
    # transaction, SQLite's serial section, starts at that flush.
    op = Operation(kind="create", server=server, user_id=user_id, step=Step.ALLOCATE.value, params=params)
    session.add_all((server, op))
    session.flush()
    return server, op


def in_flight(session: Session, server_id: int) -> Operation | None:
    return session.scalars(
        select(Operation).where(Operation.server_id == server_id, Operation.status.in_(IN_FLIGHT))
    ).first()


def lock_server(session: Session, server: Server) -> Server:
    """Serialize the requests that write about one server (actions, deletes, retries,
    suspensions), and re-read it: what a request decides from is then what the one before it
    committed, not what both read before either wrote.

    Locks in the order the chain and the events do (the operation in flight, then the
    server): the database write lock on SQLite, row locks on PostgreSQL.
    """
    write_lock(session)
    session.scalars(
        select(Operation).where(Operation.server_id == server.id, Operation.status.in_(IN_FLIGHT))
        .options(lazyload(Operation.server)).with_for_update(of=Operation)
    ).all()
    locked = session.get(Server, server.id, with_for_update={"of": Server}, populate_existing=True)
    return locked if locked is not None else server


def insert_operation(session: Session, op: Operation) -> Operation:
    """Insert under the one-in-flight-per-server index; a lost race becomes a 409."""
    try:
        with session.begin_nested():
            session.add(op)
            session.flush()
    except IntegrityError:
        current = in_flight(session, op.server_id)
        raise Conflict(
            f"operation {current.id if current else '?'} ({current.kind if current else 'unknown'}) "
            "is in flight for this server"
        ) from None
    return op


def _supersede(session: Session, server: Server, by: str) -> None:
    """Destroy wins: whatever is queued for the server is ended; its chain then stops (and
    gives back any quota it reserved)."""
    quota.settle_superseded(session, session.scalars(select(Operation.id).where(
        Operation.server_id == server.id, Operation.status.in_(IN_FLIGHT))).all())
    session.execute(
        update(Operation)
        .where(Operation.server_id == server.id, Operation.status.in_(IN_FLIGHT))
        .values(status=OpStatus.FAILED.value, step=Step.DONE.value, error=f"superseded by {by}",
                finished_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    server.task = None


def request_action(
    session: Session, server: Server, action: str, *, user_id: str, admin: bool,
    quota_defaults: Mapping[str, int | None] | None = None, **params: Any
) -> tuple[Operation, bool]:
    """Validate an action on `server` and write its operation (flushed, not committed); the
    operation and whether this request wrote it.

    A destroy asked while one is in flight is that destroy: it is returned, nothing is written.
    A start or a resize that would take the owner past a quota (`quota_defaults`: the
    deployment's limits) is refused (OverLimit); else what it grows is reserved for it
    (orchestrator.quotas.commission), last, with the owner's quota lock.
    """
    if action not in ACTIONS and action not in ("suspend", "unsuspend") or action == "create":
        raise Invalid(f"unknown action {action!r}", field="action")
    server = lock_server(session, server)
    if server.deleted or server.operstate == OperState.DESTROYED.value:
        raise Conflict(f"server {server.id} is deleted")
    if server.suspended and not admin:
        raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
    if action in ("suspend", "unsuspend"):
        return _set_suspended(session, server, action, user_id=user_id, admin=admin), True
    if action == "destroy":
        current = in_flight(session, server.id)
        if current is not None and current.kind == "destroy":
            return current, False
        _supersede(session, server, "destroy")
    else:
        current = in_flight(session, server.id)
        if current is not None:
            raise Conflict(f"operation {current.id} ({current.kind}) is in flight for this server")
        if server.operstate not in ALLOWED_FROM[action]:
            raise Conflict(f"cannot {action} a server in state {server.operstate}")
        if server.backend_id is None:
            # A create that failed before any cluster took it (ERROR, no backend): there is no
            # instance to act on, only the server to destroy.
            raise Conflict(f"server {server.id} is on no backend (its create failed); only destroy it")
    op_params = _action_params(session, server, action, params)
    if not op_params.get(RESIZE_REVERT):
        server.resize_from_flavor_id = None  # any other action confirms a resize awaiting it
    if server.backend_id is None and action == "destroy":
        # The create never reached a cluster: nothing to remove there.
        apply_job_report(server, JobReport.local(OP_REMOVE, "success"))
        op = Operation(kind=action, server_id=server.id, user_id=user_id, status=OpStatus.SUCCEEDED.value,
                       step=Step.DONE.value, finished_at=utcnow())
        insert_operation(session, op)
        attach.settle(session, op)  # its ports go, their addresses back in their pools
        return op, True
    op = Operation(kind=action, server_id=server.id, user_id=user_id, step=Step.SUBMIT.value,
                   backend_id=server.backend_id, params=op_params)
    insert_operation(session, op)
    server.task = ACTIONS[action].task
    quota.reserve_for(session, op, server, defaults=quota_defaults or {})
    return op, True


def _action_params(session: Session, server: Server, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The operation's parameters: a reboot's type, a resize's flavor figures."""
    if action == "reboot":
        kind = params.get("type") or "soft"
        if kind not in REBOOT_TYPES:
            raise Invalid(f"reboot type must be one of {', '.join(REBOOT_TYPES)}", field="type")
        return {"type": kind}
    if action == "resize":
        return _resize_params(session, server, params.get("flavor_id"), revert=bool(params.get(RESIZE_REVERT)))
    return {}


def _resize_params(session: Session, server: Server, flavor_id: Any, *, revert: bool = False) -> dict[str, Any]:
    if flavor_id is None:
        raise Invalid("resize needs a flavor_id", field="flavor_id")
    flavor = usable_flavor(session, int(flavor_id))
    current = server.flavor
    if flavor.id == current.id:
        raise Invalid("the server already has this flavor", field="flavor_id")
    if (flavor.disk, flavor.disk_template) != (current.disk, current.disk_template):
        raise Invalid("resize changes CPUs and memory only: disk and disk template must match",
                      field="flavor_id")
    return {"flavor_id": flavor.id, "cpu": flavor.cpu, "ram": flavor.ram, RESIZE_REVERT: revert}


def _awaiting_confirmation(server: Server, what: str) -> int:
    if server.resize_from_flavor_id is None:
        raise Conflict(f"cannot {what} server {server.id}: no resize awaits confirmation")
    return server.resize_from_flavor_id


def request_revert_resize(session: Session, server: Server, *, user_id: str, admin: bool,
                          quota_defaults: Mapping[str, int | None] | None = None) -> tuple[Operation, bool]:
    """Resize a server whose resize awaits confirmation back to the flavor it had: a resize
    operation like any other (its quota moves as a resize's do); the wait ends when it succeeds."""
    server = lock_server(session, server)
    old = _awaiting_confirmation(server, "revert the resize of")
    return request_action(session, server, "resize", user_id=user_id, admin=admin, quota_defaults=quota_defaults,
                          flavor_id=old, **{RESIZE_REVERT: True})


def confirm_resize(session: Session, server: Server, *, user_id: str, admin: bool) -> Operation:
    """Keep the new flavor of a resize awaiting confirmation: no Ganeti job (the instance has
    it already), recorded as an operation (flushed), as a suspension is."""
    server = lock_server(session, server)
    if server.deleted or server.operstate == OperState.DESTROYED.value:
        raise Conflict(f"server {server.id} is deleted")
    if server.suspended and not admin:
        raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
    _awaiting_confirmation(server, "confirm the resize of")
    current = in_flight(session, server.id)
    if current is not None:
        raise Conflict(f"operation {current.id} ({current.kind}) is in flight for this server")
    server.resize_from_flavor_id = None
    op = Operation(kind="confirm_resize", server_id=server.id, user_id=user_id, status=OpStatus.SUCCEEDED.value,
                   step=Step.DONE.value, finished_at=utcnow(), backend_id=server.backend_id)
    insert_operation(session, op)
    return op


def _set_suspended(session: Session, server: Server, action: str, *, user_id: str, admin: bool) -> Operation:
    """Under the server's lock (`lock_server`): of requests racing to suspend it, one does."""
    if not admin:
        raise Forbidden(f"only administrators may {action} a server")
    if server.suspended == (action == "suspend"):
        raise Conflict(f"server {server.id} is already {'suspended' if server.suspended else 'not suspended'}")
    server.suspended = action == "suspend"
    op = Operation(kind=action, server_id=server.id, user_id=user_id, status=OpStatus.SUCCEEDED.value,
                   step=Step.DONE.value, finished_at=utcnow())
    session.add(op)
    session.flush()
    return op


def get_server(session: Session, server_id: int, *, user_id: str, admin: bool) -> Server:
    server = session.get(Server, server_id)
    if server is None or not (admin or server.user_id == user_id):
        raise NotFound(f"server {server_id} not found")
    return server


# API statuses a list can be filtered by, and what each means in the database.
API_STATUSES = ("BUILD", "ACTIVE", "STOPPED", "ERROR", "DELETED", "REBOOT", "RESIZE")
SERVER_FILTERS = ("status", "backend_id", "user_id", "flavor_id", "image_id", "name")


def _status_clause(status: str):
    from sqlalchemy import and_, or_

    live = (OperState.STARTED.value, OperState.STOPPED.value)
    if status == "ACTIVE":
        return and_(Server.operstate == OperState.STARTED.value, Server.task.is_(None))
    if status == "STOPPED":
        return and_(Server.operstate == OperState.STOPPED.value, Server.task.is_(None))
    if status in ("REBOOT", "RESIZE"):
        return and_(Server.task == status, Server.operstate.in_(live))
    if status == "DELETED":
        return or_(Server.operstate == OperState.DESTROYED.value, Server.deleted.is_(True))
    if status == "BUILD":
        return Server.operstate == OperState.BUILD.value
    if status == "ERROR":
        return Server.operstate.not_in([s.value for s in OperState if s is not OperState.ERROR])
    raise Invalid(f"status must be one of {', '.join(API_STATUSES)}", field="status")


def search_servers(
    session: Session, *, user_id: str, admin: bool, status: str | None = None, backend_id: int | None = None,
    owner: str | None = None, flavor_id: int | None = None, image_id: int | None = None, name: str | None = None,
    deleted: bool = False, after: int | None = None, limit: int | None = None,
) -> list[Server]:
    """Servers by id, filtered; a user only ever gets their own.

    Deleted servers are left out unless `deleted` or `status=DELETED`. `after` is the last
    id of the previous page (the API wraps it in an opaque cursor).
    """
    for field, text in (("name", name), ("user_id", owner)):
        if text is not None:
            check_name(text, field)  # a filter is text a database and a terminal take as it is
    query = select(Server).order_by(Server.id)
    if not admin:
        query = query.where(Server.user_id == user_id)
    if owner is not None:
        query = query.where(Server.user_id == owner)
    if status is not None:
        query = query.where(_status_clause(status))
    if not deleted and status != "DELETED":
        query = query.where(Server.deleted.is_(False))
    for column, value in ((Server.backend_id, backend_id), (Server.flavor_id, flavor_id),
                          (Server.image_id, image_id), (Server.name, name)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(Server.id > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def modify_server(session: Session, server: Server, *, user_id: str, admin: bool, name: str | None = None,
                  suspended: bool | None = None) -> Server:
    """Rename (the owner or an administrator) or suspend/unsuspend (administrators only).

    Suspending is recorded as an operation, as the `suspend` action is.
    """
    if suspended is not None and not admin:
        raise Forbidden("only administrators may suspend or unsuspend a server")
    server = lock_server(session, server)
    if server.deleted:
        raise Conflict(f"server {server.id} is deleted")
    if name is not None:
        check_name(name, "name")
        if server.suspended and not admin:
            raise Conflict(f"server {server.id} is suspended by an administrator; actions are refused")
        server.name = name
    if suspended is not None and bool(suspended) != server.suspended:
        _set_suspended(session, server, "suspend" if suspended else "unsuspend", user_id=user_id, admin=admin)
    session.flush()
    return server


def last_operations(session: Session, server_id: int, limit: int = 10) -> list[Operation]:
    return list(session.scalars(select(Operation).where(Operation.server_id == server_id)
                                .order_by(Operation.id.desc()).limit(limit)))
