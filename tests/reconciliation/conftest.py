"""Fixtures of the reconciliation drills. They run on the session's `stack` (real Redis,
a real worker, the simulated fleet over HTTP), on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest

from tests.reconciliation.helpers import RequestLog

# The broker does not matter to reconciliation: the RabbitMQ stack is left to the broker drills.
STACKS = ["sqlite", "postgresql"]


@pytest.fixture
def sim_log(stack):
    """Requests the simulated clusters receive during the test, counted on their side."""
    log = RequestLog(stack.sim.clusters).install()
    try:
        yield log
    finally:
        log.uninstall()


@pytest.fixture
def clean_faults(stack):
    """Whatever a drill does to the clusters' faults or run state is undone after it."""
    yield
    for cluster in stack.sim.clusters:
        cluster.faults.reset()
        cluster.up()


@pytest.fixture
def short_reconciliation_min():
    """RECONCILIATION_MIN of half a minute, for a context of the test's own."""
    return 0.5
