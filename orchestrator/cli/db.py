"""`db` (the schema) and `demo` (data for the one-machine stack)."""
from __future__ import annotations

import json

import click

from .. import demo, migrate
from ..services.context import Context
from ..settings import Settings
from .runtime import pass_services, pass_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_settings
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply migrations up to REVISION."""
    migrate.upgrade(settings.database_url, revision=revision, settings=settings)
    click.echo(f"database at {revision}")


@click.group("demo")
def demo_group() -> None:
    """Demo data for the one-machine stack."""


@demo_group.command("seed")
@pass_services
def demo_seed(services: Context) -> None:
    """One backend per simulated cluster (SIM_CLUSTERS from SIM_BASE_PORT), flavors, an image."""
    with services.session() as session:
        created = demo.seed(session, credentials=services.credentials)
    click.echo(json.dumps(created))
    if services.settings.uses_dev_admin_token:
        click.echo(f"admin token (development default): {services.settings.admin_token}")


GROUPS = (db, demo_group)
