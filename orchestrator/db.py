"""Engines and sessions: one session per request or task."""
from __future__ import annotations

import contextlib
import functools
import os
import pathlib
from collections.abc import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker



def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the API read while a worker writes; busy_timeout turns lock
    # contention between processes into waiting instead of errors.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """One engine (and pool) per database URL per process."""
    if url not in _ENGINES:
        _ENGINES[url] = _make_engine(url)
    return _ENGINES[url]


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _private_file(pathlib.Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _private_file(path: pathlib.Path) -> None:
    """The SQLite file (it holds the clusters' credentials) readable by its owner only, created
    so if it does not exist yet; SQLite's journal files take the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def forget_inherited_connections() -> None:
    """After a fork: drop the pooled connections the parent made, without closing them, so
    a child never shares a database socket with its parent (SQLAlchemy's pooling advice)."""
    for engine in list(_ENGINES.values()):
        engine.dispose(close=False)


@functools.lru_cache(maxsize=8)
def get_sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextlib.contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that rolls back on error and always closes."""
    session = get_sessionmaker(url)()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def write_lock(session: Session) -> None:
    """Serialize writers of the rows about to be read on SQLite as FOR UPDATE does on PostgreSQL.

    SQLite ignores row locks, and its deferred transactions would let two workers read the same
    row and both write: take its database write lock (BEGIN IMMEDIATE) before reading instead.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
