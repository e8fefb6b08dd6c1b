"""The harness's own tests: each service starts for real, answers, restarts and stops."""
from __future__ import annotations

import os
import socket

import pytest

from tests.harness.services import (
    DEFAULT_PORTS,
    PostgresServer,
    RedisServer,
    ServiceError,
    free_port,
    port_open,
    wait_for_port,
)


def test_free_port_is_free_and_never_a_default():
    port = free_port()
    assert port not in DEFAULT_PORTS
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nothing holds it


def test_wait_for_port_times_out_on_a_closed_port():
    with pytest.raises(ServiceError):
        wait_for_port("127.0.0.1", free_port(), timeout=0.3)


def test_redis_server_starts_answers_restarts_and_stops(tmp_path):
    import redis

    server = RedisServer(tmp_path / "redis")  # the directory need not exist yet
    server.start()
    try:
        assert server.port not in (6379,) and server.running
        assert server.url(3) == f"redis://127.0.0.1:{server.port}/3"
        client = redis.Redis.from_url(server.url(0))
        assert client.ping()
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"

        port = server.port
        server.restart()  # keeps the data by default
        assert server.port == port
        client = redis.Redis.from_url(server.url(0))
        assert client.get("greeting") == b"hello"

        server.restart(keep_data=False)
        client = redis.Redis.from_url(server.url(0))
        assert client.get("greeting") is None
    finally:
        server.stop()
    assert not server.running
    assert not port_open("127.0.0.1", port)


def test_redis_kill_then_start_again(tmp_path):
    with RedisServer(tmp_path) as server:
        server.kill()
        assert not server.ping()
        server.start()
        assert server.ping()


def test_postgres_server_starts_answers_and_stops(tmp_path):
    import psycopg
    import sqlalchemy

    server = PostgresServer(tmp_path / "pg")
    server.start()
    try:
        assert server.port not in (5432,) and server.running
        assert server.url() == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/orchestrator_test"
        with psycopg.connect(server.dsn()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("select current_database()").fetchone() == ("orchestrator_test",)

        url = server.create_database("orch_extra")
        assert url.endswith(f":{server.port}/orch_extra")
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("create table t (x int)"))
            conn.execute(sqlalchemy.text("insert into t values (42)"))
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select x from t")).scalar_one() == 42
        engine.dispose()

        assert server.create_database("orch_extra") == url  # fresh again: the table is gone
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select to_regclass('t')")).scalar_one() is None
        engine.dispose()

        port = server.port
        data_dir = server.data_dir
    finally:
        server.stop()
    assert not server.running
    assert not port_open("127.0.0.1", port)
    assert not data_dir.exists()


def test_postgres_runs_unprivileged():
    """PostgreSQL refuses root; as root the harness runs it as the `postgres` OS user."""
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root")
    import pwd
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, PostgresServer(tmp) as server:
        owner = pwd.getpwuid(os.stat(server.data_dir).st_uid).pw_name
        assert owner == "postgres"
        with psycopg_connect(server) as conn:
            assert conn.execute("select current_user").fetchone() == ("postgres",)


def psycopg_connect(server):
    import psycopg

    return psycopg.connect(server.dsn("postgres"))
