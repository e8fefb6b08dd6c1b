"""`GET /api/v1/servers` latency with 1,000 event streams open, beside the same without them,
while 50 clients create servers; and the memory of the API and of the streams process.

The product is served as the Procfile serves it: gunicorn (gthread, 2 workers x 4 threads)
for the API and `python -m api.streams` for the streams, on a SQLite file and a real
redis-server. A second process holds the streams open (aiohttp, `until=deleted`, on 100
servers made first) and reads them; reader threads time `GET /api/v1/servers` while the
creating clients run, for the same time in each phase, alternately over a few rounds.

    .venv/bin/python bench/bench_streams.py [--streams 1000] [--clients 50] [--seconds 5] [--rounds 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_api import ADMIN_TOKEN, hammer, rss_mib, start_gunicorn, stop, wait_ready  # noqa: E402

HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --- the stream holder (a process of its own) -----------------------------------------------

async def _hold(url: str, server_ids: list[int], count: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=HEADERS) as session:
        opened = asyncio.Queue()
        events = [0]

        async def one(i: int) -> None:
            server_id = server_ids[i % len(server_ids)]
            async with session.get(f"{url}/api/v1/servers/{server_id}/events", params={"until": "deleted"}) as resp:
                await opened.put(resp.status)
                async for _line in resp.content:
                    events[0] += 1

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        statuses = [await opened.get() for _ in range(count)]
        print(json.dumps({"open": sum(s == 200 for s in statuses), "refused": sum(s != 200 for s in statuses)}),
              flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench is done
        print(json.dumps({"lines": events[0]}), flush=True)
        for task in tasks:
            task.cancel()


def hold_main(url: str, ids: str, count: int) -> None:
    asyncio.run(_hold(url, [int(x) for x in ids.split(",")], count))


# --- the bench -----------------------------------------------------------------------------

def time_gets(url: str, seconds: float, readers: int = 4) -> list[float]:
    import requests

    out: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def reader() -> None:
        session = requests.Session()
        mine = []
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            response = session.get(url, headers=HEADERS, params={"limit": 20}, timeout=60)
            mine.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def measure(api: str, clients: int, seconds: float, tag: str) -> dict:
    """GET latencies while `clients` create servers for the same time."""
    result: dict = {}
    creator = threading.Thread(target=lambda: result.update(hammer(f"{api}/api/v1/servers", clients, seconds, tag)))
    creator.start()
    gets = sorted(time_gets(f"{api}/api/v1/servers", seconds))
    creator.join()
    pct = lambda q: gets[min(int(q * len(gets)), len(gets) - 1)] * 1000  # noqa: E731
    return {"get_p50_ms": pct(0.5), "get_p99_ms": pct(0.99), "gets": len(gets), "creates_rps": result["rps"],
            "create_errors": result["errors"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--hold", nargs=3, metavar=("URL", "IDS", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hold:
        hold_main(args.hold[0], args.hold[1], int(args.hold[2]))
        return 0

    import requests

    from tests.harness.services import RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp_name:
        tmp = Path(tmp_name)
        broker = RedisServer(tmp / "redis").start()
        procs: list[subprocess.Popen] = []
        holder = None
        try:
            db_url = f"sqlite:///{tmp / 'bench.db'}"
            env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker.url(0),
                   "CELERY_RESULT_BACKEND": broker.url(1), "REDIS_URL": broker.url(2), "ORCHESTRATOR_VAR_DIR": str(tmp),
                   "ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "WARNING",
                   "STREAMS_PER_USER": str(args.streams), "STREAMS_MAX": str(args.streams)}
            from orchestrator import demo, migrate
            from orchestrator.db import session_scope

            migrate.upgrade(db_url)
            with session_scope(db_url) as session:
                demo.seed(session, env=env)
            api_port, streams_port = free_port(), free_port()
            env["STREAMS_URL"] = f"http://127.0.0.1:{streams_port}"
            procs.append(start_gunicorn("api.wsgi:app_from_env()", api_port, 2, 4, tmp / "gunicorn.log", env))
            streams = subprocess.Popen([sys.executable, "-m", "api.streams", "--port", str(streams_port)], cwd=ROOT,
                                       env={**env, "PYTHONPATH": str(ROOT)}, stdout=open(tmp / "streams.log", "wb"),
                                       stderr=subprocess.STDOUT)
            procs.append(streams)
            api, streams_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{streams_port}"
            wait_ready(f"{api}/healthz", procs[0])
            wait_ready(f"{streams_url}/healthz", streams)
            ids = []
            for n in range(100):
                response = requests.post(f"{api}/api/v1/servers", json={"name": f"watched-{n}", "flavor_id": 1,
                                                                         "image_id": 1}, headers=HEADERS, timeout=30)
                ids.append(response.json()["id"])
            hammer(f"{api}/api/v1/servers", args.clients, 1.0, "warm")
            memory = {"api_idle": rss_mib(procs[0].pid, children=True), "streams_idle": rss_mib(streams.pid)}

            phases: dict[str, list[dict]] = {"without": [], "with": []}
            for r in range(max(args.rounds, 1)):
                phases["without"].append(measure(api, args.clients, args.seconds, f"without-{r}"))
                holder = subprocess.Popen([sys.executable, __file__, "--hold", streams_url, ",".join(map(str, ids)),
                                           str(args.streams)], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                opened = json.loads(holder.stdout.readline())
                if opened["open"] != args.streams:
                    raise SystemExit(f"only {opened} streams opened")
                open_now = requests.get(f"{streams_url}/healthz", timeout=5).json()["streams"]
                phases["with"].append(measure(api, args.clients, args.seconds, f"with-{r}"))
                memory.update(api_streams_open=rss_mib(procs[0].pid, children=True),
                              streams_open=rss_mib(streams.pid), holder=rss_mib(holder.pid))
                holder.stdin.close()
                holder.stdout.readline()
                holder.wait(timeout=30)
                holder = None
        finally:
            if holder is not None:
                holder.kill()
            stop(procs, broker)

    med = {name: {key: statistics.median(x[key] for x in rs) for key in rs[0]} for name, rs in phases.items()}
    w, wo = med["with"], med["without"]
    ratio = w["get_p99_ms"] / wo["get_p99_ms"]
    print(f"GET /api/v1/servers?limit=20 (4 reader threads) while {args.clients} clients create servers, "
          f"{len(phases['with'])} alternating rounds of {args.seconds:g} s; gunicorn 2 x 4 threads + the streams "
          f"process; SQLite + redis-server; load average {os.getloadavg()[0]:.1f}; medians over rounds")
    print()
    print(f"| measure | {open_now} streams open | no stream open | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| GET p50 (ms) | {w['get_p50_ms']:.1f} | {wo['get_p50_ms']:.1f} | {w['get_p50_ms'] / wo['get_p50_ms']:.2f} |")
    print(f"| GET p99 (ms) | {w['get_p99_ms']:.1f} | {wo['get_p99_ms']:.1f} | {ratio:.2f} |")
    print(f"| creates/s meanwhile | {w['creates_rps']:.0f} | {wo['creates_rps']:.0f} | "
          f"{w['creates_rps'] / wo['creates_rps']:.2f} |")
    print(f"| API RSS, gunicorn master + workers (MiB) | {memory['api_streams_open']:.0f} | {memory['api_idle']:.0f} | |")
    print(f"| streams process RSS (MiB) | {memory['streams_open']:.0f} | {memory['streams_idle']:.0f} | |")
    print()
    print(f"goal: GET p99 with the streams open within 1.2x of without: {'yes' if ratio <= 1.2 else 'no'} ({ratio:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"bench": "streams", "streams": open_now, "with": w, "without": wo,
                                         "memory_mib": memory, "ratios": {"get_p99": ratio}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
