"""Server reconciliation: compare each backend's instances with the database, record
every disagreement, and fix the kinds asked for.

One bulk instances call per backend per run, whatever the number of servers (a BUILD
server whose create looks stuck costs one extra job lookup). Fixes go through the state
function as if Ganeti had reported the matching job, as Synnefo does.

A backend's pass has two phases, so no database write lock is held during a RAPI call:

1. read: the bulk instances call, the batch's servers (only the columns compared), the
   operations in flight; compare, record findings in memory, submit orphan removals;
2. write: re-read every server to fix under a row lock (SQLite: the database write lock),
   fix it only if it did not change meanwhile, insert the findings, mark the batch
   checked, commit.

Staggering (Synnefo's README.deploy): with `Options(interval_min=...)` each run checks
about num_servers / RECONCILIATION_MIN * interval servers per backend, the least recently
checked first, so every server is checked within RECONCILIATION_MIN.
"""
from .backend import BackendReconciler
from .rules import (NO_DATA_STATUSES, STALE_GRACE_S, FlavorFigures, Options, batch_size, instance_nics,
                    instance_operstate, load_flavors, nics_match, observed_operstate)
from .run import fetch_instances, reconcile, redis_lock

__all__ = ["BackendReconciler", "FlavorFigures", "NO_DATA_STATUSES", "Options", "STALE_GRACE_S",
           "batch_size", "fetch_instances", "instance_nics", "instance_operstate", "load_flavors", "nics_match",
           "observed_operstate", "reconcile", "redis_lock"]
