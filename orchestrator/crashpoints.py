"""Crash points for failure drills: kill this worker process at a named instant.

Unset in production. The kill drill sets ORCHESTRATOR_CRASH_POINTS (e.g.
``submit.after_write``) and ORCHESTRATOR_CRASH_DIR; each point then kills the
process with SIGKILL once per operation, at the worst moment: after the external
action and before its result is committed.
"""
from __future__ import annotations

import os
import signal

from .settings import Settings


def crash_point(settings: Settings, name: str, op_id: int) -> None:
    if name not in settings.crash_points:
        return
    marker = settings.crash_dir / f"crash-{name}-{op_id}"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # crashed here once already for this operation
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
