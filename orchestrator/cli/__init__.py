"""The admin command line (`orchestrator`), click-based, as snf-manage is for Synnefo.

Each group is a module; each command parses its options, calls one function of
`orchestrator.services` with this invocation's context (built lazily, see `runtime`), and
renders what it returns. Rules and commits live in the services.
"""
from __future__ import annotations

import click

from ..errors import DomainError
from . import backends, db, flavors, floating_ips, images, networks, operations, reconcile, servers, tokens, users
from .output import fail
from .runtime import Runtime


class _Cli(click.Group):
    """Errors an operator can cause end as one line and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            fail(f"{exc.field}: {exc.message}" if exc.field and exc.field not in exc.message else exc.message)


@click.group(cls=_Cli)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the Ganeti orchestrator."""
    ctx.ensure_object(Runtime)  # settings and services are built on a command's first use


for _module in (db, tokens, operations, backends, reconcile, flavors, images, servers, networks, floating_ips,
                users):
    for _group in _module.GROUPS:
        main.add_command(_group)

__all__ = ["main", "Runtime"]

if __name__ == "__main__":  # pragma: no cover
    main()
