"""`python -m ganeti_sim` / `ganeti-sim`: run a fleet of simulated clusters until signalled."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def _env(name: str, default):
    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganeti-sim", description="Simulated Ganeti clusters (RAPI 2).")
    p.add_argument("--clusters", type=int, default=_env("SIM_CLUSTERS", 2))
    p.add_argument("--base-port", type=int, default=_env("SIM_BASE_PORT", 5080),
                   help="cluster i listens on base-port + i (0: any free port)")
    p.add_argument("--host", default=_env("SIM_HOST", "127.0.0.1"))
    p.add_argument("--job-duration", type=float, default=_env("SIM_JOB_DURATION", 2.0),
                   help="seconds each opcode runs")
    p.add_argument("--op-duration", action="append", default=[], metavar="OP_ID=SECONDS",
                   help="per-opcode run time, e.g. OP_INSTANCE_CREATE=5 (repeatable)")
    p.add_argument("--nodes-per-cluster", type=int, default=_env("SIM_NODES_PER_CLUSTER", 4))
    p.add_argument("--node-memory", type=int, default=_env("SIM_NODE_MEMORY", 65536), help="MiB")
    p.add_argument("--node-disk", type=int, default=_env("SIM_NODE_DISK", 1048576), help="MiB")
    p.add_argument("--node-cpus", type=int, default=_env("SIM_NODE_CPUS", 16))
    p.add_argument("--user", default=_env("SIM_RAPI_USER", "rapi"))
    p.add_argument("--password", default=_env("SIM_RAPI_PASSWORD", "rapi-secret"))
    p.add_argument("--users-file", default=os.environ.get("SIM_USERS_FILE") or None,
                   help="Ganeti RAPI users file (<user> <password> [write]); replaces --user/--password")
    p.add_argument("--state-dir", default=_env("SIM_STATE_DIR", "var/sim"),
                   help="job files go to <state-dir>/<cluster>/queue/job-<id>")
    p.add_argument("--anonymous-reads", action="store_true",
                   help="allow GETs without credentials (Ganeti's default without --require-authentication)")
    p.add_argument("--tls", action="store_true", default=bool(_env("SIM_TLS", 0)),
                   help="serve HTTPS with a self-signed certificate (<state-dir>/tls/rapi.pem)")
    p.add_argument("--hooks-dir", default=os.environ.get("SIM_HOOKS_DIR") or None,
                   help="run <hooks-dir>/<hpath>-post.d/* after instance operations")
    p.add_argument("--progress-command", default=os.environ.get("SIM_PROGRESS_COMMAND") or None,
                   help="command run with OS-install progress during creates")
    p.add_argument("--fail-next-jobs", type=int, default=0, help="fault: the next N jobs per cluster fail")
    p.add_argument("--op-failure-rate", type=float, default=0.0, help="fault: probability any opcode fails")
    p.add_argument("--http-error-rate", type=float, default=0.0, help="fault: fraction of requests answered 502")
    p.add_argument("--latency", type=float, default=0.0, help="fault: seconds added to every request")
    p.add_argument("--drop-rate", type=float, default=0.0, help="fault: fraction of connections dropped")
    p.add_argument("--instances", type=int, default=_env("SIM_INSTANCES", 0),
                   help="instances to pre-populate, spread over the clusters (no jobs)")
    p.add_argument("--seed", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .fleet import SimFleet

    op_durations = {}
    for item in args.op_duration:
        key, _, value = item.partition("=")
        op_durations[key] = float(value)
    fleet = SimFleet(clusters=args.clusters, base_port=args.base_port, host=args.host,
                     job_duration=args.job_duration, user=args.user, password=args.password,
                     nodes_per_cluster=args.nodes_per_cluster, node_memory=args.node_memory,
                     node_disk=args.node_disk, node_cpus=args.node_cpus, state_dir=args.state_dir,
                     users_file=args.users_file, tls=args.tls, require_auth=not args.anonymous_reads,
                     hooks_dir=args.hooks_dir,
                     progress_command=args.progress_command, op_durations=op_durations, seed=args.seed)
    for c in fleet.clusters:
        c.faults.update({"fail_next_jobs": args.fail_next_jobs, "http_error_rate": args.http_error_rate,
                         "latency": args.latency, "drop_rate": args.drop_rate,
                         "op_failure_rate": {"*": args.op_failure_rate} if args.op_failure_rate else {}})
    if args.instances and fleet.clusters:
        per, extra = divmod(args.instances, len(fleet.clusters))
        for i, c in enumerate(fleet.clusters):
            c.cluster.populate(per + (1 if i < extra else 0))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    fleet.start()
    for c in fleet.clusters:
        print(f"{c.name} {c.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
