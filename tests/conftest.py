"""The test harness: real redis-server, PostgreSQL, simulated clusters over HTTP and
real Celery worker processes. Nothing here mocks the code under test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "provisioning,polling,events,periodic"


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


DRILL_RESULTS = ROOT / "var" / "drill-results.jsonl"


def record_drill(what: str, operations: int, as_expected: int, lost: int, duplicated: int,
                 seconds: float, extra: str = "") -> None:
    """One row of the drill table, printed at the end of the run (xdist workers included)."""
    import json

    DRILL_RESULTS.parent.mkdir(exist_ok=True)
    with open(DRILL_RESULTS, "a") as out:
        out.write(json.dumps(dict(what=what, operations=operations, as_expected=as_expected, lost=lost,
                                  duplicated=duplicated, seconds=seconds, extra=extra)) + "\n")


def pytest_sessionstart(session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        DRILL_RESULTS.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter) -> None:
    import json

    if not DRILL_RESULTS.exists():
        return
    DRILL_ROWS = [json.loads(line) for line in DRILL_RESULTS.read_text().splitlines() if line]
    write = terminalreporter.write_line
    write("")
    write("| drill | operations | ended as expected | lost | duplicated | time (s) | notes |")
    write("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in DRILL_ROWS:
        write(f"| {r['what']} | {r['operations']} | {r['as_expected']} | {r['lost']} | {r['duplicated']} "
              f"| {r['seconds']:.1f} | {r['extra']} |")


@pytest.fixture
def db_url(tmp_path) -> str:
    """A real, migrated SQLite database per test (the domain tests': unit, races)."""
    from orchestrator import migrate

    url = f"sqlite:///{tmp_path / 'unit.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator:
    from tests.harness.services import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator:
    from tests.harness.services import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    yield server
    server.stop()


def stop_group(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process started in a session of its own, with its children; SIGKILL if it lingers."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Worker:
    """A real `celery worker` process (prefork), so it can be killed like one in production."""

    env: dict[str, str]
    log_path: Path
    concurrency: int = 2
    queues: str = QUEUES
    name: str = "worker"
    proc: subprocess.Popen | None = None
    app: object = None  # the Celery app that pings it: one on the worker's broker, built from env if None

    def start(self, timeout: float = 30.0) -> "Worker":
        app = self.app = self.app or celery_for(self.env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "worker",
             "-Q", self.queues, "-c", str(self.concurrency), "-E", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "-n", f"{self.name}-{os.getpid()}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a drill can kill it whole
        )
        def pong():
            try:
                return app.control.ping(timeout=0.5) or self._died()
            except app.connection_for_write().connection_errors:  # a broker that just restarted
                app.close()
                return None

        try:
            wait_for(pong, timeout, what="worker ping")
        except BaseException:
            self.stop()  # never leave a worker behind a failed start
            raise
        return self

    def _died(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"worker exited {self.proc.returncode}; log:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        """Warm shutdown of the whole process group; SIGKILL if it lingers."""
        stop_group(self.proc)
        self.proc = None


class StackAccess:
    """What every stack offers a test: the API's test client, a database session, a server as
    the API shows it (`app`, `db_url` and `admin_headers` are the stack's)."""

    @property
    def client(self):
        return self.app.test_client()

    def session(self):
        from orchestrator.db import get_sessionmaker

        return get_sessionmaker(self.db_url)()

    def server(self, server_id: int) -> dict:
        response = self.client.get(f"/api/v1/servers/{server_id}", headers=self.admin_headers)
        assert response.status_code == 200, response.json
        return response.json


@dataclass
class Stack(StackAccess):
    """Everything a user or operator touches, wired together on one database."""

    kind: str
    db_url: str
    env: dict[str, str]
    sim: object
    app: object
    worker: Worker
    tmp: Path
    admin_headers: dict[str, str] = field(default_factory=dict)
    broker: object = None  # the RedisServer or RabbitServer carrying the tasks
    celery: object = None  # this process's Celery app for the stack (sends tasks, reads results)

    @property
    def ctx(self):
        """The services' context of this process (orchestrator.services.context.Context)."""
        return self.celery.context

    def wait_status(self, server_id: int, statuses: set[str], timeout: float = 60.0) -> dict:
        return wait_for(
            lambda: (lambda s: s if s["status"] in statuses else None)(self.server(server_id)),
            timeout, what=f"server {server_id} in {statuses}",
        )

    def create_server(self, headers: dict | None = None, **body) -> tuple[int, dict]:
        body.setdefault("name", "vm")
        body.setdefault("flavor_id", 1)
        body.setdefault("image_id", 1)
        response = self.client.post("/api/v1/servers", json=body, headers=headers or self.admin_headers)
        return response.status_code, response.json


def stack_env(db_url: str, redis_server, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        CELERY_BROKER_URL=redis_server.url(0),
        CELERY_RESULT_BACKEND=redis_server.url(1),
        REDIS_URL=redis_server.url(2),
        ORCHESTRATOR_VAR_DIR=str(tmp),
        ORCHESTRATOR_ADMIN_TOKEN="test-admin-token",
        POLL_INTERVAL_S="0.2",
        BACKEND_REFRESH_MIN="0.05",
        RAPI_TIMEOUT_S="5",
        RAPI_MAX_ATTEMPTS="4",
        RAPI_BACKOFF_S="0.1",
        LOG_LEVEL="INFO",
    )
    return env


def use_env(env: dict[str, str], redis_server):
    """The Celery app (and services' context) of this process for a stack, and the stack's
    environment for what reads it itself (the CLI under click's runner).

    Only one stack lives at a time (pytest finalizes a parametrized session fixture before
    the next parameter), and every stack starts on an empty Redis: messages a previous
    stack left (countdowns, unacked) can never reach another database's worker.
    """
    import redis

    redis.Redis.from_url(redis_server.url(0)).flushall()
    os.environ.update(env)
    return celery_for(env)


def celery_for(env: dict[str, str], **changes):
    """A Celery app of our own for the settings of `env` (with `changes`): each stack, or a
    test on a broker of its own, builds one, and nothing of Celery's state is shared."""
    from orchestrator.celery_app import create_celery
    from orchestrator.settings import Settings

    return create_celery(Settings.from_env(env).replace(**changes), set_as_current=False)


def context_for(db_url: str, **changes):
    """The services' context of a process on `db_url` (with settings `changes`), for domain
    tests that run a step or a use case in this process (nothing is published)."""
    return celery_for({"DATABASE_URL": db_url}, **changes).context


# sqlite and postgresql run on the Redis broker; rabbitmq is PostgreSQL on RabbitMQ.
STACK_KINDS = ["sqlite", "postgresql", "rabbitmq"]


@pytest.fixture(scope="session", params=STACK_KINDS)
def stack(request, tmp_path_factory, redis_server) -> Iterator[Stack]:
    from api.app import create_app
    from ganeti_sim import SimFleet
    from orchestrator import demo, migrate
    from orchestrator.db import session_scope

    kind = request.param
    tmp = tmp_path_factory.mktemp(f"stack-{kind}")
    if kind == "sqlite":
        db_url = f"sqlite:///{tmp / 'orchestrator.db'}"
    else:
        db_url = request.getfixturevalue("postgres_server").create_database(f"orch_{os.getpid()}_{int(time.time())}")
    rabbit = None
    if kind == "rabbitmq":
        from tests.harness.services import RabbitServer

        rabbit = RabbitServer(tmp / "rabbitmq").start()
        request.addfinalizer(rabbit.stop)

    # Room for about 500 small servers per stack: the drills create a few hundred.
    sim = SimFleet(clusters=2, base_port=0, host="127.0.0.1", job_duration=0.3, user="rapi", password="rapi-secret",
                   node_cpus=128)
    sim.start()
    env = stack_env(db_url, redis_server, tmp)
    if rabbit is not None:
        env["CELERY_BROKER_URL"] = rabbit.url()
    env.update(SIM_CLUSTERS=str(len(sim.clusters)), SIM_HOST="127.0.0.1", SIM_RAPI_USER="rapi",
               SIM_RAPI_PASSWORD="rapi-secret", SIM_SCHEME="http")
    celery = use_env(env, redis_server)
    migrate.upgrade(db_url)
    with session_scope(db_url) as session:
        demo.seed(session, env={**env, "SIM_BASE_PORT": str(sim.clusters[0].port)})
        from orchestrator.models import Backend
        for backend, cluster in zip(session.query(Backend).order_by(Backend.id), sim.clusters):
            backend.port = cluster.port  # base_port=0 gives ports that need not be consecutive
        session.commit()

    try:
        worker = Worker(env, tmp / "worker.log", app=celery).start()
    except BaseException:
        sim.stop()
        raise
    app = create_app(celery.context.settings, celery.context)
    app.config["TESTING"] = True
    try:
        yield Stack(kind, db_url, env, sim, app, worker, tmp, {"Authorization": "Bearer test-admin-token"},
                    broker=rabbit or redis_server, celery=celery)
    finally:
        worker.stop()
        sim.stop()
