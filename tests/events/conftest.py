"""A stack for the event tests: the simulator writing Ganeti job files and running the
hook and progress commands, one real `node-agent watch-queue` process per cluster, a
real Celery worker, and the API in process.

It is built from the harness's own pieces (tests/conftest.py), on a redis-server of its
own so that stopping the broker for the outage test touches no other stack, and it
puts the process's environment back as it found it when it ends.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, StackAccess, Worker, stack_env, stop_group, use_env, wait_for

SENT_RE = re.compile(r" sent (\w+) id=(\S+) ")
APPLIED_RE = re.compile(r" event (\w+) id=(\S+) instance=\S+ outcome=(\w+)")

CREATE_SECONDS = 2.5  # long enough to see the install progress move


@dataclass
class Agent:
    """A real `node-agent watch-queue` process."""

    cluster: str
    queue_dir: Path
    env: dict[str, str]
    log_path: Path
    interval: float = 0.1
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> "Agent":
        mark = self.log_text().count(" watching ")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node_agent", "watch-queue", "--cluster", self.cluster,
                 "--queue-dir", str(self.queue_dir), "--interval", str(self.interval)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.log_text().count(" watching ") > mark or self._died(), timeout,
                 what=f"agent for {self.cluster} to start")
        return self

    def _died(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"agent exited {self.proc.returncode}:\n{self.log_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_group(self.proc, sig, timeout=20)
        self.proc = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sent(self) -> Counter:
        """How many times each event left this agent, by (kind, id)."""
        return Counter(SENT_RE.findall(self.log_text()))


@dataclass
class EventStack(StackAccess):
    db_url: str
    env: dict[str, str]
    redis: object
    sim: object
    worker: Worker
    agents: list[Agent]
    app: object
    tmp: Path
    admin_headers: dict[str, str] = field(default_factory=lambda: {"Authorization": "Bearer test-admin-token"})
    celery: object = None  # this process's Celery app for the stack

    def create_server(self, **body) -> dict:
        body.setdefault("flavor_id", 1)
        body.setdefault("image_id", 1)
        response = self.client.post("/api/v1/servers", json=body, headers=self.admin_headers)
        assert response.status_code == 202, response.json
        return response.json

    def wait_status(self, server_id: int, statuses: set[str], timeout: float = 30.0) -> dict:
        return wait_for(lambda: (lambda s: s if s["status"] in statuses else None)(self.server(server_id)),
                        timeout, what=f"server {server_id} in {statuses}")

    def applied(self) -> Counter:
        """How many times the worker ended each event, by (kind, id, outcome)."""
        return Counter(APPLIED_RE.findall(self.worker.log_path.read_text(errors="replace")))

    def counts(self) -> dict[str, int]:
        import redis

        raw = redis.Redis.from_url(self.env["REDIS_URL"]).hgetall("events:counts")
        return {k.decode(): int(v) for k, v in raw.items()}


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="package")
def event_stack(tmp_path_factory) -> Iterator[EventStack]:
    from api.app import create_app
    from ganeti_sim import SimFleet
    from node_agent.cli import install
    from orchestrator import demo, migrate
    from orchestrator.db import session_scope
    from orchestrator.models import Backend
    from tests.harness.services import RedisServer

    tmp = tmp_path_factory.mktemp("events-stack")
    redis_server = RedisServer(tmp / "redis").start()
    db_url = f"sqlite:///{tmp / 'orchestrator.db'}"
    env = stack_env(db_url, redis_server, tmp)
    env.update(
        # The chain polls once, then not for a minute: the agent's events end the create.
        POLL_INTERVAL_S="60",
        NODE_AGENT_SPOOL_DIR=str(tmp / "spool"),
        SIM_HOST="127.0.0.1", SIM_RAPI_USER="rapi", SIM_RAPI_PASSWORD="rapi-secret", SIM_SCHEME="http",
    )
    saved = {key: os.environ.get(key) for key in env}
    stop: list = [redis_server.stop]
    try:
        celery = use_env(env, redis_server)
        stop.append(lambda: _restore_env(saved))
        hooks_dir = tmp / "hooks"
        install(hooks_dir, env["NODE_AGENT_SPOOL_DIR"], broker=env["CELERY_BROKER_URL"])
        progress = (f"{shlex.quote(sys.executable)} -m node_agent progress "
                    "--instance {instance} --cluster {cluster}")
        sim = SimFleet(clusters=2, base_port=0, host="127.0.0.1", job_duration=0.3, user="rapi",
                       password="rapi-secret", state_dir=tmp / "sim", hooks_dir=str(hooks_dir),
                       progress_command=progress, op_durations={"OP_INSTANCE_CREATE": CREATE_SECONDS})
        sim.start()
        stop.append(sim.stop)
        env["SIM_CLUSTERS"] = str(len(sim.clusters))
        os.environ["SIM_CLUSTERS"] = env["SIM_CLUSTERS"]
        migrate.upgrade(db_url)
        with session_scope(db_url) as session:
            demo.seed(session, env={**env, "SIM_BASE_PORT": str(sim.clusters[0].port)})
            for backend, cluster in zip(session.query(Backend).order_by(Backend.id), sim.clusters):
                backend.port = cluster.port
            session.commit()
        worker = Worker(env, tmp / "worker.log", app=celery).start()
        stop.append(worker.stop)
        agents = []
        for cluster in sim.clusters:
            agent = Agent(cluster.name, tmp / "sim" / cluster.name / "queue", env, tmp / f"agent-{cluster.name}.log")
            agents.append(agent)
            stop.append(agent.stop)
            agent.start()
        app = create_app(celery.context.settings, celery.context)
        app.config["TESTING"] = True
        yield EventStack(db_url, env, redis_server, sim, worker, agents, app, tmp, celery=celery)
    finally:
        for fn in reversed(stop):
            fn()


def wait_quiet(stack: EventStack, timeout: float = 30.0) -> Counter:
    """Wait until every event the agents sent was ended by the worker; returns the sent ones."""
    def settled():
        sent = sum((a.sent() for a in stack.agents), Counter())
        done = Counter((kind, name) for kind, name, _ in stack.applied().elements())
        return sent if sent and all(done[key] >= n for key, n in sent.items()) else None

    return wait_for(settled, timeout, interval=0.2, what="every sent event to be applied")


def ops_job(stack: EventStack, cluster_index: int, instance: str, action: str) -> int:
    """Submit a job on a simulated cluster behind the orchestrator's back, over RAPI."""
    import requests

    cluster = stack.sim.clusters[cluster_index]
    response = requests.put(f"{cluster.url}/2/instances/{instance}/{action}", auth=("rapi", "rapi-secret"),
                            timeout=5)
    assert response.status_code == 200, response.text
    return int(response.json())
