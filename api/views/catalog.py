"""Backends (admin), flavors and images."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from orchestrator.errors import Conflict, Invalid
from orchestrator.models import Backend, Flavor, Image

from ..auth import principal, require_admin, require_principal
from ..errors import ErrorSchema
from ..schemas import BackendSchema, FlavorSchema, ImageSchema

backends_blp = Blueprint("backends", __name__, url_prefix="/api/v1/backends", description="Ganeti clusters (admin)")
flavors_blp = Blueprint("flavors", __name__, url_prefix="/api/v1/flavors", description="Flavors")
images_blp = Blueprint("images", __name__, url_prefix="/api/v1/images", description="Images")
for _blp in (backends_blp, flavors_blp, images_blp):
    _blp.before_request(require_principal)


def _unique(model, name_attr: str, value: str, field: str) -> None:
    if g.db.scalars(select(model).where(getattr(model, name_attr) == value)).first():
        raise Conflict(f"{field} {value!r} is already taken", field=field)


@backends_blp.route("")
class Backends(MethodView):
    @backends_blp.response(200, BackendSchema(many=True))
    @backends_blp.alt_response(403, schema=ErrorSchema)
    def get(self):
        """List backends with their capacity (credentials are never returned)."""
        require_admin()
        return g.db.scalars(select(Backend).order_by(Backend.id)).all()

    @backends_blp.arguments(BackendSchema)
    @backends_blp.response(201, BackendSchema)
    @backends_blp.alt_response(403, schema=ErrorSchema)
    @backends_blp.alt_response(409, schema=ErrorSchema)
    def post(self, data):
        """Add a backend; drained by default, as Synnefo adds them."""
        require_admin()
        _unique(Backend, "clustername", data["clustername"], "clustername")
        backend = Backend(**data)
        g.db.add(backend)
        g.db.commit()
        return backend


@flavors_blp.route("")
class Flavors(MethodView):
    @flavors_blp.response(200, FlavorSchema(many=True))
    def get(self):
        """Flavors that can be chosen."""
        return g.db.scalars(select(Flavor).where(Flavor.deleted.is_(False)).order_by(Flavor.id)).all()

    @flavors_blp.arguments(FlavorSchema)
    @flavors_blp.response(201, FlavorSchema)
    @flavors_blp.alt_response(403, schema=ErrorSchema)
    @flavors_blp.alt_response(409, schema=ErrorSchema)
    def post(self, data):
        """Create a flavor (admin)."""
        require_admin()
        _unique(Flavor, "name", data["name"], "name")
        flavor = Flavor(**data)
        g.db.add(flavor)
        g.db.commit()
        return flavor


@images_blp.route("")
class Images(MethodView):
    @images_blp.response(200, ImageSchema(many=True))
    def get(self):
        """Public images and the caller's own."""
        who = principal()
        query = select(Image).order_by(Image.id)
        if not who.admin:
            query = query.where(or_(Image.public.is_(True), Image.owner == who.user_id))
        return g.db.scalars(query).all()

    @images_blp.arguments(ImageSchema)
    @images_blp.response(201, ImageSchema)
    @images_blp.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Register an image owned by the caller; only administrators publish."""
        who = principal()
        if data["public"] and not who.admin:
            raise Invalid("only administrators may register public images", field="public")
        image = Image(owner=who.user_id, **data)
        g.db.add(image)
        g.db.commit()
        return image
