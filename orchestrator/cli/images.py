"""`image`: the images servers are built from."""
from __future__ import annotations

import click

from .. import catalog as catalog_rules
from ..models import Image
from ..services import catalog
from ..services.context import Context
from .output import OUTPUT, emit, fail, filter_by_option, parse_filters, show
from .runtime import ADMIN, pass_services

IMAGE_COLUMNS = ["id", "name", "location", "disk_format", "os", "public", "owner", "properties"]
IMAGE_FILTERS = {"name": "str", "owner": "str", "public": "bool", "os": "str"}


def image_row(image: Image) -> dict:
    """As the API shows it: the disk format and the properties a user may see."""
    return {"id": image.id, "name": image.name, "location": image.location,
            "disk_format": catalog_rules.image_disk_format(image), "os": image.os, "public": image.public,
            "owner": image.owner, "properties": catalog_rules.public_properties(image)}


def _properties(items: tuple[str, ...]) -> dict[str, str]:
    """Repeated `--property KEY=VALUE`."""
    props = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--property: expected KEY=VALUE, got {item!r}")
        props[key.strip()] = value.strip()
    return props


@click.group()
def image() -> None:
    """Images servers are built from."""


@image.command("register")
@click.option("--name", required=True)
@click.option("--location", required=True, help="What snf-image fetches (img_id).")
@click.option("--disk-format", type=click.Choice(["diskdump", "extdump", "ntfsdump"]), default="diskdump",
              show_default=True)
@click.option("--os", "os_type", default="snf-image+default", show_default=True, help="Ganeti OS provider.")
@click.option("--public", is_flag=True, help="Visible to every user.")
@click.option("--owner", default="admin", show_default=True, help="The user the image belongs to.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Free-form, repeatable: --property OSFAMILY=linux --property ROOT_PARTITION=1")
@OUTPUT
@pass_services
def image_register(services: Context, name, location, disk_format, os_type, public, owner, properties,
                   output) -> None:
    """Register an image."""
    props = _properties(properties)
    with services.session() as session:
        row = catalog.register_image(services, session, ADMIN, owner=owner, name=name, location=location,
                                     disk_format=disk_format, os=os_type, public=public, properties=props)
        show(image_row(row), output)


@image.command("list")
@filter_by_option(IMAGE_FILTERS)
@OUTPUT
@pass_services
def image_list(services: Context, filter_by: str, output: str) -> None:
    """Every registered image."""
    filters = parse_filters(filter_by, IMAGE_FILTERS)
    with services.session() as session:
        emit([image_row(i) for i in catalog.list_images(services, session, ADMIN, **filters)], IMAGE_COLUMNS,
             output)


@image.command("show")
@click.argument("image_id", type=int)
@OUTPUT
@pass_services
def image_show(services: Context, image_id: int, output: str) -> None:
    """One image with its properties."""
    with services.session() as session:
        show(image_row(catalog.get_image(services, session, ADMIN, image_id)), output)


GROUPS = (image,)
