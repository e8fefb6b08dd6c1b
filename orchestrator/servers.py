"""Requesting server actions: validate, then write the server and its operation.

Nothing here talks to a cluster or a broker; the caller commits and enqueues.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Invalid, NotFound
from .models import Backend, Flavor, Image, Operation, OperState, Server, Step


def visible_image(session: Session, image_id: int, user_id: str, *, admin: bool) -> Image:
    image = session.get(Image, image_id)
    if image is None or not (image.public or admin or image.owner == user_id):
        raise Invalid(f"image {image_id} does not exist", field="image_id")
    return image


def usable_flavor(session: Session, flavor_id: int) -> Flavor:
    flavor = session.get(Flavor, flavor_id)
    if flavor is None or flavor.deleted:
        raise Invalid(f"flavor {flavor_id} does not exist", field="flavor_id")
    return flavor


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
    """Write a BUILD server and its create operation (flushed, not committed)."""
    flavor = usable_flavor(session, flavor_id)
    image = visible_image(session, image_id, user_id, admin=admin)
    if backend_id is not None:
        if not admin:
            raise Invalid("only administrators may choose a backend", field="backend_id")
        if session.get(Backend, backend_id) is None:
            raise Invalid(f"backend {backend_id} does not exist", field="backend_id")
    server = Server(
        user_id=user_id, name=name, flavor=flavor, image=image, operstate=OperState.BUILD.value
    )
    session.add(server)
    session.flush()
    op = Operation(
        kind="create",
        server_id=server.id,
        user_id=user_id,
        step=Step.ALLOCATE.value,
        params={"backend_id": backend_id} if backend_id is not None else {},
    )
    session.add(op)
    session.flush()
    return server, op


def get_server(session: Session, server_id: int, *, user_id: str, admin: bool) -> Server:
    server = session.get(Server, server_id)
    if server is None or not (admin or server.user_id == user_id):
        raise NotFound(f"server {server_id} not found")
    return server


def list_servers(session: Session, *, user_id: str, admin: bool) -> list[Server]:
    query = select(Server).order_by(Server.id)
    if not admin:
        query = query.where(Server.user_id == user_id)
    return list(session.scalars(query))
