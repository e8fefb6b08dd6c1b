"""The per-cluster RAPI request budget under load, measured on the simulated clusters' side.

500 creates at once (250 pinned to each of two simulated clusters) through several Celery
worker processes, twice in one run: first with no budget (the baseline: what the clusters
are asked when nothing holds the workers back), then with a different budget per cluster.
Each cluster's meter (GET /sim/meter, ganeti_sim/meter.py) counts the RAPI requests that
reached it in every second; the table shows them beside the budget, with the peak and
whether every operation finished.

    .venv/bin/python bench/bench_rate_limit.py [--operations 500] [--workers 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGETS = [(10, 4), (20, 8)]  # (requests per second, in flight) of cluster 1 and cluster 2


class Stack:
    """redis-server, two simulated clusters, `workers` worker processes, the API in process."""

    def __init__(self, tmp: Path, workers: int, concurrency: int, job_duration: float, poll_interval: float):
        self.tmp, self.n_workers, self.concurrency = tmp, workers, concurrency
        self.job_duration, self.poll_interval = job_duration, poll_interval

    def __enter__(self) -> "Stack":
        from api.app import create_app
        from ganeti_sim import SimFleet
        from orchestrator import demo, migrate
        from orchestrator.celery_app import create_celery
        from orchestrator.db import session_scope
        from orchestrator.models import Backend
        from orchestrator.settings import Settings
        from tests.harness.services import RedisServer

        (self.tmp / "redis").mkdir()
        self.redis = RedisServer(self.tmp / "redis").start()
        self.sim = SimFleet(clusters=2, job_duration=self.job_duration, user="rapi", password="rapi-secret",
                            nodes_per_cluster=8, node_cpus=128).start()
        self.db_url = f"sqlite:///{self.tmp / 'bench.db'}"
        self.env = {
            "DATABASE_URL": self.db_url, "CELERY_BROKER_URL": self.redis.url(0),
            "CELERY_RESULT_BACKEND": self.redis.url(1), "REDIS_URL": self.redis.url(2),
            "ORCHESTRATOR_VAR_DIR": str(self.tmp), "ORCHESTRATOR_ADMIN_TOKEN": "bench-admin-token",
            "POLL_INTERVAL_S": str(self.poll_interval), "BACKEND_REFRESH_MIN": "60", "LOG_LEVEL": "WARNING",
            "SIM_CLUSTERS": "2", "SIM_BASE_PORT": str(self.sim.clusters[0].port),
        }
        self.settings = Settings.from_env(self.env)
        self.celery = create_celery(self.settings, set_as_current=False)
        migrate.upgrade(self.db_url)
        with session_scope(self.db_url) as session:
            demo.seed(session, env=self.env)
            for backend, cluster in zip(session.query(Backend).order_by(Backend.id), self.sim.clusters):
                backend.port = cluster.port
                backend.drained = False
            session.commit()
        self.logs = [open(self.tmp / f"worker{i}.log", "wb") for i in range(self.n_workers)]
        self.workers = [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "worker",
             "-Q", "provisioning,polling,events,periodic", "-c", str(self.concurrency), "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "-n", f"rate-{i}-{os.getpid()}@%h"],
            cwd=ROOT, env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
            for i, log in enumerate(self.logs)]
        deadline = time.monotonic() + 60
        while len(self.celery.control.ping(timeout=0.5)) < self.n_workers:
            if time.monotonic() > deadline or any(w.poll() is not None for w in self.workers):
                raise RuntimeError(f"workers did not start; see {self.tmp}/worker*.log")
        self.client = create_app(self.settings, self.celery.context).test_client()
        self.headers = {"Authorization": "Bearer bench-admin-token"}
        return self

    def set_budgets(self, budgets: list[tuple[int, int]]) -> None:
        from orchestrator.db import session_scope
        from orchestrator.models import Backend

        with session_scope(self.db_url) as session:
            for backend, (rate, concurrency) in zip(session.query(Backend).order_by(Backend.id), budgets):
                backend.rate_per_s, backend.concurrency = rate, concurrency
            session.commit()

    def round(self, operations: int, prefix: str, timeout: float) -> dict:
        """Create `operations` servers at once, half on each cluster; wait for every operation."""
        from sqlalchemy import select

        from orchestrator.db import session_scope
        from orchestrator.models import Operation

        for cluster in self.sim.clusters:
            cluster.meter.reset()
        started = time.perf_counter()
        ops = []
        for i in range(operations):
            response = self.client.post("/api/v1/servers", headers=self.headers, json={
                "name": f"{prefix}{i}", "flavor_id": 1, "image_id": 1, "backend_id": 1 + i % 2})
            assert response.status_code == 202, response.json
            ops.append(response.json["operation"]["id"])
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(self.db_url) as session:
                statuses = Counter(session.scalars(select(Operation.status).where(Operation.id.in_(ops))))
            if statuses.get("SUCCEEDED", 0) + statuses.get("FAILED", 0) == operations or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        return {"statuses": dict(statuses), "seconds": seconds,
                "meters": [cluster.meter.as_dict() for cluster in self.sim.clusters]}

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.sim.stop()
        self.celery.close()
        self.redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=500, help="creates at once, half on each cluster")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="each worker's processes")
    parser.add_argument("--job-duration", type=float, default=0.5, help="simulated Ganeti job time")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="POLL_INTERVAL_S")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp, \
            Stack(Path(tmp), args.workers, args.concurrency, args.job_duration, args.poll_interval) as stack:
        stack.set_budgets([(0, 0), (0, 0)])
        baseline = stack.round(args.operations, "free-", args.timeout)
        stack.set_budgets(BUDGETS)
        budgeted = stack.round(args.operations, "held-", args.timeout)

    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"{args.workers} worker processes x {args.concurrency}; {args.operations} creates at once, half per "
          f"cluster; simulated job {args.job_duration}s, POLL_INTERVAL_S {args.poll_interval}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    print("| cluster | budget (req/s, in flight) | run | requests | max req in a second | max in flight "
          "| operations SUCCEEDED | time (s) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for index, (rate, concurrency) in enumerate(BUDGETS):
        for name, run, shown in (("no budget (baseline)", baseline, "none"),
                                 ("budgeted", budgeted, f"{rate}/s, {concurrency}")):
            meter = run["meters"][index]
            print(f"| {index + 1} | {shown} | {name} | {meter['total']} | {meter['max_per_second']} "
                  f"| {meter['max_in_flight']} | {run['statuses'].get('SUCCEEDED', 0)} of {args.operations} (both) "
                  f"| {run['seconds']:.1f} |")
    print()
    for index, (rate, concurrency) in enumerate(BUDGETS):
        meter = budgeted["meters"][index]
        first = meter["per_second"][0][0] if meter["per_second"] else 0
        print(f"cluster {index + 1}, budgeted run: requests seen per second beside its budget "
              f"({rate}/s, {concurrency} in flight)")
        print()
        print("| second | requests seen | most in flight | budget |")
        print("| ---: | ---: | ---: | ---: |")
        for second, count, peak in meter["per_second"]:
            print(f"| {second - first} | {count} | {peak} | {rate} |")
        print(f"| max | {meter['max_per_second']} | {meter['max_in_flight']} | {rate} |")
        print()
    within = all(budgeted["meters"][i]["max_per_second"] <= rate and budgeted["meters"][i]["max_in_flight"] <= conc
                 for i, (rate, conc) in enumerate(BUDGETS))
    finished = budgeted["statuses"].get("SUCCEEDED", 0) == args.operations
    print(f"every second within its budget: {'yes' if within else 'NO'}; all {args.operations} operations "
          f"SUCCEEDED: {'yes' if finished else 'NO: ' + str(budgeted['statuses'])}; time {budgeted['seconds']:.1f}s "
          f"budgeted vs {baseline['seconds']:.1f}s without (ratio {budgeted['seconds'] / baseline['seconds']:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"bench": "rate_limit", "operations": args.operations, "budgets": BUDGETS,
                                         "baseline": baseline, "budgeted": budgeted, "within": within,
                                         "finished": finished}, indent=2))
    if not (within and finished):
        raise SystemExit("the budget was exceeded or some operations did not finish")


if __name__ == "__main__":
    main()
