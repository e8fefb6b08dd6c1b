"""Fixtures of the network tests: a migrated database (SQLite per test; PostgreSQL where a
test says so), the use cases' context on it, and the callers."""
from __future__ import annotations

import os
import time
from itertools import count

import pytest

from orchestrator import migrate
from orchestrator.auth import ADMIN, Principal
from orchestrator.db import get_sessionmaker
from orchestrator.services import networks as svc

ALICE = Principal("alice", False)
BOB = Principal("bob", False)
_databases = count()


@pytest.fixture(params=["sqlite"])
def net_db_url(request, tmp_path) -> str:
    """The database a test runs on: SQLite, or PostgreSQL for tests parametrized with
    `@pytest.mark.parametrize("net_db_url", ["sqlite", "postgresql"], indirect=True)`."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'net.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"net_{os.getpid()}_{int(time.time())}_{next(_databases)}")
    migrate.upgrade(url)
    return url


@pytest.fixture
def sessions(net_db_url):
    return get_sessionmaker(net_db_url)


@pytest.fixture
def session(sessions):
    with sessions() as session:
        yield session


@pytest.fixture
def ctx(net_db_url):
    from tests.conftest import context_for

    return context_for(net_db_url)


@pytest.fixture
def default_pools(ctx, session):
    """The admin guide's pools: bridges prv1..prv20, MAC prefixes from aa:00:0 (65536)."""
    bridge = svc.create_pool(ctx, session, ADMIN, type="bridge", base="prv", size=20)
    mac = svc.create_pool(ctx, session, ADMIN, type="mac-prefix", base="aa:00:0", size=65536)
    return bridge, mac


@pytest.fixture
def network(ctx, session, default_pools):
    """Alice's MAC_FILTERED network with a /24 IPv4 subnet."""
    net = svc.create_network(ctx, session, ALICE, name="alice-net")
    svc.create_subnet(ctx, session, ALICE, network_id=net.id, cidr="10.0.0.0/24")
    return net


def counts(sessions, *models) -> tuple[int, ...]:
    """How many rows of each model a fresh session sees (what was committed)."""
    from sqlalchemy import func, select

    with sessions() as fresh:
        return tuple(fresh.scalar(select(func.count()).select_from(m)) for m in models)


# Tests that must hold on both databases.
BOTH = pytest.mark.parametrize("net_db_url", ["sqlite", "postgresql"], indirect=True)


def refused(kind, field, fn, *args, **kwargs) -> str:
    """Call `fn`, which must raise `kind` naming `field`; its message."""
    with pytest.raises(kind) as caught:
        fn(*args, **kwargs)
    assert caught.value.field == field, caught.value.message
    return caught.value.message
