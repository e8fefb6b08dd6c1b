"""Reconciliation time and peak memory for 1,000, 10,000 and 100,000 servers over 10
simulated backends (goal: 100,000 within 30 s and 500 MB, growing linearly).

    .venv/bin/python bench/bench_reconcile.py [--sizes 1000,10000,100000] [--backends 10]

Each size runs in a fresh process (so its peak RSS is its own) against a fresh SQLite
database in a temporary directory, a redis-server (the runs' per-backend locks) and a
simulator in another process (so the clusters' own work and memory are not counted as the
orchestrator's, though the time of their bulk answers is: it is part of a run). Rows are
bulk-inserted with SQLAlchemy core; the simulator is filled with `Cluster.populate(n)`, the
instances then renamed to the servers' names. A small drift (servers removed, crashed,
orphans added) gives the run something to find. Full (unstaggered), detect-only runs of
the use case an operator's run goes through (orchestrator.services.reconciliation.run) are
timed (the median of five up to 10,000 servers, one above); peak RSS is the first run's;
one more run measures the Python heap peak with tracemalloc.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "rapi", "rapi-secret"
RAM_MIB = 1024  # flavor 1: 1 CPU, 1024 MiB, 10 GiB plain


def mac_of(server_id: int) -> str:
    return "aa:%02x:%02x:%02x:%02x:%02x" % tuple((server_id >> s) & 255 for s in (32, 24, 16, 8, 0))


def ids_of(backend_index: int, per_backend: int) -> range:
    """Server ids of the i-th backend (0-based): consecutive blocks, 1-based."""
    return range(backend_index * per_backend + 1, (backend_index + 1) * per_backend + 1)


# --- the simulator process -------------------------------------------------------------

def serve_sim(servers: int, backends: int, drift: float) -> None:
    """Start `backends` clusters, each holding its share of `servers` instances named like
    the servers, apply the drift, print the ports and what was drifted, wait for stdin EOF."""
    from ganeti_sim import SimFleet
    from ganeti_sim import constants as C

    per = servers // backends
    fleet = SimFleet(clusters=backends, base_port=0, host="127.0.0.1", job_duration=0.01, user=USER,
                     password=PASSWORD, nodes_per_cluster=4, node_memory=per * RAM_MIB, node_disk=per * 1024,
                     node_cpus=1024)
    every = max(int(1 / drift), 1) if drift else 0
    drifted = {"removed": 0, "crashed": 0, "orphans": 0}
    for index, sim in enumerate(fleet.clusters):
        state = sim.cluster
        names = state.populate(per, memory=RAM_MIB, disk=256, prefix="bench")
        with state.lock:
            for old, sid in zip(names, ids_of(index, per)):
                inst = state.instances.pop(old)
                inst.name = f"snf-{sid}"
                state._macs.discard(inst.nics[0]["mac"])
                inst.nics[0]["mac"] = mac_of(sid)
                state._macs.add(inst.nics[0]["mac"])
                state.instances[inst.name] = inst
                node = state.nodes[inst.pnode]
                node.pinst.discard(old)
                node.pinst.add(inst.name)
            if every:
                for sid in ids_of(index, per):
                    if sid % every == every // 3:
                        state.remove_instance(state.instances[f"snf-{sid}"])
                        drifted["removed"] += 1
                    elif sid % every == 2 * every // 3:
                        state.set_running(state.instances[f"snf-{sid}"], False)  # crashed: admin up, not running
                        drifted["crashed"] += 1
        total_orphans = servers // every if every else 0
        count = total_orphans // backends + (1 if index < total_orphans % backends else 0)
        if count:
            orphans = state.populate(count, memory=128, disk=256, prefix="orphan")
            with state.lock:
                for k, old in enumerate(orphans):
                    inst = state.instances.pop(old)
                    inst.name = f"snf-{servers * 10 + index * per + k + 1}"
                    state.instances[inst.name] = inst
                    node = state.nodes[inst.pnode]
                    node.pinst.discard(old)
                    node.pinst.add(inst.name)
                    drifted["orphans"] += 1
        assert all(i.admin_state == C.ADMIN_UP for i in state.instances.values())
    fleet.start()
    print(json.dumps({"ports": [c.port for c in fleet.clusters], "drifted": drifted}), flush=True)
    sys.stdin.readline()
    fleet.stop()


# --- one measured size ------------------------------------------------------------------

def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets the peak resident set size (VmHWM) to the current one
        return True
    except OSError:
        return False


def measure(servers: int, backends: int, drift: float) -> dict:
    from orchestrator.settings import Settings
    from tests.harness.services import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    redis = RedisServer(tmp / "redis").start()  # the runs' per-backend locks, as in production
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "ORCHESTRATOR_VAR_DIR": str(tmp),
                                  "REDIS_URL": redis.url(2), "RAPI_TIMEOUT_S": "300", "LOG_LEVEL": "WARNING"})
    sim = subprocess.Popen([sys.executable, __file__, "--serve-sim", str(servers), "--backends", str(backends),
                            "--drift", str(drift)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           cwd=ROOT)
    try:
        t0 = time.perf_counter()
        line = sim.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        started = json.loads(line)
        sim_setup = time.perf_counter() - t0
        return _measure(servers, backends, started, settings, sim_setup, repeats=5 if servers <= 10000 else 1)
    finally:
        sim.stdin.close()
        try:
            sim.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()
        redis.stop()


def _measure(servers: int, backends: int, started: dict, settings, sim_setup: float, repeats: int = 1) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from sqlalchemy import func, insert, select

    from orchestrator import migrate
    from orchestrator.db import get_sessionmaker
    from orchestrator.models import Backend, Finding, Flavor, Image, Server
    from orchestrator.services import reconciliation
    from orchestrator.services.context import build_context

    ctx = build_context(settings)  # this process's own context (nothing is published)
    url = settings.database_url
    migrate.upgrade(url)
    per = servers // backends
    t0 = time.perf_counter()
    Session = get_sessionmaker(url)
    with Session() as session:
        session.add(Flavor(id=1, name="c1r1024d10", cpu=1, ram=RAM_MIB, disk=10, disk_template="plain"))
        session.add(Image(id=1, name="debian", location="debian.diskdump"))
        for index, port in enumerate(started["ports"]):
            session.add(Backend(id=index + 1, clustername=f"cluster{index + 1}.sim.local", host="127.0.0.1",
                                port=port, scheme="http", username=USER, password=ctx.credentials.seal(PASSWORD),
                                verify_tls=False, drained=False))
        session.commit()
        long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        for index in range(backends):
            rows = [{"id": sid, "user_id": f"user{sid % 100}", "name": f"vm-{sid}", "flavor_id": 1, "image_id": 1,
                     "backend_id": index + 1, "operstate": "STARTED", "build_percentage": 100,
                     "backend_opcode": "OP_INSTANCE_CREATE", "backend_job_status": "success",
                     "nics": [{"index": 0, "ip": None, "mac": mac_of(sid), "network": None}],
                     "created_at": long_ago, "updated_at": long_ago, "deleted": False, "suspended": False,
                     "task": None, "backend_time": 0.0}
                    for sid in ids_of(index, per)]
            for start in range(0, len(rows), 10000):
                session.execute(insert(Server.__table__), rows[start:start + 10000])
            session.commit()
        del rows
    db_setup = time.perf_counter() - t0

    def one_run(trigger: str):
        with Session() as session:
            # The use case an operator's run goes through: every backend, each under its lock,
            # detect only (no fixes), unstaggered.
            run = reconciliation.run(ctx, session, fixes=frozenset(), staggered=False, trigger=trigger)
            kinds = dict(session.execute(select(Finding.kind, func.count()).where(Finding.run_id == run.id)
                                         .group_by(Finding.kind)).all())
            return run.servers_checked, kinds

    # The bulk calls alone (also warms the connection pools): what the clusters' answers cost.
    with Session() as session:
        chosen = session.scalars(select(Backend).order_by(Backend.id)).all()
        t0 = time.perf_counter()
        fetched = sum(len(ctx.cluster(b).instances()) for b in chosen)
        bulk_only = time.perf_counter() - t0

    gc.collect()
    rss_before = _rss_mib()
    hwm_reset = _reset_hwm()
    t0 = time.perf_counter()
    checked, kinds = one_run("bench")
    times = [time.perf_counter() - t0]
    peak_rss = _hwm_mib() if hwm_reset else float("nan")
    for _ in range(repeats - 1):  # small sizes: the median of a few runs, not one noisy figure
        t0 = time.perf_counter()
        one_run("bench")
        times.append(time.perf_counter() - t0)
    elapsed = sorted(times)[len(times) // 2]

    import tracemalloc

    gc.collect()
    tracemalloc.start()
    one_run("bench-mem")
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"servers": servers, "backends": backends, "instances": fetched, "checked": checked, "runs": len(times),
            "findings": kinds, "drifted": started["drifted"], "seconds": elapsed, "bulk_only_s": bulk_only,
            "rss_before_mib": rss_before, "peak_rss_mib": peak_rss, "traced_peak_mib": traced_peak / 2**20,
            "sim_setup_s": sim_setup, "db_setup_s": db_setup}


# --- the table ----------------------------------------------------------------------------

def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(next(line.split()[1] for line in fh if line.startswith("MemTotal:")))
            mem = f", {kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    import sqlite3

    import sqlalchemy

    return (f"{cpu}, {os.cpu_count()} cpus{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", type=int, default=10)
    parser.add_argument("--drift", type=float, default=0.001, help="fraction of servers drifted per kind")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--serve-sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim is not None:
        serve_sim(args.serve_sim, args.backends, args.drift)
        return
    if args.one is not None:
        print(json.dumps(measure(args.one, args.backends, args.drift)), flush=True)
        return

    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--backends", str(args.backends),
                              "--drift", str(args.drift)], cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stdout + out.stderr)
            raise SystemExit(f"size {size} failed")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"  {size:>7} servers: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB", file=sys.stderr)

    base = results[0]
    print(f"machine: {machine()}")
    print(f"setup: {args.backends} simulated backends in a separate process, SQLite in a temp dir, full "
          f"detect-only runs (unstaggered; time: the median of 5 runs up to 10,000 servers, else 1); drift {args.drift:.1%} of servers per kind "
          f"(removed, crashed, orphans)")
    print()
    print("| servers | time (s) | ratio | bulk calls alone (s) | servers/s | peak RSS (MiB) | ratio "
          "| RSS growth (MiB) | ratio | traced heap peak (MiB) | ratio | findings |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        growth = r["peak_rss_mib"] - r["rss_before_mib"]
        base_growth = max(base["peak_rss_mib"] - base["rss_before_mib"], 1e-9)
        findings = ", ".join(f"{k} {v}" for k, v in sorted(r["findings"].items())) or "none"
        print(f"| {r['servers']:,} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.1f} "
              f"| {r['bulk_only_s']:.2f} | {r['checked'] / r['seconds']:,.0f} "
              f"| {r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] / base['peak_rss_mib']:.2f} "
              f"| {growth:.0f} | {growth / base_growth:.1f} "
              f"| {r['traced_peak_mib']:.1f} | {r['traced_peak_mib'] / base['traced_peak_mib']:.1f} | {findings} |")
    print()
    last = results[-1]
    ok_time = last["seconds"] <= 30
    ok_mem = last["peak_rss_mib"] * 2**20 / 1e6 <= 500  # MB, not MiB
    print(f"goal for {last['servers']:,} servers: within 30 s: {'yes' if ok_time else 'NO'} "
          f"({last['seconds']:.1f} s); within 500 MB: {'yes' if ok_mem else 'NO'} ({last['peak_rss_mib'] * 2**20 / 1e6:.0f} MB peak RSS)")
    if args.json:
        per_server = base["seconds"] / base["checked"]
        args.json.write_text(json.dumps({
            "bench": "reconcile", "backends": args.backends, "drift": args.drift, "machine": machine(),
            "baseline": {"servers": base["servers"], "seconds_per_server": per_server},
            "sizes": [{**r, "seconds_per_server": r["seconds"] / r["checked"],
                       "per_server_ratio": r["seconds"] / r["checked"] / per_server,
                       "rss_growth_mib": r["peak_rss_mib"] - r["rss_before_mib"]} for r in results],
            "goal": {"servers": last["servers"], "seconds": last["seconds"], "peak_rss_mib": last["peak_rss_mib"],
                     "within_30s": ok_time, "within_500mb": ok_mem}}, indent=2))


if __name__ == "__main__":
    main()
