"""Backends (admin), flavors and images."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from orchestrator import catalog

from ..auth import admin_only, principal, require_admin, require_principal
from ..errors import documents
from ..schemas import (BackendCreateSchema, BackendModifySchema, BackendQuerySchema, BackendSchema,
                       FlavorCreateSchema, FlavorModifySchema, FlavorProductSchema, FlavorQuerySchema, FlavorSchema,
                       ImageCreateSchema, ImageSchema)

backends_blp = Blueprint("backends", __name__, url_prefix="/api/v1/backends", description="Ganeti clusters (admin)")
flavors_blp = Blueprint("flavors", __name__, url_prefix="/api/v1/flavors", description="Flavors")
images_blp = Blueprint("images", __name__, url_prefix="/api/v1/images", description="Images")
for _blp in (backends_blp, flavors_blp, images_blp):
    _blp.before_request(require_principal)
backends_blp.before_request(admin_only)


# -- backends (admin) --------------------------------------------------------

@backends_blp.route("")
class Backends(MethodView):
    @backends_blp.arguments(BackendQuerySchema, location="query")
    @backends_blp.response(200, BackendSchema(many=True))
    @documents(backends_blp, 401, 403, 422)
    def get(self, query):
        """List backends with their capacity (credentials are never returned)."""
        return catalog.list_backends(g.db, **query)

    @backends_blp.arguments(BackendCreateSchema)
    @backends_blp.response(201, BackendSchema)
    @documents(backends_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Add a cluster, checked by one /2/info call with its credentials; drained by default.

        A cluster that does not answer or rejects the credentials is a 422 saying which.
        """
        backend = catalog.add_backend(g.db, **data)
        g.db.commit()
        return backend


@backends_blp.route("/<int:backend_id>")
class BackendById(MethodView):
    @backends_blp.etag
    @backends_blp.response(200, BackendSchema)
    @documents(backends_blp, 401, 403, 404)
    def get(self, backend_id: int):
        return catalog.get_backend(g.db, backend_id)

    @backends_blp.arguments(BackendModifySchema)
    @backends_blp.response(200, BackendSchema)
    @documents(backends_blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, backend_id: int):
        """Drain, set offline, rename, restrict disk templates, or change the connection and
        credentials (checked by one /2/info call before they are saved)."""
        backend = catalog.modify_backend(g.db, catalog.get_backend(g.db, backend_id), **data)
        g.db.commit()
        return backend

    @backends_blp.response(204)
    @documents(backends_blp, 401, 403, 404, 409)
    def delete(self, backend_id: int):
        """Remove a backend; 409 while servers that are not deleted live on it."""
        catalog.remove_backend(g.db, catalog.get_backend(g.db, backend_id))
        g.db.commit()


# -- flavors ------------------------------------------------------------------

@flavors_blp.route("")
class Flavors(MethodView):
    @flavors_blp.arguments(FlavorQuerySchema, location="query")
    @flavors_blp.response(200, FlavorSchema(many=True))
    @documents(flavors_blp, 401, 422)
    def get(self, query):
        """Flavors that can be chosen (`deleted=true`: the deleted ones)."""
        return catalog.list_flavors(g.db, **query)

    @flavors_blp.arguments(FlavorCreateSchema)
    @flavors_blp.response(201, FlavorSchema)
    @documents(flavors_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Create one flavor (admin)."""
        require_admin()
        flavor, = catalog.create_flavors(g.db, **data)
        g.db.commit()
        return flavor


@flavors_blp.route("/product")
class FlavorProduct(MethodView):
    @flavors_blp.arguments(FlavorProductSchema)
    @flavors_blp.response(201, FlavorSchema(many=True))
    @documents(flavors_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Create the cartesian product of lists of CPUs, RAM, disk and disk templates (admin),
        as snf-manage flavor-create does; all or nothing."""
        require_admin()
        flavors = catalog.create_flavors(g.db, cpu=data["cpus"], ram=data["rams"], disk=data["disks"],
                                         disk_template=data["disk_templates"])
        g.db.commit()
        return flavors


@flavors_blp.route("/<int:flavor_id>")
class FlavorById(MethodView):
    @flavors_blp.etag
    @flavors_blp.response(200, FlavorSchema)
    @documents(flavors_blp, 401, 404)
    def get(self, flavor_id: int):
        """One flavor; deleted ones too, since servers keep them."""
        return catalog.get_flavor(g.db, flavor_id)

    @flavors_blp.arguments(FlavorModifySchema)
    @flavors_blp.response(200, FlavorSchema)
    @documents(flavors_blp, 400, 401, 403, 404, 422)
    def patch(self, data, flavor_id: int):
        """Delete or restore a flavor (admin)."""
        require_admin()
        flavor = catalog.set_flavor_deleted(g.db, catalog.get_flavor(g.db, flavor_id), data["deleted"])
        g.db.commit()
        return flavor

    @flavors_blp.response(204)
    @documents(flavors_blp, 401, 403, 404)
    def delete(self, flavor_id: int):
        """Soft delete (admin): existing servers keep the flavor; it cannot be chosen any more."""
        require_admin()
        catalog.set_flavor_deleted(g.db, catalog.get_flavor(g.db, flavor_id), True)
        g.db.commit()


# -- images -------------------------------------------------------------------

@images_blp.route("")
class Images(MethodView):
    @images_blp.response(200, ImageSchema(many=True))
    @documents(images_blp, 401)
    def get(self):
        """Public images and the caller's own (every image for an administrator)."""
        who = principal()
        return catalog.list_images(g.db, user_id=who.user_id, admin=who.admin)

    @images_blp.arguments(ImageCreateSchema)
    @images_blp.response(201, ImageSchema)
    @documents(images_blp, 400, 401, 422)
    def post(self, data):
        """Register an image owned by the caller; only administrators publish."""
        who = principal()
        image = catalog.register_image(g.db, owner=who.user_id, admin=who.admin, **data)
        g.db.commit()
        return image


@images_blp.route("/<int:image_id>")
class ImageById(MethodView):
    @images_blp.etag
    @images_blp.response(200, ImageSchema)
    @documents(images_blp, 401, 404)
    def get(self, image_id: int):
        who = principal()
        return catalog.get_image(g.db, image_id, user_id=who.user_id, admin=who.admin)

    @images_blp.response(204)
    @documents(images_blp, 401, 403, 404)
    def delete(self, image_id: int):
        """Unregister (the owner or an administrator); servers built from it keep running."""
        who = principal()
        image = catalog.get_image(g.db, image_id, user_id=who.user_id, admin=who.admin)
        catalog.unregister_image(g.db, image, user_id=who.user_id, admin=who.admin)
        g.db.commit()
