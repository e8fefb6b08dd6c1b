"""How big a drill is: `make test` (and CI) runs the short form, `make drills` the full one
(DRILL_SCALE=full), so the same code proves both and CI stays within its time."""
from __future__ import annotations

import os

FULL = os.environ.get("DRILL_SCALE", "short").lower() == "full"


def scaled(full: int, short: int) -> int:
    """`full` under `make drills`, `short` otherwise."""
    return full if FULL else short
