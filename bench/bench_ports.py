"""Port creation rate (`POST /api/v1/ports`) beside server creation rate (`POST /api/v1/servers`),
without and with a NIC on a network, in the same run, served the same way.

One gunicorn (gthread, the Procfile's `--workers 2 --threads 4` by default) serves the
product on a SQLite file and a real redis-server; the same client threads (a keep-alive
`requests.Session` each) post servers and ports alternately for a few rounds, so load from
elsewhere hits both alike; medians over rounds are shown.

- servers: the create answers 202 once its rows are committed and its chain enqueued (no
  worker runs; the chains wait in the broker).
- ports: every port draws an address from one subnet's pool, whose row every allocation
  locks (docs/networks.md), and a MAC; the answer is 201 with the address. One /16 subnet
  (SUBNET_IPV4_PREFIX_MIN=16 for the bench) so that no round exhausts it.
- servers on the network: a create with `networks: [{"network_id"}]`, which takes its port
  and address in the create's transaction (202, chain enqueued).

Afterwards the database is checked: as many ports as 201s, every address distinct, and the
pool's free count exactly its size minus the addresses in use.

    .venv/bin/python bench/bench_ports.py [--clients 50] [--seconds 5] [--rounds 3] [--json PATH]
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_api import ADMIN_TOKEN, arguments, hammer, server_body, start_gunicorn, stop, wait_ready  # noqa: E402

SUBNET = "10.64.0.0/16"


def _setup_network(base: str) -> tuple[int, int]:
    """An administrator's CUSTOM network (it takes no pool value) with one /16 subnet."""
    import requests

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    network = requests.post(f"{base}/api/v1/networks", json={"name": "bench", "type": "CUSTOM"},
                            headers=headers, timeout=30)
    network.raise_for_status()
    subnet = requests.post(f"{base}/api/v1/subnets", json={"network_id": network.json()["id"], "cidr": SUBNET},
                           headers=headers, timeout=30)
    subnet.raise_for_status()
    return network.json()["id"], subnet.json()["id"]


def _check_ports(db_url: str, subnet_id: int) -> dict:
    """What the database holds after the run: ports, distinct addresses, the pool's counts."""
    from sqlalchemy import func, select

    from orchestrator.db import session_scope
    from orchestrator.models import IPAddress, Port, Subnet

    with session_scope(db_url) as session:
        ports = session.scalar(select(func.count()).select_from(Port).where(Port.deleted.is_(False)))
        rows = session.execute(select(IPAddress.address).where(IPAddress.subnet_id == subnet_id,
                                                               IPAddress.port_id.is_not(None))).scalars().all()
        pool = session.get(Subnet, subnet_id).pool
        return {"ports": ports, "addresses": len(rows), "distinct": len(set(rows)), "pool_size": pool.size,
                "pool_free": pool.free, "pool_used": pool.used, "pool_reserved": pool.reserved}


def main(argv=None) -> int:
    args = arguments(__doc__.splitlines()[0], "servers and ports alternately; medians shown").parse_args(argv)

    from tests.harness.services import RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="bench-ports-") as tmp_name:
        tmp = Path(tmp_name)
        broker = RedisServer(tmp / "redis").start()
        proc = None
        try:
            db_url = f"sqlite:///{tmp / 'bench.db'}"
            env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker.url(0),
                   "CELERY_RESULT_BACKEND": broker.url(1), "REDIS_URL": broker.url(2),
                   "ORCHESTRATOR_VAR_DIR": str(tmp), "ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN,
                   "SUBNET_IPV4_PREFIX_MIN": "16", "LOG_LEVEL": "WARNING"}
            from orchestrator import demo, migrate
            from orchestrator.db import session_scope

            migrate.upgrade(db_url)
            with session_scope(db_url) as session:
                demo.seed(session, env=env)
            port = free_port()
            proc = start_gunicorn("api.wsgi:app_from_env()", port, args.workers, args.threads,
                                  tmp / "gunicorn.log", env)
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/healthz", proc)
            network_id, subnet_id = _setup_network(base)

            def port_body(tag: str, index: int, n: int) -> dict:
                return {"network_id": network_id, "name": f"{tag}-{index}-{n}"}

            def nic_body(tag: str, index: int, n: int) -> dict:
                return {**server_body(tag, index, n), "networks": [{"network_id": network_id}]}

            targets = {"servers": (f"{base}/api/v1/servers", server_body, 202),
                       "ports": (f"{base}/api/v1/ports", port_body, 201),
                       "nic_servers": (f"{base}/api/v1/servers", nic_body, 202)}
            created_ports = 0
            for name, (url, body, expect) in targets.items():  # warm every worker thread up
                warm = hammer(url, args.clients, 1.0, f"warm-{name}", body, expect)
                if warm["errors"]:
                    raise SystemExit(f"{name}: {warm['errors']} errors while warming up: {warm['error_statuses']}; "
                                     f"see {tmp / 'gunicorn.log'}")
                if name != "servers":
                    created_ports += warm["requests"]
            rounds: dict[str, list[dict]] = {name: [] for name in targets}
            order = list(targets)
            for r in range(max(args.rounds, 1)):
                for name in order[r % len(order):] + order[:r % len(order)]:
                    url, body, expect = targets[name]
                    rounds[name].append(hammer(url, args.clients, args.seconds, f"{name}-{r}", body, expect))
            loadavg = os.getloadavg()[0]
            created_ports += sum(x["requests"] - x["errors"] for name in ("ports", "nic_servers") for x in rounds[name])
            held = _check_ports(db_url, subnet_id)
        finally:
            stop([proc] if proc is not None else [], broker)

    figures = {name: {"rps": statistics.median([x["rps"] for x in rs]),
                      "p50_ms": statistics.median([x["p50_ms"] for x in rs]),
                      "p99_ms": statistics.median([x["p99_ms"] for x in rs]),
                      "requests": sum(x["requests"] for x in rs), "errors": sum(x["errors"] for x in rs),
                      "rps_rounds": [x["rps"] for x in rs]} for name, rs in rounds.items()}
    s, p, n = figures["servers"], figures["ports"], figures["nic_servers"]
    exact = (held["ports"] == created_ports == held["addresses"] == held["distinct"]
             and held["pool_used"] == held["addresses"]
             and held["pool_free"] == held["pool_size"] - held["addresses"] - held["pool_reserved"])
    result = {"bench": "ports", "clients": args.clients, "seconds": args.seconds, "rounds": len(rounds["ports"]),
              "servers": s, "ports": p, "nic_servers": n, "ratio_rps": p["rps"] / s["rps"],
              "ratio_nic_servers_rps": n["rps"] / s["rps"], "held": held,
              "created_ports": created_ports, "exact": exact, "loadavg": loadavg}

    print(f"POST /api/v1/ports beside POST /api/v1/servers: {args.clients} client threads, {len(rounds['ports'])} "
          f"alternating rounds of {args.seconds:g} s, gunicorn {args.workers} workers x {args.threads} threads, "
          f"SQLite + redis-server, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {loadavg:.1f}; medians over rounds")
    print()
    print("| metric | servers (202, chain enqueued) | ports (201, address drawn) | servers with a NIC (202) "
          "| ratio ports / servers | ratio servers with a NIC / servers |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, key, fmt in (("requests/s", "rps", ".0f"), ("latency p50 (ms)", "p50_ms", ".1f"),
                            ("latency p99 (ms)", "p99_ms", ".1f")):
        print(f"| {label} | {s[key]:{fmt}} | {p[key]:{fmt}} | {n[key]:{fmt}} | {p[key] / s[key]:.2f} "
              f"| {n[key] / s[key]:.2f} |")
    print("| requests/s in each round | " + " | ".join(" / ".join(f"{x:.0f}" for x in f["rps_rounds"])
                                                    for f in (s, p, n)) + " | | |")
    print("| requests (errors) | " + " | ".join(f"{f['requests']} ({f['errors']})" for f in (s, p, n)) + " | | |")
    print()
    print(f"afterwards: {held['ports']} ports for {created_ports} answered (201s, and servers with a NIC), "
          f"{held['distinct']} distinct addresses "
          f"of {held['addresses']}, pool {held['pool_free']} free of {held['pool_size']} "
          f"({held['pool_used']} used, {held['pool_reserved']} reserved: network, gateway, broadcast): {'exact' if exact else 'NOT EXACT'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if s["errors"] == 0 and p["errors"] == 0 and n["errors"] == 0 and exact else 1


if __name__ == "__main__":
    sys.exit(main())
