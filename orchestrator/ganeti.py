"""Ganeti's vocabulary, written once: job statuses, opcodes, times, and how the
orchestrator marks its jobs and instances.

Only the standard library, so the node agent can import it beside a cluster.
"""
from __future__ import annotations

import json
from typing import Any

FINAL_JOB_STATUSES = frozenset({"success", "error", "canceled"})
# Not Ganeti's: what the orchestrator records of a job its cluster no longer knows (a 404).
JOB_VANISHED = "vanished"

OP_CREATE = "OP_INSTANCE_CREATE"
OP_STARTUP = "OP_INSTANCE_STARTUP"
OP_SHUTDOWN = "OP_INSTANCE_SHUTDOWN"
OP_REBOOT = "OP_INSTANCE_REBOOT"
OP_REMOVE = "OP_INSTANCE_REMOVE"
OP_SET_PARAMS = "OP_INSTANCE_SET_PARAMS"

OP_TAG_PREFIX = "orchestrator:op:"


def op_tag(op_id: int, generation: int | None = 0) -> str:
    """The reason trail entry every job of an operation carries, and the tag of the instance a
    create made (Ganeti tags allow ':'), to trace either back to its operation and attempt.

    `generation` counts the operation's retries: each retry sends its jobs with a reason of its
    own (`orchestrator:op:<id>:<generation>`), so that a replay never takes the job of an
    earlier attempt for its own. Generation 0 (or none, a row from before generations) keeps
    the first format, `orchestrator:op:<id>`, which operations already in flight carry."""
    return f"{OP_TAG_PREFIX}{op_id}:{generation}" if generation else f"{OP_TAG_PREFIX}{op_id}"


def carries_reason(job: dict[str, Any], reason: str) -> bool:
    """Whether any opcode of `job` has `reason` in its reason trail, as an exact entry
    ("orchestrator:op:1" must not match operation 12)."""
    quoted = json.dumps(reason)
    return any(quoted in json.dumps(op.get("reason", [])) for op in job.get("ops") or [])


def ganeti_time(value: Any) -> float | None:
    """Ganeti's [seconds, microseconds] (or plain seconds) as a float; None when absent."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return value[0] + value[1] / 1e6
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None

OP_NETWORK_ADD = "OP_NETWORK_ADD"
OP_NETWORK_CONNECT = "OP_NETWORK_CONNECT"
OP_NETWORK_DISCONNECT = "OP_NETWORK_DISCONNECT"
OP_NETWORK_REMOVE = "OP_NETWORK_REMOVE"
