"""API `POST /api/v1/servers` latency and throughput at 50 concurrent clients, beside a bare Flask route.

Both apps are served by gunicorn the way the Procfile serves the product (gthread workers:
`--workers 2 --threads 4` by default), side by side, and polled by the same client threads
(one `requests.Session` each, keep-alive) for the same time, alternately for a few rounds
so load from elsewhere hits both alike; medians over rounds are shown.

- product: `api.wsgi:app_from_env()` (its settings from gunicorn's environment) on a SQLite
  file in a temporary directory (migrated and seeded with orchestrator.migrate and
  orchestrator.demo) and a real redis-server broker:
  each request authenticates a bearer token, validates, writes the server and operation
  rows, stores the one-time config in Redis and enqueues the chain, then answers 202.
  No worker runs: the chains wait in the broker, which is counted, then flushed.
- baseline: `bench.bare_app:create_app()`, a Flask route on the same method and path that
  reads the same JSON body and answers 202 with a small JSON.

    .venv/bin/python bench/bench_api.py [--clients 50] [--seconds 5] [--rounds 3] [--database sqlite|postgresql]
                                        [--json PATH]

With `--database postgresql` the product runs on a throw-away PostgreSQL server (the
production database) instead of the SQLite file. The API's memory (gunicorn's master and
workers, resident) is read after the product's last round.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_TOKEN = "bench-admin-token"


def start_gunicorn(app: str, port: int, workers: int, threads: int, log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning", app],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
    )


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def server_body(tag: str, index: int, n: int) -> dict:
    return {"name": f"{tag}-{index}-{n}", "flavor_id": 1, "image_id": 1}


def hammer(url: str, clients: int, seconds: float, tag: str, make_body=server_body, expect: int = 202) -> dict:
    """`clients` threads, each with its own keep-alive session, POST as fast as answers come;
    an answer other than `expect` counts as an error."""
    import requests

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    start_line = threading.Barrier(clients + 1)
    per_thread: list[tuple[list[float], int, dict]] = []
    lock = threading.Lock()
    stop_at = [0.0]

    def client(index: int) -> None:
        session = requests.Session()
        latencies, errors, statuses = [], 0, {}
        n = 0
        start_line.wait()
        while time.perf_counter() < stop_at[0]:
            body = make_body(tag, index, n)
            n += 1
            t0 = time.perf_counter()
            try:
                response = session.post(url, json=body, headers=headers, timeout=60)
                status = response.status_code
            except requests.RequestException:
                status = -1
            latencies.append(time.perf_counter() - t0)
            if status != expect:
                errors += 1
                statuses[status] = statuses.get(status, 0) + 1
        session.close()
        with lock:
            per_thread.append((latencies, errors, statuses))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start_line.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = sorted(x for r in per_thread for x in r[0])
    statuses: dict = {}
    for r in per_thread:
        for k, v in r[2].items():
            statuses[k] = statuses.get(k, 0) + v

    def pct(q: float) -> float:
        return lat[min(int(q * len(lat)), len(lat) - 1)] * 1000 if lat else float("nan")

    return {"requests": len(lat), "errors": sum(r[1] for r in per_thread), "error_statuses": statuses,
            "rps": len(lat) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "seconds": elapsed}


def stop(procs: list[subprocess.Popen], broker) -> None:
    """Stop the gunicorns, then empty and stop the broker (the chains nobody ran go with it)."""
    import redis

    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if broker.running:
        try:
            redis.Redis.from_url(broker.url(0)).flushall()
        except redis.RedisError:
            pass
    broker.stop()


def arguments(description: str, rounds_help: str) -> argparse.ArgumentParser:
    """The options of a bench that hammers an API served by gunicorn (this one's, bench_ports')."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="time of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help=rounds_help)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (the Procfile's)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (the Procfile's)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    return parser


def _and_children(pid: int) -> list[int]:
    """A process and its direct children (gunicorn's master and workers)."""
    try:
        return [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def rss_mib(pid: int, children: bool = False) -> float:
    """Resident memory of a process (and, with `children`, of its direct children), MiB."""
    total = 0
    for p in _and_children(pid) if children else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its direct children, seconds:
    what a round cost the server, whatever else shares the machine."""
    total = 0
    for p in _and_children(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def database(kind: str, tmp: Path):
    """The product's database URL, and the server to stop afterwards (None for SQLite)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    from tests.harness.services import PostgresServer

    server = PostgresServer(tmp / "postgres").start()
    return server.create_database("bench"), server


def main(argv=None) -> int:
    args = arguments(__doc__.splitlines()[0], "product and baseline alternately; medians shown").parse_args(argv)

    import redis

    from tests.harness.services import RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        broker = RedisServer(tmp / "redis").start()
        procs: list[subprocess.Popen] = []
        db_url, db_server = database(args.database, tmp)
        try:
            env = {**os.environ,
                   "DATABASE_URL": db_url,
                   "CELERY_BROKER_URL": broker.url(0),
                   "CELERY_RESULT_BACKEND": broker.url(1),
                   "REDIS_URL": broker.url(2),
                   "ORCHESTRATOR_VAR_DIR": str(tmp),
                   "ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN,
                   "LOG_LEVEL": "WARNING"}
            from orchestrator import demo, migrate
            from orchestrator.db import session_scope

            # Nothing of the product runs in this process but the set-up: gunicorn's workers
            # build their settings from `env` (api.wsgi:app_from_env()).
            migrate.upgrade(db_url)
            with session_scope(db_url) as session:
                demo.seed(session, env=env)

            ports = {"product": free_port(), "baseline": free_port()}
            apps = {"product": "api.wsgi:app_from_env()", "baseline": "bench.bare_app:create_app()"}
            for name in ("product", "baseline"):
                procs.append(start_gunicorn(apps[name], ports[name], args.workers, args.threads,
                                            tmp / f"gunicorn-{name}.log", env))
            for name, proc in zip(("product", "baseline"), procs):
                wait_ready(f"http://127.0.0.1:{ports[name]}/healthz", proc)
            urls = {name: f"http://127.0.0.1:{port}/api/v1/servers" for name, port in ports.items()}

            # Warm up: every worker thread imports, connects to the database and the broker.
            for name in ("product", "baseline"):
                warm = hammer(urls[name], args.clients, 1.0, f"warm-{name}")
                if warm["errors"]:
                    raise SystemExit(f"{name}: {warm['errors']} errors while warming up: {warm['error_statuses']}; "
                                     f"see the log in {tmp}")
            queued_before = redis.Redis.from_url(broker.url(0)).llen("provisioning")

            rounds: dict[str, list[dict]] = {"product": [], "baseline": []}
            for r in range(max(args.rounds, 1)):
                order = ("product", "baseline") if r % 2 == 0 else ("baseline", "product")
                for name in order:
                    proc = procs[0 if name == "product" else 1]
                    cpu_before = cpu_seconds(proc.pid)
                    rounds[name].append(hammer(urls[name], args.clients, args.seconds, f"{name}-{r}"))
                    rounds[name][-1]["cpu_ms"] = (cpu_seconds(proc.pid) - cpu_before) * 1000 / max(
                        rounds[name][-1]["requests"], 1)
            memory = {"product_api_mib": rss_mib(procs[0].pid, children=True),
                      "baseline_api_mib": rss_mib(procs[1].pid, children=True)}
            loadavg = os.getloadavg()[0]
            product_accepted = sum(x["requests"] - x["errors"] for x in rounds["product"])
            queued = redis.Redis.from_url(broker.url(0)).llen("provisioning") - queued_before
        finally:
            stop(procs, broker)
            if db_server is not None:
                db_server.stop()

    figures = {}
    for name, rs in rounds.items():
        figures[name] = {
            "rps": statistics.median([x["rps"] for x in rs]), "p50_ms": statistics.median([x["p50_ms"] for x in rs]),
            "p99_ms": statistics.median([x["p99_ms"] for x in rs]), "requests": sum(x["requests"] for x in rs),
            "errors": sum(x["errors"] for x in rs), "rps_rounds": [x["rps"] for x in rs],
            "cpu_ms": statistics.median([x["cpu_ms"] for x in rs]),
        }
    p, b = figures["product"], figures["baseline"]
    result = {
        "bench": "api", "clients": args.clients, "seconds": args.seconds, "rounds": len(rounds["product"]),
        "server": f"gunicorn {args.workers} workers x {args.threads} threads (gthread)",
        "product": p, "baseline": b, "chains_enqueued": queued, "product_accepted": product_accepted,
        "ratios": {"p50": p["p50_ms"] / b["p50_ms"], "p99": p["p99_ms"] / b["p99_ms"], "rps": p["rps"] / b["rps"],
                   "cpu": p["cpu_ms"] / b["cpu_ms"] if b["cpu_ms"] else float("nan")},
        "loadavg": loadavg, "database": args.database, "memory": memory,
    }

    print(f"POST /api/v1/servers: {args.clients} client threads (requests.Session each), {len(rounds['product'])} "
          f"alternating rounds of {args.seconds:g} s, gunicorn {args.workers} workers x {args.threads} threads, "
          f"{'SQLite' if args.database == 'sqlite' else 'PostgreSQL'} + redis-server, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {loadavg:.1f}; medians over rounds")
    print()
    print("| metric | product: POST /api/v1/servers | baseline: bare Flask route | ratio product / baseline |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| latency p50 (ms) | {p['p50_ms']:.1f} | {b['p50_ms']:.1f} | {result['ratios']['p50']:.2f} |")
    print(f"| latency p99 (ms) | {p['p99_ms']:.1f} | {b['p99_ms']:.1f} | {result['ratios']['p99']:.2f} |")
    print(f"| requests/s | {p['rps']:.0f} | {b['rps']:.0f} | {result['ratios']['rps']:.2f} |")
    print(f"| requests/s in each round | {' / '.join(f'{x:.0f}' for x in p['rps_rounds'])} "
          f"| {' / '.join(f'{x:.0f}' for x in b['rps_rounds'])} | |")
    print(f"| gunicorn workers' CPU per request (ms) | {p['cpu_ms']:.2f} | {b['cpu_ms']:.2f} | "
          f"{result['ratios']['cpu']:.2f} |")
    print(f"| requests (errors) | {p['requests']} ({p['errors']}) | {b['requests']} ({b['errors']}) | |")
    print(f"| gunicorn master + workers RSS (MiB) | {memory['product_api_mib']:.0f} | {memory['baseline_api_mib']:.0f} | "
          f"{memory['product_api_mib'] / memory['baseline_api_mib']:.2f} |")
    print()
    print(f"chains waiting in the broker afterwards: {queued} for {product_accepted} creates accepted "
          f"(flushed with the broker)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if p["errors"] == 0 and b["errors"] == 0 and queued == product_accepted else 1


if __name__ == "__main__":
    sys.exit(main())
