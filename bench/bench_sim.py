"""The simulator's request rate and memory, beside a bare server measured in the same run.

    .venv/bin/python bench/bench_sim.py [--seconds 4] [--rounds 3] [--clients 4]

Three measurements, each in its own server process, polled by the same client processes
(ganeti_sim.bench's) for the same time. Werkzeug 3's server closes every connection after
its answer, so each poll is a fresh TCP connection on both sides:

1. ganeti_sim with 10 clusters and 100,000 instances: `GET /2/jobs/[id]` rate, latency and
   resident memory, measured by ganeti_sim.bench (imported, not copied);
2. the same simulator with no instances, for the memory the instances themselves take;
3. the baseline: a bare WSGI route answering a constant JSON job record of the same size,
   served by the same werkzeug threaded server with the same request handler.

The ratio column says what the simulator's own work costs, whatever the machine's speed.
Issue 3 asks for 1,000 requests/s or more from the simulator.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganeti_sim import bench as sim_bench  # noqa: E402

TARGET_RPS = 1000
BASELINE_JOBS = 200


def _job_body() -> bytes:
    """A real /2/jobs/[id] body as the simulator serves it (a finished create job)."""
    from ganeti_sim import opcodes
    from ganeti_sim.jobs import Job

    op = opcodes.build_op("OP_INSTANCE_CREATE", {
        "mode": "create", "instance_name": "bench0", "disk_template": "diskless", "disks": [], "nics": [{}],
        "os_type": "noop", "beparams": {"maxmem": 64, "minmem": 64}, "start": False, "name_check": False,
        "ip_check": False}, {"dry_run": False, "reason": [["gnt:library:rlib2:instances", "", 0]]})
    job = Job(1, [op])
    for queued in job.ops:
        queued.status, queued.result = "success", ["node1.cluster1.sim.local"]
        queued.start_timestamp = queued.exec_timestamp = queued.end_timestamp = job.received_timestamp
    job.start_timestamp = job.end_timestamp = job.received_timestamp
    return job.full_json()


def serve_baseline() -> int:
    """The baseline server: a constant JSON answer, the simulator's server class and handler."""
    from werkzeug.serving import make_server

    from ganeti_sim.server import _Handler

    body = _job_body()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response("200 OK", list(headers))
        return [body]

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"baseline http://127.0.0.1:{server.server_port} {len(body)}", flush=True)
    server.serve_forever(poll_interval=0.1)
    return 0


def run_simulator(clusters: int, instances: int, seconds: float, clients: int) -> dict[str, str]:
    """ganeti_sim.bench's measurement, its table read back into {metric: value}."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = sim_bench.main(["--clusters", str(clusters), "--instances", str(instances),
                                 "--seconds", str(seconds), "--clients", str(clients)])
    rows = {}
    for line in out.getvalue().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("metric", "---"):
            rows[cells[0]] = cells[1]
    rows["exit status"] = str(status)
    return rows


def run_baseline(seconds: float, clients: int) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-baseline"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        _, url, size = proc.stdout.readline().split()
        host, port = url.split("//")[1].split(":")
        rss_idle = sim_bench._rss_mib(proc.pid)
        targets = [(host, int(port), job_id) for job_id in range(1, BASELINE_JOBS + 1)]
        out = mp.Queue()
        workers = [mp.Process(target=sim_bench._client, args=(targets, "Basic YmVuY2g6YmVuY2g=", seconds, out))
                   for _ in range(clients)]
        for w in workers:
            w.start()
        results = [out.get() for _ in workers]
        for w in workers:
            w.join()
        rss_busy = sim_bench._rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lat = sorted(x for r in results for x in r[2])

    def pct(q):
        return lat[min(int(q * len(lat)), len(lat) - 1)] * 1000 if lat else float("nan")

    return {"requests/s": sum(r[0] for r in results) / seconds, "errors": sum(r[1] for r in results),
            "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "rss idle": rss_idle, "rss busy": rss_busy,
            "body bytes": int(size)}


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=4.0, help="polling time of each measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="simulator and baseline measured alternately this many times; medians shown")
    parser.add_argument("--clients", type=int, default=4, help="polling client processes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        return serve_baseline()
    os.chdir(ROOT)

    started = time.monotonic()
    sims, bases = [], []
    for _ in range(max(args.rounds, 1)):  # alternate, so load from elsewhere hits both alike
        sims.append(run_simulator(args.clusters, args.instances, args.seconds, args.clients))
        bases.append(run_baseline(args.seconds, args.clients))
    empty = run_simulator(args.clusters, 0, min(args.seconds, 2.0), args.clients)
    elapsed = time.monotonic() - started

    sim_rates = [_num(r["requests/s"]) for r in sims]
    base_rates = [b["requests/s"] for b in bases]
    lat = [[_num(x) for x in r["latency p50 / p95 / p99 (ms)"].split("/")] for r in sims]
    p50, p95, p99 = (statistics.median([row[i] for row in lat]) for i in range(3))
    b50, b95, b99 = (statistics.median([b[k] for b in bases]) for k in ("p50", "p95", "p99"))
    sim_rps, base_rps = statistics.median(sim_rates), statistics.median(base_rates)
    rss_sim = max(_num(r["server RSS after load (MiB)"]) for r in sims)
    rss_sim_idle = max(_num(r["server RSS idle (MiB)"]) for r in sims)
    rss_base = max(b["rss busy"] for b in bases)
    rss_base_idle = max(b["rss idle"] for b in bases)
    rss_empty = _num(empty["server RSS idle (MiB)"])
    per_instance_kib = (rss_sim_idle - rss_empty) * 1024 / max(args.instances, 1)
    sim_errors = sum(int(_num(r["errors"])) for r in sims)
    base_errors = sum(b["errors"] for b in bases)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    def spread(values: list[float]) -> str:
        return " / ".join(f"{v:.0f}" for v in values)

    print(f"ganeti_sim GET /2/jobs/[id] and memory: {len(sims)} alternating rounds of {args.seconds:g} s each, "
          f"{args.clients} client processes, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; total {elapsed:.0f} s; medians over rounds")
    print()
    print(f"| metric | ganeti_sim: {args.clusters} clusters, {args.instances:,} instances "
          "| baseline: bare werkzeug route, constant JSON | ratio sim / baseline |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| GET /2/jobs/[id] requests/s | {sim_rps:.0f} | {base_rps:.0f} | {ratio(sim_rps, base_rps)} |")
    print(f"| requests/s in each round | {spread(sim_rates)} | {spread(base_rates)} | |")
    print(f"| latency p50 (ms) | {p50:.2f} | {b50:.2f} | {ratio(p50, b50)} |")
    print(f"| latency p95 (ms) | {p95:.2f} | {b95:.2f} | {ratio(p95, b95)} |")
    print(f"| latency p99 (ms) | {p99:.2f} | {b99:.2f} | {ratio(p99, b99)} |")
    print(f"| errors | {sim_errors} | {base_errors} | |")
    print(f"| server RSS after load (MiB) | {rss_sim:.0f} | {rss_base:.0f} | {ratio(rss_sim, rss_base)} |")
    print(f"| server RSS, {args.clusters} clusters and no instances (MiB) | {rss_empty:.0f} "
          f"| {rss_base_idle:.0f} | {ratio(rss_empty, rss_base_idle)} |")
    print(f"| memory per instance (KiB) | {per_instance_kib:.2f} | | |")
    print(f"| start-up incl. population (s) | {sims[-1]['start-up incl. population (s)']} | | |")
    print(f"| GET /2/jobs/[id] with no instances, requests/s | {_num(empty['requests/s']):.0f} "
          f"| {base_rps:.0f} | {ratio(_num(empty['requests/s']), base_rps)} |")
    print()
    verdict = "met" if sim_rps >= TARGET_RPS else "NOT met"
    print(f"Issue 3 target, {TARGET_RPS:,} requests/s or more with {args.instances:,} instances: {verdict}.")
    if args.json:
        args.json.write_text(json.dumps({
            "bench": "sim", "clusters": args.clusters, "instances": args.instances, "seconds": args.seconds,
            "rounds": len(sims), "clients": args.clients,
            "product": {"rps": sim_rps, "p50_ms": p50, "p99_ms": p99, "rps_rounds": sim_rates, "errors": sim_errors,
                        "rss_mib": rss_sim},
            "baseline": {"rps": base_rps, "p50_ms": b50, "p99_ms": b99, "rps_rounds": base_rates,
                         "errors": base_errors, "rss_mib": rss_base},
            "ratio": sim_rps / base_rps if base_rps else None, "target_rps": TARGET_RPS,
            "target_met": sim_rps >= TARGET_RPS, "per_instance_kib": per_instance_kib}, indent=2))
    return 0 if all(r["exit status"] == "0" for r in sims) and base_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
