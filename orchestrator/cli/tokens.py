"""`token`: API tokens, shown once and stored hashed."""
from __future__ import annotations

import click

from ..services import tokens
from ..services.context import Context
from .runtime import pass_services


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "user_id", required=True, help="The user the token acts as.")
@click.option("--admin", is_flag=True, help="Grant administrator rights.")
@pass_services
def token_create(services: Context, user_id: str, admin: bool) -> None:
    """Create a token; it is shown once and stored hashed."""
    with services.session() as session:
        row, secret = tokens.create(services, session, user_id, admin=admin)
        click.echo(f"token id {row.id} for user {row.user_id}{' (admin)' if admin else ''}:")
        click.echo(secret)


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_services
def token_revoke(services: Context, token_id: int) -> None:
    """Revoke a token by its id."""
    with services.session() as session:
        tokens.revoke(services, session, token_id)
    click.echo(f"token {token_id} revoked")


GROUPS = (token,)
