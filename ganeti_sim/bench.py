"""Scale benchmark: one simulator process with many clusters and instances, polled hard.

    python -m ganeti_sim.bench --clusters 10 --instances 100000 --seconds 10 --clients 8

Starts `python -m ganeti_sim` as a separate process, submits a few jobs per cluster,
then has client processes poll GET /2/jobs/[id] over keep-alive connections, and
prints the request rate, latency percentiles and the server's resident memory.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _client(targets, auth, seconds, out):
    """Poll random (host, port, job) targets for `seconds`; report count and latencies."""
    conns = {}
    headers = {"Authorization": auth}
    count, errors, lat = 0, 0, []
    deadline = time.monotonic() + seconds
    rnd = random.Random(os.getpid())
    while time.monotonic() < deadline:
        host, port, job = rnd.choice(targets)
        conn = conns.get(port)
        if conn is None:
            conn = conns[port] = http.client.HTTPConnection(host, port, timeout=10)
        t0 = time.perf_counter()
        try:
            conn.request("GET", f"/2/jobs/{job}", headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conns.pop(port, None)
            continue
        lat.append(time.perf_counter() - t0)
        count += 1
    out.put((count, errors, lat[:: max(len(lat) // 2000, 1)]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clusters", type=int, default=10)
    p.add_argument("--instances", type=int, default=100000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--jobs-per-cluster", type=int, default=20)
    args = p.parse_args(argv)

    user, password = "bench", "bench-secret"
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    state = tempfile.mkdtemp(prefix="ganeti-sim-bench-")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ganeti_sim", "--clusters", str(args.clusters),
                             "--base-port", "0", "--instances", str(args.instances), "--job-duration", "0.01",
                             "--user", user, "--password", password, "--state-dir", state],
                            stdout=subprocess.PIPE, text=True)
    try:
        urls = [proc.stdout.readline().split()[1] for _ in range(args.clusters)]
        startup = time.monotonic() - t0
        rss_idle = _rss_mib(proc.pid)
        targets = []
        for url in urls:
            host, port = url.split("//")[1].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            for i in range(args.jobs_per_cluster):
                body = json.dumps({"__version__": 1, "mode": "create", "instance_name": f"bench{i}",
                                   "disk_template": "diskless", "disks": [], "nics": [{}], "os_type": "noop",
                                   "beparams": {"maxmem": 64, "minmem": 64}, "start": False,
                                   "name_check": False, "ip_check": False})
                conn.request("POST", "/2/instances", body=body,
                             headers={"Authorization": auth, "Content-Type": "application/json"})
                resp = conn.getresponse()
                targets.append((host, int(port), json.loads(resp.read())))
        time.sleep(0.5)
        out = mp.Queue()
        workers = [mp.Process(target=_client, args=(targets, auth, args.seconds, out))
                   for _ in range(args.clients)]
        for w in workers:
            w.start()
        results = [out.get() for _ in workers]
        for w in workers:
            w.join()
        rss_busy = _rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    total = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])

    def pct(q):
        return lat[min(int(q * len(lat)), len(lat) - 1)] * 1000 if lat else float("nan")

    print("| metric | value |")
    print("| --- | ---: |")
    print(f"| clusters | {args.clusters} |")
    print(f"| instances | {args.instances} |")
    print(f"| start-up incl. population (s) | {startup:.1f} |")
    print(f"| server RSS idle (MiB) | {rss_idle:.0f} |")
    print(f"| server RSS after load (MiB) | {rss_busy:.0f} |")
    print(f"| client processes | {args.clients} |")
    print(f"| GET /2/jobs/[id] requests | {total} |")
    print(f"| errors | {errors} |")
    print(f"| requests/s | {total / args.seconds:.0f} |")
    print(f"| latency p50 / p95 / p99 (ms) | {pct(0.5):.2f} / {pct(0.95):.2f} / {pct(0.99):.2f} |")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
