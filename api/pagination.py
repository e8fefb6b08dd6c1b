"""Opaque cursors for lists ordered by id: clients pass back the `next` they were given."""
from __future__ import annotations

import base64
import binascii

from orchestrator.errors import Invalid

_PREFIX = "after:"


def encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    value = raw[len(_PREFIX):] if raw.startswith(_PREFIX) else ""
    if not value.isdigit() or len(value) > 18:
        raise Invalid("not a cursor this API gave: pass back the `next` of the previous page", field="cursor")
    return int(value)


def page(rows: list, limit: int) -> tuple[list, str | None]:
    """`rows` was fetched with limit + 1: the extra row only says there is a next page."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode(rows[-1].id)
    return rows, None
