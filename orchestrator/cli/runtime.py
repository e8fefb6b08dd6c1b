"""What one invocation works with: settings and the services' context, built on first use.

Nothing is read from the environment until a command needs it, so `--help` and a bad
option never touch it, and each invocation (each CliRunner call in the tests) gets its own.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..auth import ADMIN
from ..settings import Settings
from .output import fail

if TYPE_CHECKING:
    from ..services.context import Context

__all__ = ["ADMIN", "Runtime", "pass_services", "pass_settings", "runtime"]  # ADMIN: who the operator acts as


class Runtime:
    """click's `ctx.obj`; a test may pass `Runtime(settings=...)` or `Runtime(context=...)`."""

    def __init__(self, settings: Settings | None = None, context: Context | None = None):
        self._settings = settings if settings is not None else (context.settings if context else None)
        self._context = context

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except ValueError as exc:  # a malformed variable is the operator's to fix: one line
                fail(str(exc))
        return self._settings

    @property
    def context(self) -> Context:
        if self._context is None:
            from ..services.context import build_context

            self._context = build_context(self.settings)
        return self._context


def runtime() -> Runtime:
    return click.get_current_context().ensure_object(Runtime)


def pass_services(command: Callable[..., Any]) -> Callable[..., Any]:
    """Call the command with this invocation's services `Context` as its first argument."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(runtime().context, *args, **kwargs)
    return wrapper


def pass_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Call the command with the settings only (no broker, no Redis): `db upgrade`."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(runtime().settings, *args, **kwargs)
    return wrapper
