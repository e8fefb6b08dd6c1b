"""How RAPI arguments are encoded and job ids decoded, as rapi.rst documents them and
lib/rapi/client.py does it; shared by every resource module."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ..ganeti import FINAL_JOB_STATUSES
from .errors import RapiError

# One job dependency as a caller names it: a job id (the job must succeed), or a job id and
# the final statuses it may end in (an empty list: any final status).
Dependency = int | tuple[int, Iterable[str]] | list


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


def job_depends(depends: Iterable[Dependency] | None) -> list[list] | None:
    """Job dependencies in the form every opcode's ``depends`` takes them: a list of
    ``[job_id, [final statuses]]`` (opcodes_base.BuildJobDepCheck; Types.JobDependency in
    Ganeti 3.x). rlib2 passes ``depends`` from any opcode resource's dict body to the opcode
    (baserlib.OpcodeResource._GetDepends, Ganeti 2.10+); the job then stays queued until the
    jobs it names have ended, and fails (OpExecError "Dependency job N finished with status
    ..."), or is canceled, when one ended otherwise than listed.

    Each item is a job id, which must end in "success", or a (job id, statuses) pair, the
    statuses among success, error and canceled (empty: any final status). Ids are absolute:
    Ganeti's relative (negative) ids count back from the new job's own id, which across
    separate RAPI submissions names whatever job anyone submitted just before, so they are
    refused here. None or an empty list: no dependencies (None is returned, nothing is sent).
    """
    if depends is None:
        return None
    if isinstance(depends, (str, bytes, dict)):
        raise TypeError("depends must be a list of job ids or (job id, statuses) pairs")
    out: list[list] = []
    for dep in depends:
        if isinstance(dep, (list, tuple)):
            if len(dep) != 2:
                raise ValueError(f"a job dependency is (job id, statuses), got {dep!r}")
            dep_id, statuses = dep
            if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Iterable):
                raise ValueError(f"the statuses of a job dependency are a list, got {statuses!r}")
            statuses = list(statuses)
        else:
            dep_id, statuses = dep, ["success"]
        if isinstance(dep_id, bool) or not isinstance(dep_id, int) or dep_id < 0:
            raise ValueError(f"a job dependency names a job by its (absolute) id, got {dep_id!r}")
        unknown = [s for s in statuses if s not in FINAL_JOB_STATUSES]
        if unknown:
            raise ValueError(f"a job dependency's statuses are among {sorted(FINAL_JOB_STATUSES)},"
                             f" got {unknown!r}")
        out.append([dep_id, statuses])
    return out or None


def with_depends(body: dict[str, Any], depends: Iterable[Dependency] | None) -> dict[str, Any]:
    """`body` with its ``depends`` set when there are any (see `job_depends`)."""
    encoded = job_depends(depends)
    if encoded:
        body["depends"] = encoded
    return body


def address_list(value: str | Iterable[str]) -> list[str]:
    """A list of addresses (or tags): a list as given, or a comma-separated string split as
    lib/rapi/client.py's CreateNetwork does (a bare string is never taken letter by letter)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]
