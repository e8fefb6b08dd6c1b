"""Rendering (tables for people, JSON for scripts) and the option parsing every group shares."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

OUTPUT = click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def fail(message: str) -> NoReturn:
    """A mistake an operator made ends as one line on stderr and exit status 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns)
              for r in rows]
    return "\n".join(lines)


def emit(rows: list[dict], columns: list[str], output: str) -> None:
    """Many objects: a table, or a JSON list."""
    if output == "json":
        click.echo(json.dumps(rows, default=str, indent=2))
    else:
        click.echo(table(rows, columns))


def show(row: dict, output: str) -> None:
    """One object: `key  value` lines for people, a JSON object for scripts."""
    if output == "json":
        click.echo(json.dumps(row, default=str, indent=2))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        click.echo(f"{key.ljust(width)}  {'-' if value is None else value}")


def rows(objects: Any, columns: list[str]) -> list[dict]:
    return [{c: getattr(o, c) for c in columns} for o in objects]


# -- snf-manage's `--filter-by key=value,...` ----------------------------------------

def filter_by_option(keys: dict[str, str]):
    """The option; `keys` maps each key to "str", "int" or "bool"."""
    help_text = "Only rows matching key=value,... (keys: " + ", ".join(keys) + ")."
    return click.option("--filter-by", "filter_by", default="", metavar="KEY=VALUE,...", help=help_text)


def parse_filters(text: str, keys: dict[str, str]) -> dict:
    filters: dict = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            fail(f"--filter-by: expected key=value, got {item!r}")
        if key not in keys:
            fail(f"--filter-by: unknown key {key!r}; use one of {', '.join(keys)}")
        kind = keys[key]
        filters[key] = _int(value, key) if kind == "int" else _bool(value, key) if kind == "bool" else value
    return filters


def first(filters: dict, *keys: str, default: Any = None) -> Any:
    """The value of the first of several synonymous keys given (`user` or `user_id`)."""
    return next((filters[k] for k in keys if k in filters), default)


def _bool(value: str, key: str) -> bool:
    if value.lower() in TRUE | FALSE:
        return value.lower() in TRUE
    fail(f"--filter-by {key}: expected true or false, got {value!r}")


def _int(value: str, key: str) -> int:
    if not value.isdigit() or len(value) > 10:
        fail(f"--filter-by {key}: expected a number, got {value!r}")
    return int(value)


def csv(value: str | None, cast=str, what: str = "value") -> list | None:
    """A comma-separated option (`--cpus 1,2,4`); None when it was not given."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        fail(f"{what}: give at least one value")
    try:
        return [cast(v) for v in items]
    except ValueError:
        fail(f"{what}: {value!r} is not a comma-separated list of {'numbers' if cast is int else 'names'}")
