"""Engines and sessions: one session per request or task."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pathlib
import sqlite3
import threading
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


class WriterGate:
    """SQLite has one writer at a time, and makes the others wait by sleeping in its busy
    handler (steps of up to 100 ms, whatever happens meanwhile): under concurrent requests
    writers spent most of their time asleep while the lock was free (py-spy over
    bench/bench_api.py). Writers queue here instead, on a thread lock inside the process and
    an flock on a file beside the database across processes, both woken the instant the
    holder commits or rolls back. SQLite's own lock stays what decides; the gate only orders
    who asks, and a writer that cannot have it within the busy timeout goes on without it."""

    def __init__(self, path: pathlib.Path, timeout: float = 30.0):
        self.path, self.timeout = path, timeout
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def _file(self) -> int:
        if self._pid != os.getpid():  # after a fork: an flock of our own, not the parent's
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        if not self._lock.acquire(timeout=self.timeout):
            return False
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        return True

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._lock.release()


class _GatedConnection(sqlite3.Connection):
    """A pysqlite connection that gives its WriterGate back when its transaction ends."""

    gate: WriterGate
    gated = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        if self.gated:
            self.gated = False
            self.gate.release()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE")


def _gate_writers(_conn, cursor, statement: str, _parameters, _context, _executemany) -> None:
    """Before the statement that starts a write transaction (pysqlite begins one at the first
    DML; write_lock's BEGIN IMMEDIATE): queue for the gate. Never while a transaction is
    open already, which would wait for the gate while holding SQLite's lock."""
    dbapi = cursor.connection
    if dbapi.gated or dbapi.in_transaction or not statement.lstrip()[:15].upper().startswith(_WRITES):
        return
    dbapi.gated = dbapi.gate.acquire()


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        connect_args = {"timeout": 30, "check_same_thread": False}
        gated = bool(path) and path != ":memory:"
        if gated:
            _private_file(pathlib.Path(path))
            gate = WriterGate(pathlib.Path(f"{path}-writers"))
            connect_args["factory"] = type("GatedConnection", (_GatedConnection,), {"gate": gate})
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        if gated:
            event.listen(engine, "before_cursor_execute", _gate_writers)
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
