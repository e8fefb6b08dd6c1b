"""A whole stack for benchmarks: redis-server, simulated clusters, a worker, the API in process.

The stack's variables (`env`) go to the worker's environment and to this process's own
`Settings` (`settings`), Celery app (`celery`, which publishes and reads results) and
services' context (`ctx`); the process's environment is left as it was."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BenchStack:
    poll_interval = 0.05

    def __init__(self, tmp: Path, concurrency: int = 4, job_duration: float = 0.0, clusters: int = 2,
                 database: str = "sqlite"):
        self.tmp, self.concurrency, self.job_duration, self.n_clusters = tmp, concurrency, job_duration, clusters
        self.database, self.db_server = database, None

    def __enter__(self) -> "BenchStack":
        from tests.harness.services import RedisServer

        from ganeti_sim import SimFleet

        self.redis = RedisServer(self.tmp / "redis")
        (self.tmp / "redis").mkdir(exist_ok=True)
        self.redis.start()
        self.sim = SimFleet(clusters=self.n_clusters, base_port=0, host="127.0.0.1",
                            job_duration=self.job_duration, user="rapi", password="rapi-secret",
                            nodes_per_cluster=8)
        self.sim.start()
        from bench.bench_api import database

        # SQLite's file, or a throw-away PostgreSQL server (the production database).
        self.db_url, self.db_server = database(self.database, self.tmp)
        env = {
            "DATABASE_URL": self.db_url,
            "CELERY_BROKER_URL": self.redis.url(0),
            "CELERY_RESULT_BACKEND": self.redis.url(1),
            "REDIS_URL": self.redis.url(2),
            "ORCHESTRATOR_VAR_DIR": str(self.tmp),
            "ORCHESTRATOR_ADMIN_TOKEN": "bench-admin-token",
            "POLL_INTERVAL_S": str(self.poll_interval),
            "BACKEND_REFRESH_MIN": "60",
            # The clusters' RAPI budget metered but never binding: these benches measure what
            # the product's own work costs beside bare Celery, not the budget's cap (20/s per
            # cluster by default: bench_rate_limit.py measures that).
            "RAPI_RATE_PER_S": "10000",
            "RAPI_CONCURRENCY": "1000",
            "LOG_LEVEL": "WARNING",
            "SIM_CLUSTERS": str(self.n_clusters),
            "SIM_BASE_PORT": str(self.sim.clusters[0].port),
        }
        self.env = env
        from api.app import create_app
        from orchestrator import demo, migrate
        from orchestrator.celery_app import create_celery
        from orchestrator.db import session_scope
        from orchestrator.models import Backend
        from orchestrator.settings import Settings

        # This process's own settings and Celery app (and the services' context it carries),
        # built from the stack's variables alone; the worker builds the same from its environment.
        self.settings = Settings.from_env(env)
        self.celery = create_celery(self.settings, set_as_current=False)
        self.ctx = self.celery.context
        migrate.upgrade(self.db_url)
        with session_scope(self.db_url) as session:
            demo.seed(session, env=env)
            for backend, cluster in zip(session.query(Backend).order_by(Backend.id), self.sim.clusters):
                backend.port = cluster.port
            session.commit()
        self.worker_log = open(self.tmp / "worker.log", "wb")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "worker", "-I", "bench.noop_tasks",
             "-Q", "provisioning,polling,events,periodic,celery", "-c", str(self.concurrency),
             "--loglevel=WARNING", "--without-gossip", "--without-mingle", "-n", f"bench-{os.getpid()}@%h"],
            cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=self.worker_log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not self.celery.control.ping(timeout=0.5):
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError("worker did not start; see " + str(self.tmp / "worker.log"))

        self.client = create_app(self.settings, self.ctx).test_client()
        self.headers = {"Authorization": "Bearer bench-admin-token"}
        return self

    def create_and_wait(self, count: int, timeout: float = 300, prefix: str = "b") -> dict[str, int]:
        """POST `count` servers, then wait until none is BUILD; returns the final statuses."""
        from sqlalchemy import select

        from orchestrator.db import session_scope
        from orchestrator.models import Server

        ids = []
        for i in range(count):
            response = self.client.post("/api/v1/servers", json={"name": f"{prefix}{i}", "flavor_id": 1, "image_id": 1},
                                        headers=self.headers)
            assert response.status_code == 202, response.json
            ids.append(response.json["id"])
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(self.db_url) as session:
                states = Counter(session.scalars(select(Server.operstate).where(Server.id.in_(ids))))
            if not states.get("BUILD") or time.monotonic() > deadline:
                return dict(states)
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.worker.kill()
        self.sim.stop()
        self.celery.close()
        self.redis.stop()
        if self.db_server is not None:
            self.db_server.stop()
