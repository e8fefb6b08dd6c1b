"""Page timings of the operator console on a large database: a SQLite file filled by bulk
inserts (SQLAlchemy core, as bench_reconcile.py does) with SERVERS servers, OPERATIONS
operations (some FAILED, some past their deadline, most SUCCEEDED over the last hours),
a reconciliation run with its findings, then every console page requested REPEATS times
through the app (Flask's test client, signed in with the admin token; no network in the
way) and the p50/p99 of each printed as a table.

    .venv/bin/python bench/bench_console.py                    # 100,000 servers, 1,000,000 operations
    .venv/bin/python bench/bench_console.py --servers 10000 --operations 100000 --repeats 20

`fill(url, servers, operations)` is also what scripts/screenshots.py uses for its demo data.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("create", "reboot", "shutdown", "start", "destroy")
ERRORS = ("Ganeti job 41 failed: OpPrereqError: not enough memory on node1",
          "RAPI error: connection refused after 6 attempts",
          "past its deadline (3600 s): Ganeti canceled job 77, which was waiting")


def fill(url: str, servers: int, operations: int, backends: int = 2, *, seed: int = 16,
         sim_ports: list[int] | None = None, credentials=None) -> None:
    """A migrated database at `url` with the given numbers of rows (ids from 1)."""
    from sqlalchemy import insert

    from orchestrator import migrate
    from orchestrator.credentials import Credentials
    from orchestrator.db import get_sessionmaker
    from orchestrator.models import Backend, Finding, Flavor, Image, Operation, ReconciliationRun, Server
    from orchestrator.settings import Settings

    rnd = random.Random(seed)
    migrate.upgrade(url)
    credentials = credentials or Credentials.from_settings(Settings.from_env({"DATABASE_URL": url}))
    now = dt.datetime.now(dt.timezone.utc)
    Session = get_sessionmaker(url)
    with Session() as session:
        flavors = [Flavor(id=1, name="c1r1024d10", cpu=1, ram=1024, disk=10, disk_template="plain"),
                   Flavor(id=2, name="c2r2048d20", cpu=2, ram=2048, disk=20, disk_template="plain")]
        session.add_all(flavors)
        session.add(Image(id=1, name="debian-12", location="debian.diskdump"))
        for index in range(backends):
            session.add(Backend(id=index + 1, clustername=f"cluster{index + 1}.sim.local", host="127.0.0.1",
                                port=(sim_ports[index] if sim_ports else 5080 + index), scheme="http",
                                username="rapi", password=credentials.seal("rapi-secret"), verify_tls=False,
                                drained=(index == backends - 1 and backends > 2), mtotal=1_048_576,
                                mfree=1_048_576 - 400_000 - 60_000 * index, dtotal=40_000_000,
                                dfree=30_000_000 - 2_000_000 * index, ctotal=512,
                                pinst_cnt=servers // backends, stats_updated_at=now,
                                disk_templates=["plain"], cluster_disk_templates=["plain"]))
        session.commit()
        long_ago = now - dt.timedelta(days=2)
        rows = []
        for sid in range(1, servers + 1):
            rows.append({"id": sid, "user_id": f"user{sid % 500}", "name": f"vm-{sid}", "flavor_id": 1 + sid % 2,
                         "image_id": 1, "backend_id": 1 + sid % backends,
                         "operstate": "STOPPED" if sid % 10 == 0 else "STARTED", "build_percentage": 100,
                         "backend_opcode": "OP_INSTANCE_CREATE", "backend_job_status": "success",
                         "backend_job_id": sid, "nics": [{"index": 0, "ip": f"10.{sid >> 16 & 255}.{sid >> 8 & 255}."
                                                          f"{sid & 255}", "mac": "aa:00:00:%02x:%02x:%02x" % (
                                                              sid >> 16 & 255, sid >> 8 & 255, sid & 255),
                                                          "network": "net-1"}],
                         "created_at": long_ago, "updated_at": long_ago, "deleted": False, "suspended": False,
                         "task": None, "backend_time": 0.0})
            if len(rows) == 20000:
                session.execute(insert(Server.__table__), rows)
                rows = []
        if rows:
            session.execute(insert(Server.__table__), rows)
        session.commit()
        # Operations: ids grow with time, the last few hours densely, a few FAILED ones and a few
        # in flight past their deadline (what the console's first page lists).
        span = dt.timedelta(hours=6)
        rows = []
        in_flight_servers = set()
        for oid in range(1, operations + 1):
            created = now - span + span * (oid / max(operations, 1)) - dt.timedelta(seconds=90)
            sid = 1 + (oid * 7919) % max(servers, 1)
            roll = rnd.random()
            if roll < 0.002:
                status, step, error = "FAILED", rnd.choice(("submit", "poll")), rnd.choice(ERRORS)
            elif roll < 0.0025 and sid not in in_flight_servers and oid > operations - 5000:
                status, step, error = "RUNNING", "poll", None
                in_flight_servers.add(sid)
            else:
                status, step, error = "SUCCEEDED", "done", None
            finished = created + dt.timedelta(seconds=rnd.uniform(5, 80)) if status != "RUNNING" else None
            rows.append({"id": oid, "kind": KINDS[oid % len(KINDS)] if oid > servers else "create",
                         "server_id": sid, "user_id": f"user{sid % 500}", "status": status, "step": step,
                         "backend_id": 1 + sid % backends, "job_id": 100000 + oid,
                         "job_status": {"FAILED": "error", "RUNNING": "running"}.get(status, "success"),
                         "attempts": 1 + (status == "FAILED"), "error": error, "params": {},
                         "generation": 0, "redrives": 0, "created_at": created, "updated_at": finished or created,
                         "heartbeat_at": finished or created, "finished_at": finished,
                         "deadline_at": created + dt.timedelta(seconds=60 if status == "RUNNING" else 3600)})
            if len(rows) == 20000:
                session.execute(insert(Operation.__table__), rows)
                rows = []
        if rows:
            session.execute(insert(Operation.__table__), rows)
        session.commit()
        run = ReconciliationRun(trigger="beat", fixes=[], backends_checked=list(range(1, backends + 1)),
                                servers_checked=servers, started_at=now - dt.timedelta(minutes=5),
                                finished_at=now - dt.timedelta(minutes=4))
        session.add(run)
        session.flush()
        kinds = ("state", "flavor", "nics", "stale")
        session.execute(insert(Finding.__table__), [
            {"run_id": run.id, "kind": kinds[i % len(kinds)], "backend_id": 1 + i % backends,
             "server_id": 1 + (i * 104729) % max(servers, 1), "instance": f"snf-{1 + (i * 104729) % max(servers, 1)}",
             "details": {"db": "STARTED", "cluster": "ADMIN_down"}, "fixed": False, "fix": None}
            for i in range(min(1000, max(servers // 100, 8)))])
        session.commit()


PAGES = (("needs attention", "/console/"),
         ("needs attention, chart recomputed", "/console/"),
         ("needs attention, filtered", "/console/?kind=create&backend_id=1&status=FAILED"),
         ("needs attention, page 5", "/console/?offset=200"),
         ("backends, pools, networks", "/console/backends"),
         ("reconciliation", "/console/reconciliation"),
         ("servers", "/console/servers"),
         ("servers, page 100", "/console/servers?offset=4950"),
         ("servers by name prefix", "/console/servers?q=vm-4242"),
         ("servers by user", "/console/servers?user_id=user42"),
         ("server page", "/console/servers/{sid}"),
         ("operation page", "/console/operations/{oid}"))


def measure(url: str, repeats: int, servers: int, operations: int) -> list[tuple[str, float, float, int]]:
    from api.app import create_app
    from orchestrator.services import console
    from orchestrator.settings import Settings

    settings = Settings.from_env({"DATABASE_URL": url, "ORCHESTRATOR_VAR_DIR": str(Path(url[10:]).parent),
                                  "LOG_LEVEL": "WARNING"})
    app = create_app(settings)
    client = app.test_client()
    import re

    form = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/console/login", data={"token": settings.admin_token, "csrf_token": csrf})
    assert answer.status_code == 302, answer.status_code
    results = []
    for name, path in PAGES:
        path = path.format(sid=max(servers // 2, 1), oid=max(operations // 2, 1))
        times = []
        for _ in range(repeats + 2):
            if "recomputed" in name:
                console._CHART_CACHE.clear()  # the chart's query on every request, no cache
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (path, response.status_code, response.data[-500:])
        times = sorted(times[2:])  # the first two warm the caches
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        results.append((name, statistics.median(times), p99, len(response.data)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=100_000)
    parser.add_argument("--operations", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        os.environ.setdefault("ORCHESTRATOR_VAR_DIR", tmp)
        url = f"sqlite:///{tmp}/console.db"
        t0 = time.perf_counter()
        fill(url, args.servers, args.operations)
        filled = time.perf_counter() - t0
        results = measure(url, args.repeats, args.servers, args.operations)
    print(f"\nconsole pages, SQLite, {args.servers:,} servers, {args.operations:,} operations "
          f"(filled in {filled:.0f} s), {args.repeats} requests each\n")
    print("| page | p50 (ms) | p99 (ms) | bytes |")
    print("| --- | ---: | ---: | ---: |")
    for name, p50, p99, size in results:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {size:,} |")


if __name__ == "__main__":
    main()
