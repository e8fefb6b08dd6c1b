"""Backends (admin), flavors and images."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from orchestrator.services import backends, catalog

from ..auth import admin_only, context, principal, require_principal
from ..errors import documents
from ..parsing import Blueprint
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
        return backends.list_backends(context(), g.db, **query)

    @backends_blp.arguments(BackendCreateSchema)
    @backends_blp.response(201, BackendSchema)
    @documents(backends_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Add a cluster, checked by one /2/info call with its credentials; drained by default.

        A cluster that does not answer or rejects the credentials is a 422 saying which. Every
        public network is put on it (a network_create operation each); while there are any, it
        is added drained, and undraining it is a 409 until they are ACTIVE there.
        """
        return backends.add(context(), g.db, **data)


@backends_blp.route("/<int:backend_id>")
class BackendById(MethodView):
    @backends_blp.etag
    @backends_blp.response(200, BackendSchema)
    @documents(backends_blp, 401, 403, 404)
    def get(self, backend_id: int):
        return backends.get(context(), g.db, backend_id)

    @backends_blp.arguments(BackendModifySchema)
    @backends_blp.response(200, BackendSchema)
    @documents(backends_blp, 400, 401, 403, 404, 409, 422)
    def patch(self, data, backend_id: int):
        """Drain, set offline, rename, restrict disk templates, or change the connection and
        credentials (checked by one /2/info call before they are saved). Undraining is a 409
        naming `drained` while a public network is not ACTIVE on the backend yet."""
        return backends.modify(context(), g.db, backend_id, **data)

    @backends_blp.response(204)
    @documents(backends_blp, 401, 403, 404, 409)
    def delete(self, backend_id: int):
        """Remove a backend; 409 while servers that are not deleted live on it."""
        backends.remove(context(), g.db, backend_id)


# -- flavors ------------------------------------------------------------------

@flavors_blp.route("")
class Flavors(MethodView):
    @flavors_blp.arguments(FlavorQuerySchema, location="query")
    @flavors_blp.response(200, FlavorSchema(many=True))
    @documents(flavors_blp, 401, 422)
    def get(self, query):
        """Flavors that can be chosen (`deleted=true`: the deleted ones)."""
        return catalog.list_flavors(context(), g.db, **query)

    @flavors_blp.arguments(FlavorCreateSchema)
    @flavors_blp.response(201, FlavorSchema)
    @documents(flavors_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Create one flavor (admin)."""
        flavor, = catalog.create_flavors(context(), g.db, principal(), **data)
        return flavor


@flavors_blp.route("/product")
class FlavorProduct(MethodView):
    @flavors_blp.arguments(FlavorProductSchema)
    @flavors_blp.response(201, FlavorSchema(many=True))
    @documents(flavors_blp, 400, 401, 403, 409, 422)
    def post(self, data):
        """Create the cartesian product of lists of CPUs, RAM, disk and disk templates (admin),
        as snf-manage flavor-create does; all or nothing."""
        return catalog.create_flavors(context(), g.db, principal(), cpu=data["cpus"], ram=data["rams"],
                                      disk=data["disks"], disk_template=data["disk_templates"])


@flavors_blp.route("/<int:flavor_id>")
class FlavorById(MethodView):
    @flavors_blp.etag
    @flavors_blp.response(200, FlavorSchema)
    @documents(flavors_blp, 401, 404)
    def get(self, flavor_id: int):
        """One flavor; deleted ones too, since servers keep them."""
        return catalog.get_flavor(context(), g.db, flavor_id)

    @flavors_blp.arguments(FlavorModifySchema)
    @flavors_blp.response(200, FlavorSchema)
    @documents(flavors_blp, 400, 401, 403, 404, 422)
    def patch(self, data, flavor_id: int):
        """Delete or restore a flavor (admin)."""
        return catalog.set_flavor_deleted(context(), g.db, principal(), flavor_id, data["deleted"])

    @flavors_blp.response(204)
    @documents(flavors_blp, 401, 403, 404)
    def delete(self, flavor_id: int):
        """Soft delete (admin): existing servers keep the flavor; it cannot be chosen any more."""
        catalog.set_flavor_deleted(context(), g.db, principal(), flavor_id, True)


# -- images -------------------------------------------------------------------

@images_blp.route("")
class Images(MethodView):
    @images_blp.response(200, ImageSchema(many=True))
    @documents(images_blp, 401)
    def get(self):
        """Public images and the caller's own (every image for an administrator)."""
        return catalog.list_images(context(), g.db, principal())

    @images_blp.arguments(ImageCreateSchema)
    @images_blp.response(201, ImageSchema)
    @documents(images_blp, 400, 401, 422)
    def post(self, data):
        """Register an image owned by the caller; only administrators publish."""
        return catalog.register_image(context(), g.db, principal(), **data)


@images_blp.route("/<int:image_id>")
class ImageById(MethodView):
    @images_blp.etag
    @images_blp.response(200, ImageSchema)
    @documents(images_blp, 401, 404)
    def get(self, image_id: int):
        return catalog.get_image(context(), g.db, principal(), image_id)

    @images_blp.response(204)
    @documents(images_blp, 401, 403, 404)
    def delete(self, image_id: int):
        """Unregister (the owner or an administrator); servers built from it keep running."""
        catalog.unregister_image(context(), g.db, principal(), image_id)
