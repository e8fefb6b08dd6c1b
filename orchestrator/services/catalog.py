"""Flavors and images: what servers are built from."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .. import catalog
from ..auth import Principal
from ..errors import Forbidden
from ..models import Flavor, Image
from .context import Context


def _admin(who: Principal, what: str) -> None:
    if not who.admin:
        raise Forbidden(f"only administrators may {what}")


def list_flavors(ctx: Context, session: Session, **filters: Any) -> list[Flavor]:
    return catalog.list_flavors(session, **filters)


def get_flavor(ctx: Context, session: Session, flavor_id: int) -> Flavor:
    return catalog.get_flavor(session, flavor_id)


def create_flavors(ctx: Context, session: Session, who: Principal, **figures: Any) -> list[Flavor]:
    """One flavor, or the cartesian product of lists (snf-manage flavor-create); all or nothing."""
    _admin(who, "create flavors")
    flavors = catalog.create_flavors(session, **figures)
    session.commit()
    return flavors


def set_flavor_deleted(ctx: Context, session: Session, who: Principal, flavor_id: int, deleted: bool) -> Flavor:
    """Soft delete (existing servers keep it; new ones cannot choose it) or restore."""
    _admin(who, "delete or restore flavors")
    flavor = catalog.set_flavor_deleted(session, catalog.get_flavor(session, flavor_id), deleted)
    session.commit()
    return flavor


def list_images(ctx: Context, session: Session, who: Principal, **filters: Any) -> list[Image]:
    return catalog.list_images(session, user_id=who.user_id, admin=who.admin, **filters)


def get_image(ctx: Context, session: Session, who: Principal, image_id: int) -> Image:
    return catalog.get_image(session, image_id, user_id=who.user_id, admin=who.admin)


def register_image(ctx: Context, session: Session, who: Principal, *, owner: str | None = None,
                   **fields: Any) -> Image:
    """Owned by the caller (an administrator may name another owner); only administrators publish.

    The OS provider and the location's scheme must be ones the deployment allows
    (IMAGE_OS_PROVIDERS, IMAGE_LOCATION_SCHEMES), administrators' images included."""
    if owner is not None and owner != who.user_id and not who.admin:
        raise Forbidden("only administrators may register an image for another user", field="owner")
    image = catalog.register_image(session, owner=owner or who.user_id, admin=who.admin,
                                   os_providers=ctx.settings.image_os_providers,
                                   location_schemes=ctx.settings.image_location_schemes, **fields)
    session.commit()
    return image


def unregister_image(ctx: Context, session: Session, who: Principal, image_id: int) -> None:
    """The owner or an administrator; servers built from it keep running."""
    image = get_image(ctx, session, who, image_id)
    catalog.unregister_image(session, image, user_id=who.user_id, admin=who.admin)
    session.commit()
