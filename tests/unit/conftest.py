from __future__ import annotations

import pytest

from orchestrator import migrate
from orchestrator.db import get_sessionmaker


@pytest.fixture
def session(tmp_path):
    """A real, migrated SQLite database per test."""
    url = f"sqlite:///{tmp_path / 'unit.db'}"
    migrate.upgrade(url)
    with get_sessionmaker(url)() as session:
        yield session
