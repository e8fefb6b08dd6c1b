"""The admin command line (`orchestrator`), click-based, as snf-manage is for Synnefo."""
from __future__ import annotations

import json
import sys

import click

from . import auth, demo, migrate
from .db import session_scope
from .errors import DomainError
from .settings import get_settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Operate the Ganeti orchestrator."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    migrate.upgrade(revision=revision)
    click.echo(f"database at {revision}")


@main.group("demo")
def demo_group() -> None:
    """Demo data for the one-machine stack."""


@demo_group.command("seed")
def demo_seed() -> None:
    """One backend per simulated cluster (SIM_CLUSTERS from SIM_BASE_PORT), flavors, an image."""
    with session_scope() as session:
        created = demo.seed(session)
    click.echo(json.dumps(created))
    settings = get_settings()
    if settings.uses_dev_admin_token:
        click.echo(f"admin token (development default): {settings.admin_token}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "user_id", required=True, help="The user the token acts as.")
@click.option("--admin", is_flag=True, help="Grant administrator rights.")
def token_create(user_id: str, admin: bool) -> None:
    """Create a token; it is shown once and stored hashed."""
    with session_scope() as session:
        row, secret = auth.create_token(session, user_id.strip(), admin=admin)
        session.commit()
        click.echo(f"token id {row.id} for user {row.user_id}{' (admin)' if admin else ''}:")
        click.echo(secret)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    with session_scope() as session:
        try:
            auth.revoke_token(session, token_id)
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
    click.echo(f"token {token_id} revoked")


if __name__ == "__main__":  # pragma: no cover
    main()
