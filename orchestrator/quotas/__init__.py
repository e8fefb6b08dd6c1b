"""Per-user quotas, as Synnefo's Cyclades has them (docs/quotas.md).

- `resources`: the names (cyclades.vm, ...), units, and what a server holds;
- `holdings`: limits, usage and reservations per user and resource, the per-user lock, and
  `charge` for what is held at once (a private network, a floating IP);
- `commission`: servers: charged when created, followed through the state function,
  reservations for actions to come, resolved when their operation ends;
- `recount`: usage counted again from the rows, the differences, and their fix.

For callers outside (e.g. floating IPs): `quotas.charge(session, user_id, {"cyclades.floating_ip": 1},
defaults=settings.quota_defaults)` in the allocation's transaction (OverLimit: nothing is
written), and `{"cyclades.floating_ip": -1}` on release (never refused, takes no lock).
"""
from __future__ import annotations

import importlib
from typing import Any

from ..errors import OverLimit
from .resources import FLOATING_IP, NAMES, PRIVATE_NETWORK, RESOURCES

__all__ = ["FLOATING_IP", "NAMES", "OverLimit", "PRIVATE_NETWORK", "Quota", "RESOURCES", "charge", "quotas_of",
           "set_limits"]

# Imported on first use, so that `orchestrator.quotas.resources` (which the settings read) stays
# free of the database for the processes that have none (the node agents).
_FROM_HOLDINGS = ("Quota", "charge", "quotas_of", "set_limits")


def __getattr__(name: str) -> Any:
    if name in _FROM_HOLDINGS:
        return getattr(importlib.import_module(".holdings", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
