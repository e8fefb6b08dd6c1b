"""Reconciliation time and peak memory for 1,000, 10,000 and 100,000 servers over 10
simulated backends (goal: 100,000 within 30 s and 500 MB, growing linearly), and of the
networks' and pools' runs for 1,000 and 10,000 networks with ten ports each (goal: 10,000
networks and 100,000 ports within the same 30 s and 500 MB, linearly).

    .venv/bin/python bench/bench_reconcile.py [--sizes 1000,10000,100000] [--network-sizes 1000,10000]
                                              [--backends 10]

(`--sizes ""` runs the networks' part alone, `--network-sizes ""` the servers' alone.)

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
import contextlib
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


@contextlib.contextmanager
def _bench_env(prefix: str, serve: list[str]):
    """A run's settings (a fresh SQLite file, a redis-server for the runs' per-backend locks,
    as in production) and the simulator process started with `serve`: yields (settings, its
    first line as JSON, the seconds it took to start); stops both afterwards."""
    from orchestrator.settings import Settings
    from tests.harness.services import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    redis = RedisServer(tmp / "redis").start()
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "ORCHESTRATOR_VAR_DIR": str(tmp),
                                  "REDIS_URL": redis.url(2), "RAPI_TIMEOUT_S": "300", "LOG_LEVEL": "WARNING"})
    sim = subprocess.Popen([sys.executable, __file__, *serve], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, cwd=ROOT)
    try:
        t0 = time.perf_counter()
        line = sim.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        yield settings, json.loads(line), time.perf_counter() - t0
    finally:
        sim.stdin.close()
        try:
            sim.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()
        redis.stop()


def measure(servers: int, backends: int, drift: float) -> dict:
    with _bench_env("bench-reconcile-", ["--serve-sim", str(servers), "--backends", str(backends),
                                         "--drift", str(drift)]) as (settings, started, sim_setup):
        return _measure(servers, backends, started, settings, sim_setup, repeats=5 if servers <= 10000 else 1)


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


# --- networks and pools -------------------------------------------------------------------
# `networks` networks over the backends (consecutive blocks of ids, each on one backend, as
# private networks are), each with an IPv4 /27 subnet and its pool, PORTS_PER_NETWORK ports
# holding an address each; every 100th network PHYSICAL_VLAN (a bridge from the bridge pool),
# the others MAC_FILTERED (a prefix from the MAC-prefix pool). Every Ganeti network is
# connected to its cluster's group. Drift (a fraction per kind): networks removed from their
# cluster, orphans, groups disconnected, reservations added in Ganeti; pool values leaked
# and held addresses marked free.

PORTS_PER_NETWORK = 10
VLAN_EVERY = 100


def cidr_of(network_id: int) -> str:
    """A distinct /27 of 10.0.0.0/8 per network."""
    base = (10 << 24) + network_id * 32
    return "%d.%d.%d.%d/27" % ((base >> 24) & 255, (base >> 16) & 255, (base >> 8) & 255, base & 255)


def host_of(network_id: int, offset: int) -> str:
    base = (10 << 24) + network_id * 32 + offset
    return "%d.%d.%d.%d" % ((base >> 24) & 255, (base >> 16) & 255, (base >> 8) & 255, base & 255)


def net_ids_of(backend_index: int, per_backend: int) -> range:
    return range(backend_index * per_backend + 1, (backend_index + 1) * per_backend + 1)


def drifted_ids(networks: int, drift: float, kind: int) -> set[int]:
    """The networks drifted in kind `kind` (0..3): every `1/drift`-th, each kind its own offset."""
    every = max(int(1 / drift), 4) if drift else 0
    return {k for k in range(1, networks + 1) if every and k % every == kind * every // 4} if every else set()


def serve_net_sim(networks: int, backends: int, drift: float) -> None:
    """The clusters with their networks (and the Ganeti side of the drift); ports on stdout."""
    from ganeti_sim import SimFleet
    from ganeti_sim.addrpool import Network as GanetiNetwork

    fleet = SimFleet(clusters=backends, base_port=0, host="127.0.0.1", job_duration=0.01, user=USER,
                     password=PASSWORD, nodes_per_cluster=4)
    per = networks // backends
    removed, _orphaned, disconnected, reserved = (drifted_ids(networks, drift, k) for k in range(4))
    counts = {"missing": 0, "orphans": 0, "groups": 0, "reserved": 0}
    for index, sim in enumerate(fleet.clusters):
        state = sim.cluster
        group = state.groups["default"]
        with state.lock:
            for k in net_ids_of(index, per):
                if k in removed:
                    counts["missing"] += 1
                    continue
                net = GanetiNetwork(f"snf-net-{k}", cidr_of(k), host_of(k, 1), mac_prefix="aa:00:00")
                net.initialize()
                state.networks[net.name] = net
                if k in disconnected:
                    counts["groups"] += 1
                else:
                    group.networks[net.uuid] = {"mode": "bridged", "link": "prv0", "vlan": ""}
                if k in reserved:
                    net.reserve(host_of(k, 20), external=True)
                    counts["reserved"] += 1
            for j in range(len(removed) // backends):  # orphans: ids no network has
                k = networks * 10 + index * per + j + 1
                net = GanetiNetwork(f"snf-net-{k}", cidr_of(k))
                net.initialize()
                state.networks[net.name] = net
                counts["orphans"] += 1
    fleet.start()
    print(json.dumps({"ports": [c.port for c in fleet.clusters], "drifted": counts}), flush=True)
    sys.stdin.readline()
    fleet.stop()


def measure_networks(networks: int, backends: int, drift: float) -> dict:
    with _bench_env("bench-reconcile-net-", ["--serve-net-sim", str(networks), "--backends", str(backends),
                                             "--drift", str(drift)]) as (settings, started, _setup):
        return _measure_networks(networks, backends, drift, started, settings, repeats=3 if networks <= 2000 else 1)


def _network_rows(networks: int, backends: int, drift: float, macs: list[str], bridges: list[str],
                  mac_pool: int, bridge_pool: int) -> dict[str, list[dict]]:
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    per = networks // backends
    leaked, unmarked = drifted_ids(networks, drift, 0), drifted_ids(networks, drift, 2)
    rows: dict[str, list[dict]] = {"networks": [], "backend_networks": [], "subnets": [], "pools": [],
                                   "ports": [], "ip_addresses": []}
    mac_iter, bridge_iter = iter(macs), iter(bridges)
    for index in range(backends):
        for k in net_ids_of(index, per):
            vlan = k % VLAN_EVERY == 0
            rows["networks"].append({
                "id": k, "name": f"net{k}", "user_id": f"user{k % 100}", "public": False,
                "flavor": "PHYSICAL_VLAN" if vlan else "MAC_FILTERED", "mode": "bridged",
                "link": next(bridge_iter) if vlan else "prv0", "mac_prefix": "aa:00:0" if vlan else next(mac_iter),
                "link_pool_id": bridge_pool if vlan else None, "mac_prefix_pool_id": None if vlan else mac_pool,
                "state": "ACTIVE", "deleted": False, "created_at": long_ago, "updated_at": long_ago})
            rows["backend_networks"].append({"network_id": k, "backend_id": index + 1, "state": "ACTIVE",
                                             "job_id": None, "job_status": "success", "backend_time": 0.0,
                                             "created_at": long_ago, "updated_at": long_ago})
            # The pool: bit i is address i of the /27; 0, 1 (gateway) and 31 reserved for good;
            # ports hold 2..11 (one held address marked free in the drift), one leaked at 25.
            available = ((1 << 32) - 1) & ~(((1 << PORTS_PER_NETWORK) - 1) << 2)
            if k in unmarked:
                available |= 1 << 2
            if k in leaked:
                available &= ~(1 << 25)
            rows["pools"].append({"id": k + 10, "type": "ip", "base": cidr_of(k), "offset": 0, "size": 32,
                                  "available_map": available.to_bytes(4, "little"),
                                  "reserved_map": ((1 << 0) | (1 << 1) | (1 << 31)).to_bytes(4, "little"),
                                  "deleted": False, "created_at": long_ago, "updated_at": long_ago})
            rows["subnets"].append({"id": k, "network_id": k, "name": "", "ip_version": 4, "cidr": cidr_of(k),
                                    "gateway": host_of(k, 1), "dhcp": True, "dns_nameservers": [],
                                    "allocation_pools": [{"start": host_of(k, 2), "end": host_of(k, 30)}],
                                    "user_id": f"user{k % 100}", "pool_id": k + 10, "deleted": False,
                                    "created_at": long_ago, "updated_at": long_ago})
            for j in range(PORTS_PER_NETWORK):
                port_id = (k - 1) * PORTS_PER_NETWORK + j + 1
                rows["ports"].append({"id": port_id, "name": "", "network_id": k, "user_id": f"user{k % 100}",
                                      "server_id": None, "state": "DOWN", "index": None,
                                      "mac": "ab:%02x:%02x:%02x:%02x:%02x" % tuple((port_id >> s) & 255
                                                                                  for s in (32, 24, 16, 8, 0)),
                                      "deleted": False, "created_at": long_ago, "updated_at": long_ago})
                rows["ip_addresses"].append({"subnet_id": k, "port_id": port_id, "address": host_of(k, 2 + j),
                                             "ip_version": 4, "user_id": f"user{k % 100}", "deleted": False,
                                             "created_at": long_ago, "updated_at": long_ago})
    return rows


def _measure_networks(networks: int, backends: int, drift: float, started: dict, settings, repeats: int) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from sqlalchemy import func, insert, select

    from orchestrator import migrate
    from orchestrator.db import get_sessionmaker
    from orchestrator.models import (Backend, BackendNetwork, Finding, IPAddress, Network, Pool, Port, Subnet)
    from orchestrator.network import pools
    from orchestrator.services import reconciliation
    from orchestrator.services.context import build_context

    ctx = build_context(settings)
    url = settings.database_url
    migrate.upgrade(url)
    Session = get_sessionmaker(url)
    t0 = time.perf_counter()
    with Session() as session:
        for index, port in enumerate(started["ports"]):
            session.add(Backend(id=index + 1, clustername=f"cluster{index + 1}.sim.local", host="127.0.0.1",
                                port=port, scheme="http", username=USER, password=ctx.credentials.seal(PASSWORD),
                                verify_tls=False, drained=False))
        mac_pool = pools.new_pool("mac-prefix", "aa:00:0", 65536, reserve_values=["aa:00:0"])
        bridge_pool = pools.new_pool("bridge", "prv", max(networks // VLAN_EVERY, 1) + 10)
        mac_pool.id, bridge_pool.id = 1, 2
        macs = [pools.allocate(mac_pool) for k in range(1, networks + 1) if k % VLAN_EVERY]
        bridges = [pools.allocate(bridge_pool) for k in range(1, networks + 1) if not k % VLAN_EVERY]
        session.add_all([mac_pool, bridge_pool])
        session.commit()
        rows = _network_rows(networks, backends, drift, macs, bridges, mac_pool=1, bridge_pool=2)
        for model, key in ((Network, "networks"), (Pool, "pools"), (Subnet, "subnets"),
                           (BackendNetwork, "backend_networks"), (Port, "ports"), (IPAddress, "ip_addresses")):
            table_rows = rows.pop(key)
            for start in range(0, len(table_rows), 10000):
                session.execute(insert(model.__table__), table_rows[start:start + 10000])
            session.commit()
        del rows, table_rows
    db_setup = time.perf_counter() - t0

    def one_run(kind: str, trigger: str):
        with Session() as session:
            if kind == "networks":
                run = reconciliation.run_networks(ctx, session, fixes=frozenset(), staggered=False, trigger=trigger)
            else:
                run = reconciliation.run_pools(ctx, session, fixes=frozenset(), staggered=False, trigger=trigger)
            kinds = dict(session.execute(select(Finding.kind, func.count()).where(Finding.run_id == run.id)
                                         .group_by(Finding.kind)).all())
            return run.servers_checked, kinds, run.backends_skipped

    with Session() as session:  # the bulk calls alone (and warm connection pools)
        chosen = session.scalars(select(Backend).order_by(Backend.id)).all()
        t0 = time.perf_counter()
        fetched = sum(len(ctx.cluster(b).networks(bulk=True)) for b in chosen)
        bulk_only = time.perf_counter() - t0

    out = {"networks": networks, "ports": networks * PORTS_PER_NETWORK, "backends": backends,
           "ganeti_networks": fetched, "bulk_only_s": bulk_only, "db_setup_s": db_setup, "drifted": started["drifted"],
           "runs": {}}
    for kind in ("networks", "pools"):
        gc.collect()
        rss_before = _rss_mib()
        hwm_reset = _reset_hwm()
        t0 = time.perf_counter()
        checked, kinds, skipped = one_run(kind, "bench")
        times = [time.perf_counter() - t0]
        peak = _hwm_mib() if hwm_reset else float("nan")
        for _ in range(repeats - 1):
            t0 = time.perf_counter()
            one_run(kind, "bench")
            times.append(time.perf_counter() - t0)
        out["runs"][kind] = {"checked": checked, "findings": kinds, "skipped": skipped,
                     "seconds": sorted(times)[len(times) // 2], "runs": len(times),
                     "rss_before_mib": rss_before, "peak_rss_mib": peak}
    return out


def network_table(results: list[dict], drift: float) -> dict:
    """Print the networks' and pools' table; the figures for --json."""
    base = results[0]
    print()
    print(f"networks and pools: {base['backends']} simulated backends, {PORTS_PER_NETWORK} ports per network, "
          f"full detect-only runs (median of 3 up to 2,000 networks, else 1); drift {drift:.1%} per kind")
    print()
    print("| networks | ports | networks run (s) | per network (µs) | ratio | bulk calls alone (s) | pools run (s) "
          "| per pool (µs) | ratio | peak RSS (MiB) | findings |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    b_net = base["runs"]["networks"]["seconds"] / base["runs"]["networks"]["checked"]
    b_pool = base["runs"]["pools"]["seconds"] / base["runs"]["pools"]["checked"]
    for r in results:
        n, p = r["runs"]["networks"], r["runs"]["pools"]
        per_net, per_pool = n["seconds"] / n["checked"], p["seconds"] / p["checked"]
        findings = ", ".join(f"{k} {v}" for k, v in sorted({**n["findings"], **p["findings"]}.items())) or "none"
        print(f"| {r['networks']:,} | {r['ports']:,} | {n['seconds']:.2f} | {per_net * 1e6:.0f} | {per_net / b_net:.2f} "
              f"| {r['bulk_only_s']:.2f} | {p['seconds']:.2f} | {per_pool * 1e6:.0f} | {per_pool / b_pool:.2f} "
              f"| {max(n['peak_rss_mib'], p['peak_rss_mib']):.0f} | {findings} |")
    last = results[-1]
    seconds = last["runs"]["networks"]["seconds"] + last["runs"]["pools"]["seconds"]
    mb = max(last["runs"]["networks"]["peak_rss_mib"], last["runs"]["pools"]["peak_rss_mib"]) * 2**20 / 1e6
    ok_time, ok_mem = seconds <= 30, mb <= 500
    print()
    print(f"goal for {last['networks']:,} networks and {last['ports']:,} ports: within 30 s: "
          f"{'yes' if ok_time else 'NO'} ({seconds:.1f} s, both runs); within 500 MB: {'yes' if ok_mem else 'NO'} "
          f"({mb:.0f} MB peak RSS)")
    return {"sizes": results, "goal": {"networks": last["networks"], "ports": last["ports"], "seconds": seconds,
                                       "peak_mb": mb, "within_30s": ok_time, "within_500mb": ok_mem}}


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
    parser.add_argument("--network-sizes", default="1000,10000",
                        help="networks (ten ports each) for the networks' and pools' runs; empty: none")
    parser.add_argument("--serve-sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-net-sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one-net", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim is not None:
        serve_sim(args.serve_sim, args.backends, args.drift)
        return
    if args.serve_net_sim is not None:
        serve_net_sim(args.serve_net_sim, args.backends, args.drift)
        return
    if args.one is not None:
        print(json.dumps(measure(args.one, args.backends, args.drift)), flush=True)
        return
    if args.one_net is not None:
        print(json.dumps(measure_networks(args.one_net, args.backends, args.drift)), flush=True)
        return

    net_results = []
    for size in (int(s) for s in args.network_sizes.split(",") if s.strip()):
        out = subprocess.run([sys.executable, __file__, "--one-net", str(size), "--backends", str(args.backends),
                              "--drift", str(args.drift)], cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stdout + out.stderr)
            raise SystemExit(f"network size {size} failed")
        net_results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = net_results[-1]
        print(f"  {size:>7} networks: {r['runs']['networks']['seconds']:.2f} s, "
              f"pools {r['runs']['pools']['seconds']:.2f} s", file=sys.stderr)
    if not [s for s in args.sizes.split(",") if s.strip()]:
        print(f"machine: {machine()}")
        figures = network_table(net_results, args.drift) if net_results else None
        if args.json:
            args.json.write_text(json.dumps({"bench": "reconcile", "networks": figures}, indent=2))
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
    net_figures = network_table(net_results, args.drift) if net_results else None
    if args.json:
        per_server = base["seconds"] / base["checked"]
        args.json.write_text(json.dumps({
            "bench": "reconcile", "backends": args.backends, "drift": args.drift, "machine": machine(),
            "baseline": {"servers": base["servers"], "seconds_per_server": per_server},
            "sizes": [{**r, "seconds_per_server": r["seconds"] / r["checked"],
                       "per_server_ratio": r["seconds"] / r["checked"] / per_server,
                       "rss_growth_mib": r["peak_rss_mib"] - r["rss_before_mib"]} for r in results],
            "goal": {"servers": last["servers"], "seconds": last["seconds"], "peak_rss_mib": last["peak_rss_mib"],
                     "within_30s": ok_time, "within_500mb": ok_mem},
            "networks": net_figures}, indent=2))


if __name__ == "__main__":
    main()
