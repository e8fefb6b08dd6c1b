"""How RAPI arguments are encoded and job ids decoded, as rapi.rst documents them and
lib/rapi/client.py does it; shared by every resource module."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .errors import RapiError


def encode_query(query: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """rapi.rst "Generic parameter types": booleans are sent as 1 or 0."""
    out = []
    for name, value in query:
        if value is None:
            continue
        out.append((name, int(value) if isinstance(value, bool) else value))
    return out


def segment(value: Any) -> str:
    """One path segment (an instance, node, group or network name), percent-encoded."""
    return quote(str(value), safe="")


def write_params(reason: str | None, **extra: Any) -> list[tuple[str, Any]]:
    """Query arguments of a write: the given ones that are set (`dry_run` is rapi.rst's
    ``dry-run``), then the reason."""
    params = [("dry-run" if k == "dry_run" else k, v) for k, v in extra.items()
              if v is not None and v is not False]
    if reason:
        params.append(("reason", reason))
    return params


def job_id(value: Any) -> int:
    """Writes answer a job id (an int; older Ganeti sent it as a string)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RapiError(f"expected a job id, got {type(value).__name__}") from None
