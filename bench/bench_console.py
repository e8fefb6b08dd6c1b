"""Page timings of the operator console on a large database: a SQLite file filled by bulk
inserts (SQLAlchemy core, as bench_reconcile.py does) with SERVERS servers, OPERATIONS
operations (some FAILED, some past their deadline, most SUCCEEDED over the last hours),
a reconciliation run with its findings, a day of queue samples; then the beat's rollup fold
timed (the first one, over the chart's 3 hours, and a minute's), and every console page requested REPEATS times
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


PAGES = (("needs attention (the rollup folded by the beat)", "/console/"),
         ("needs attention, nothing folded (3 h counted live)", "/console/"),
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
    from orchestrator.models import RollupMark, utcnow

    ctx = app.extensions["context"]
    results = []

    def timed(name: str, call, n: int) -> None:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        results.append((name, statistics.median(times), times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))],
                        0))

    # The beat's fold: the first one counts the chart's whole window; then one a minute counts
    # the minutes since the last (and REFOLD_MIN before it again).
    with ctx.session() as session:
        timed("rollup: first fold (3 h window, from the operations)", lambda: console.fold_minutes(ctx, session), 1)
    steady = iter(range(1, repeats + 3))
    with ctx.session() as session:
        timed("rollup: a minute's fold (beat task's work)",
              lambda: console.fold_minutes(ctx, session, now=utcnow() + dt.timedelta(minutes=next(steady) / 100)),
              repeats)
    with ctx.session() as session:
        console.fold_minutes(ctx, session)  # the mark back at the last closed minute
        record_samples(ctx, session)
    for name, path in PAGES:
        path = path.format(sid=max(servers // 2, 1), oid=max(operations // 2, 1))
        unfolded = "nothing folded" in name
        if unfolded:  # as before the beat's first fold: the chart counts every minute from the operations
            with ctx.session() as session:
                mark = session.get(RollupMark, console.ROLLUP)
                saved = mark.until
                session.delete(mark)
                session.commit()
        times = []
        for _ in range(repeats + 2):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (path, response.status_code, response.data[-500:])
        if unfolded:
            with ctx.session() as session:
                session.add(RollupMark(name=console.ROLLUP, until=saved))
                session.commit()
        times = sorted(times[2:])  # the first two warm the caches
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        results.append((name, statistics.median(times), p99, len(response.data)))
    return results


def record_samples(ctx, session, hours: int = 24) -> None:
    """A day of queue samples, one a minute, as the beat's sample_queues writes them."""
    from sqlalchemy import insert

    from orchestrator.models import QueueSample, utcnow
    from orchestrator.wire import QUEUES

    now = utcnow()
    rnd = random.Random(7)
    level = {q: 10.0 for q in QUEUES}
    rows = []
    for m in range(hours * 60, 0, -1):  # a random walk per queue, oldest first
        for q in QUEUES:
            level[q] = max(0.0, level[q] + rnd.gauss(0, 3))
            rows.append({"at": now - dt.timedelta(minutes=m), "queue": q, "length": int(level[q])})
    session.execute(insert(QueueSample), rows)
    session.commit()


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
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {f'{size:,}' if size else ''} |")
    by_name = {name: p99 for name, _p50, p99, _size in results}
    folded, live = (by_name[PAGES[0][0]], by_name[PAGES[1][0]])
    print(f"\nneeds attention p99, rollup / counted live: {folded / live:.2f} (no cache in either)")


if __name__ == "__main__":
    main()
