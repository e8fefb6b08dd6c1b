from __future__ import annotations

import pytest

from orchestrator.db import get_sessionmaker


@pytest.fixture
def session(db_url):
    with get_sessionmaker(db_url)() as session:
        yield session


@pytest.fixture
def context(db_url):
    """This process's services context on that database (settings from their defaults)."""
    from tests.conftest import context_for

    return context_for(db_url)
