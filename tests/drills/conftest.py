"""Fixtures shared by the drills."""
from __future__ import annotations

import pytest


@pytest.fixture
def drill_stack(stack):
    """The stack with its normal worker stopped, to be replaced by the drill's own workers
    (crashing, killed, or tuned), and started again afterwards."""
    stack.worker.stop()
    yield stack
    stack.worker.start()
