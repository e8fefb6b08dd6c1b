"""`user`: users' quotas, usage beside limits (as snf-manage user-list / quota-list / user-modify)."""
from __future__ import annotations

import click

from ..quotas import NAMES
from ..services import quotas
from ..services.context import Context
from .output import OUTPUT, emit, fail, show
from .runtime import ADMIN, pass_services


def _cell(q) -> str:
    """usage/limit, with what is reserved (+n) and a mark when over the limit (!)."""
    limit = "-" if q.limit is None else str(q.limit)
    pending = f"+{q.pending}" if q.pending else ""
    return f"{q.usage}{pending}/{limit}{'!' if q.over else ''}"


def _row(user) -> dict:
    return {"user": user.user_id, **{q.resource: _cell(q) for q in user.quotas}}


def _json(user) -> dict:
    return {"user_id": user.user_id, "quotas": {q.resource: {"limit": q.limit, "usage": q.usage, "pending": q.pending,
                                                            "default": q.default, "over": q.over}
                                               for q in user.quotas}}


@click.group()
def user() -> None:
    """Users' quotas: usage beside limits."""


@user.command("list")
@OUTPUT
@pass_services
def user_list(services: Context, output: str) -> None:
    """Every user with a holding: each resource as usage[+reserved]/limit ("-": no limit,
    "!": over the limit)."""
    with services.session() as session:
        users = quotas.list_users(services, session)
        if output == "json":
            emit([_json(u) for u in users], [], output)
        else:
            emit([_row(u) for u in users], ["user", *NAMES], output)


@user.command("show")
@click.argument("user_id")
@OUTPUT
@pass_services
def user_show(services: Context, user_id: str, output: str) -> None:
    """One user's quotas, resource by resource."""
    with services.session() as session:
        found = quotas.get(services, session, ADMIN, user_id)
        if output == "json":
            show(_json(found), output)
        else:
            emit([{"resource": q.resource, "usage": q.usage, "pending": q.pending,
                   "limit": "unlimited" if q.limit is None else q.limit, "default": q.default, "over": q.over}
                  for q in found.quotas], ["resource", "usage", "pending", "limit", "default", "over"], output)


def _limits(items: tuple[str, ...]) -> dict[str, str]:
    limits: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            fail(f"--quota: expected resource=limit (e.g. cyclades.vm=20), got {item!r}")
        limits[name.strip()] = value.strip()
    return limits


@user.command("modify")
@click.argument("user_id")
@click.option("--quota", "items", multiple=True, metavar="RESOURCE=LIMIT",
              help="A limit: an integer >= 0, `unlimited`, or `default` (the deployment's); repeatable.")
@OUTPUT
@pass_services
def user_modify(services: Context, user_id: str, items: tuple[str, ...], output: str) -> None:
    """Set a user's limits, e.g. `--quota cyclades.vm=20 --quota cyclades.ram=8192`. A limit below
    the usage is accepted: nothing is taken back, and nothing grows until usage falls below it."""
    if not items:
        fail("nothing to change: give --quota resource=limit")
    with services.session() as session:
        found = quotas.set_limits(services, session, ADMIN, user_id, _limits(items))
        if output == "json":
            show(_json(found), output)
        else:
            emit([_row(found)], ["user", *NAMES], output)


GROUPS = (user,)
